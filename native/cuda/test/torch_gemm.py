"""PyTorch timings of the GEMM shapes that `test_kernels --bench` times, for the speed ratio.

Runs on the lent GPU machine (it has PyTorch, no Node):  python3 native/cuda/test/torch_gemm.py
Prints one BENCH line per shape: fp32 (TF32 off) and bf16 torch.nn.functional.linear TFLOP/s.
"""
import time

import torch
import torch.nn.functional as F

SHAPES = [
    (4096, 768, 2304, "gpt2 qkv"),
    (4096, 768, 3072, "gpt2 fc"),
    (4096, 3072, 768, "gpt2 fcproj"),
    (4096, 896, 4864, "qwen2-0.5b gate/up"),
    (4096, 768, 50257, "gpt2 lm head"),
]


def seconds(fn, reps=10):
    fn()  # warm-up, and cuBLAS picks its kernel here
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(reps):
        fn()
    torch.cuda.synchronize()
    return (time.perf_counter() - t0) / reps


def main():
    # Same arithmetic as our fp32 kernel: true fp32, no TF32 shortcut.
    torch.backends.cuda.matmul.allow_tf32 = False
    print("device:", torch.cuda.get_device_name(0), "torch", torch.__version__)
    for n, c, oc, what in SHAPES:
        x = torch.rand(n, c, device="cuda") * 2 - 1
        w = torch.rand(oc, c, device="cuda") * 2 - 1
        flop = 2.0 * n * c * oc
        t32 = seconds(lambda: F.linear(x, w))
        xb, wb = x.bfloat16(), w.bfloat16()
        t16 = seconds(lambda: F.linear(xb, wb))
        print(f"BENCH torch_linear {what:20s} N={n} C={c} OC={oc} fp32 {flop / t32 / 1e12:.1f} TFLOP/s  "
              f"bf16 {flop / t16 / 1e12:.1f} TFLOP/s")


if __name__ == "__main__":
    main()
