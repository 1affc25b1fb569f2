"""Kernel start (to the first kernel_info reply) and trivial-cell round trip: arclight vs tslab vs Deno.

All three kernels are measured the same way in the same run with jupyter_client; ratios are against
Deno (`deno jupyter`, the binary the npm package `deno` ships). A round trip is execute_request to
both the execute_reply and the idle status (jupyter_client's execute_interactive).

The machine these numbers come from is shared and its load drifts within a minute, so the kernels take
turns: starts alternate (START_ROUNDS rounds, the median of each kernel's), and the trivial cells are
sent round-robin to the three kernels, all started and settled, so each kernel's median covers the same
stretch of time. A kernel settles after its first cell and a first completion reply (arclight loads its
type checker and `agl` in the background after the first cell; the time until then has its own column).
Usage: /usr/bin/python3 bench/kernel/bench.py [N]   (after npm run build)
"""
import json, os, statistics, sys, tempfile, time
from jupyter_client import KernelManager

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
NODE = os.environ.get("NODE", "node")
N = int(sys.argv[1]) if len(sys.argv) > 1 else 30
START_ROUNDS = 3
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


def start(name):
    km = KernelManager(kernel_name="bench-" + name)
    t0 = time.perf_counter()
    km.start_kernel(cwd=ROOT)
    kc = km.client()
    kc.start_channels()
    kc.wait_for_ready(timeout=60)
    return km, kc, t0, time.perf_counter() - t0


def stop(km, kc):
    kc.stop_channels()
    km.shutdown_kernel(now=True)


def settle(kc, t0):
    kc.execute_interactive("1 + 1", timeout=300)  # arclight loads its compiler after kernel_info
    warm = time.perf_counter() - t0
    # A completion needs the type checker: its reply marks a kernel that has finished loading.
    kc.complete("Math.ma", 7)
    kc.get_shell_msg(timeout=300)
    return warm, time.perf_counter() - t0


def trivial(kc, i):
    t = time.perf_counter()
    reply = kc.execute_interactive(f"{i} + 1", timeout=30, output_hook=lambda m: None)
    assert reply["content"]["status"] == "ok", reply
    return time.perf_counter() - t


def main():
    starts = {name: [] for name in SPECS}
    with tempfile.TemporaryDirectory() as tmp:
        install(tmp)
        os.environ["JUPYTER_PATH"] = tmp
        for _ in range(START_ROUNDS):
            for name in SPECS:
                km, kc, _, s = start(name)
                starts[name].append(s)
                stop(km, kc)
        live, warm, settled, rts = {}, {}, {}, {name: [] for name in SPECS}
        try:
            # One at a time, so no kernel's background loading overlaps another's start.
            for name in SPECS:
                km, kc, t0, _ = start(name)
                live[name] = (km, kc)
                warm[name], settled[name] = settle(kc, t0)
            for i in range(N):
                for name in SPECS:
                    rts[name].append(trivial(live[name][1], i))
        finally:
            for km, kc in live.values():
                stop(km, kc)
    res = {name: (statistics.median(starts[name]), statistics.median(rts[name]), warm[name], settled[name]) for name in SPECS}
    d = res["deno"]
    print(f"{'kernel':<10} {'start->kernel_info (median of %d)' % START_ROUNDS:>34} {'start->first cell done':>24} {'start->first completion':>25} {'trivial cell (median of %d)' % N:>30}")
    for name, (s, rt, w, st) in res.items():
        print(f"{name:<10} {s*1000:>31.0f} ms {w*1000:>21.0f} ms {st*1000:>22.0f} ms {rt*1000:>27.1f} ms")
    for name in ("arclight", "tslab"):
        s, rt, w, st = res[name]
        print(f"{name} / deno: start {s/d[0]:.2f}x, first cell done {w/d[2]:.2f}x, first completion {st/d[3]:.2f}x, trivial cell {rt/d[1]:.2f}x")


if __name__ == "__main__":
    main()
