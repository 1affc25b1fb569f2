// Matmul (linear layer) forward and backward on the CPU:
// out[N,OC] = inp[N,C] @ weight[OC,C]^T + bias[OC], weights in nn.Linear layout.
// matmul_forward_cpu / matmul_backward_cpu are the header-only reference (any
// float type); matmul_forward / matmul_backward add, for fp32, a run-time
// dispatch to an AVX2+FMA build of the same code (matmul_dispatch.cpp).
#pragma once
#include <cstddef>

namespace arclight {

// Parallel regions cost a few microseconds; tiny model shapes run faster serially.
inline constexpr long kParallelWork = 1L << 15;

}  // namespace arclight

#define ARCLIGHT_MM_NS arclight
#include "matmul_kernels.inc"
#undef ARCLIGHT_MM_NS

namespace arclight {

// fp32 entry points, defined in matmul_dispatch.cpp (AVX2+FMA when the CPU has it).
void matmul_forward(float* out, const float* inp, const float* weight, const float* bias, int N, int C, int OC);
void matmul_backward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                     const float* weight, int N, int C, int OC);
const char* matmul_isa();

template <typename F>
void matmul_forward(F* out, const F* inp, const F* weight, const F* bias, int N, int C, int OC) {
  matmul_forward_cpu(out, inp, weight, bias, N, C, OC);
}
template <typename F>
void matmul_backward(F* dinp, F* dweight, F* dbias, const F* dout, const F* inp, const F* weight, int N, int C,
                     int OC) {
  matmul_backward_cpu(dinp, dweight, dbias, dout, inp, weight, N, C, OC);
}

}  // namespace arclight
