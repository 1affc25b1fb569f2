"""Kernel start (to the first kernel_info reply) and trivial-cell round trip: arclight vs tslab vs Deno.

All three kernels are measured the same way in the same run with jupyter_client; ratios are against
Deno (`deno jupyter`, the binary the npm package `deno` ships). A round trip is execute_request to
both the execute_reply and the idle status (jupyter_client's execute_interactive). Trivial cells are timed
once the kernel has settled: after the first cell and a first completion reply (arclight loads its type
checker and `agl` in the background after the first cell; the time until then is reported as its own column).
Usage: /usr/bin/python3 bench/kernel/bench.py [N]   (after npm run build)
"""
import json, os, statistics, sys, tempfile, time
from jupyter_client import KernelManager

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
NODE = os.environ.get("NODE", "node")
N = int(sys.argv[1]) if len(sys.argv) > 1 else 30
SPECS = {
    "arclight": [NODE, os.path.join(ROOT, "dist", "kernel", "main.js"), "-f", "{connection_file}"],
    "tslab": [NODE, os.path.join(ROOT, "node_modules", "tslab", "bin", "tslab"), "kernel", "--config-path", "{connection_file}"],
    "deno": [os.path.join(ROOT, "node_modules", ".bin", "deno"), "jupyter", "--kernel", "--conn", "{connection_file}"],
}


def install(tmp):
    for name, argv in SPECS.items():
        d = os.path.join(tmp, "kernels", "bench-" + name)
        os.makedirs(d)
        with open(os.path.join(d, "kernel.json"), "w") as f:
            json.dump({"argv": argv, "display_name": name, "language": "typescript"}, f)


def measure(name):
    km = KernelManager(kernel_name="bench-" + name)
    t0 = time.perf_counter()
    km.start_kernel(cwd=ROOT)
    kc = km.client()
    kc.start_channels()
    kc.wait_for_ready(timeout=60)
    start = time.perf_counter() - t0
    kc.execute_interactive("1 + 1", timeout=300)  # warm the compiler (arclight loads it after kernel_info)
    warm = time.perf_counter() - t0
    # A completion needs the type checker: its reply marks a kernel that has finished loading.
    kc.complete("Math.ma", 7)
    kc.get_shell_msg(timeout=300)
    settled = time.perf_counter() - t0
    rts = []
    for i in range(N):
        t = time.perf_counter()
        reply = kc.execute_interactive(f"{i} + 1", timeout=30, output_hook=lambda m: None)
        assert reply["content"]["status"] == "ok", reply
        rts.append(time.perf_counter() - t)
    kc.stop_channels()
    km.shutdown_kernel(now=True)
    return start, statistics.median(rts), warm, settled


def main():
    with tempfile.TemporaryDirectory() as tmp:
        install(tmp)
        os.environ["JUPYTER_PATH"] = tmp
        res = {name: measure(name) for name in SPECS}
    d = res["deno"]
    print(f"{'kernel':<10} {'start->kernel_info':>20} {'start->first cell done':>24} {'start->first completion':>25} {'trivial cell (median of %d)' % N:>30}")
    for name, (start, rt, warm, settled) in res.items():
        print(f"{name:<10} {start*1000:>17.0f} ms {warm*1000:>21.0f} ms {settled*1000:>22.0f} ms {rt*1000:>27.1f} ms")
    for name in ("arclight", "tslab"):
        start, rt, warm, settled = res[name]
        print(f"{name} / deno: start {start/d[0]:.2f}x, first cell done {warm/d[2]:.2f}x, first completion {settled/d[3]:.2f}x, trivial cell {rt/d[1]:.2f}x")


if __name__ == "__main__":
    main()
