"""Kernel start (to the first kernel_info reply) and trivial-cell round trip, arclight vs tslab.

Both kernels are measured the same way in the same run with jupyter_client.
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
    kc.execute_interactive("1 + 1", timeout=30)  # warm the compiler
    rts = []
    for i in range(N):
        t = time.perf_counter()
        reply = kc.execute_interactive(f"{i} + 1", timeout=30, output_hook=lambda m: None)
        assert reply["content"]["status"] == "ok", reply
        rts.append(time.perf_counter() - t)
    kc.stop_channels()
    km.shutdown_kernel(now=True)
    return start, statistics.median(rts)


def main():
    with tempfile.TemporaryDirectory() as tmp:
        install(tmp)
        os.environ["JUPYTER_PATH"] = tmp
        res = {name: measure(name) for name in SPECS}
    a, t = res["arclight"], res["tslab"]
    print(f"kernel start -> first kernel_info reply: arclight {a[0]*1000:.0f} ms, tslab {t[0]*1000:.0f} ms, ratio {a[0]/t[0]:.2f}x")
    print(f"trivial cell round trip (median of {N}): arclight {a[1]*1000:.1f} ms, tslab {t[1]*1000:.1f} ms, ratio {a[1]/t[1]:.2f}x")


if __name__ == "__main__":
    main()
