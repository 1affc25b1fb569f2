// SwiGLU (Qwen2's MLP): out = silu(gate) * up, forward and backward. gate and up are rows with a
// stride, so both separate projections (stride F) and one fused [gate | up] buffer (stride 2F) work.
#pragma once

#include "cuda_common.cuh"

namespace arclight {
namespace cuda {

__device__ __forceinline__ float sigmoidf(float x) { return 1.0f / (1.0f + expf(-x)); }

__global__ void swiglu_forward_kernel(float* out, const float* gate, const float* up, int N, int F, int ld) {
  const long long total = (long long)N * F;
  for (long long idx = blockIdx.x * (long long)blockDim.x + threadIdx.x; idx < total;
       idx += (long long)gridDim.x * blockDim.x) {
    const long long i = (idx / F) * ld + idx % F;
    const float g = gate[i];
    out[idx] = g * sigmoidf(g) * up[i];
  }
}

__global__ void swiglu_backward_kernel(float* dgate, float* dup, const float* dout, const float* gate, const float* up,
                                       int N, int F, int ld) {
  const long long total = (long long)N * F;
  for (long long idx = blockIdx.x * (long long)blockDim.x + threadIdx.x; idx < total;
       idx += (long long)gridDim.x * blockDim.x) {
    const long long i = (idx / F) * ld + idx % F;
    const float g = gate[i], u = up[i], dy = dout[idx];
    const float s = sigmoidf(g);
    dgate[i] += dy * u * s * (1.0f + g * (1.0f - s));
    dup[i] += dy * g * s;
  }
}

// ----------------------------------------------------------------------------
// launchers

inline void check_swiglu(int N, int F, int ld) {
  if (N < 0 || F <= 0 || ld < F) throw std::invalid_argument("swiglu: need N >= 0, F > 0, ld >= F");
}

inline void swiglu_forward_impl(float* out, const float* gate, const float* up, int N, int F, int ld) {
  check_swiglu(N, F, ld);
  const long long total = (long long)N * F;
  if (total == 0) return;
  swiglu_forward_kernel<<<elementwise_blocks(total, kElementwiseThreads), kElementwiseThreads>>>(out, gate, up, N, F,
                                                                                                 ld);
  CUDA_CHECK_LAUNCH("swiglu_forward_kernel");
}

inline void swiglu_backward_impl(float* dgate, float* dup, const float* dout, const float* gate, const float* up, int N,
                                 int F, int ld) {
  check_swiglu(N, F, ld);
  const long long total = (long long)N * F;
  if (total == 0) return;
  swiglu_backward_kernel<<<elementwise_blocks(total, kElementwiseThreads), kElementwiseThreads>>>(dgate, dup, dout,
                                                                                                  gate, up, N, F, ld);
  CUDA_CHECK_LAUNCH("swiglu_backward_kernel");
}

}  // namespace cuda
}  // namespace arclight
