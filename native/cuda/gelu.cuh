// GELU, tanh approximation (GPT-2's "gelu_new"), forward and backward, elementwise.
// Grid-stride loops so any length runs with a bounded grid.
#pragma once

#include "cuda_common.cuh"

namespace arclight {
namespace cuda {

#define ARCLIGHT_GELU_SCALE 0.7978845608028654f  // sqrt(2/pi)

__global__ void gelu_forward_kernel(float* out, const float* inp, long long n) {
  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x) {
    float x = inp[i];
    float u = ARCLIGHT_GELU_SCALE * (x + 0.044715f * x * x * x);
    out[i] = 0.5f * x * (1.0f + tanhf(u));
  }
}

__global__ void gelu_backward_kernel(float* dinp, const float* inp, const float* dout, long long n) {
  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x) {
    float x = inp[i];
    float u = ARCLIGHT_GELU_SCALE * (x + 0.044715f * x * x * x);
    float th = tanhf(u);
    float sech2 = 1.0f - th * th;
    float grad = 0.5f * (1.0f + th) + 0.5f * x * sech2 * ARCLIGHT_GELU_SCALE * (1.0f + 3.0f * 0.044715f * x * x);
    dinp[i] += grad * dout[i];
  }
}

// ----------------------------------------------------------------------------
// launchers

inline void gelu_forward_impl(float* out, const float* inp, long long n) {
  if (n <= 0) return;
  gelu_forward_kernel<<<elementwise_blocks(n, kElementwiseThreads), kElementwiseThreads>>>(out, inp, n);
  CUDA_CHECK_LAUNCH("gelu_forward_kernel");
}

inline void gelu_backward_impl(float* dinp, const float* inp, const float* dout, long long n) {
  if (n <= 0) return;
  gelu_backward_kernel<<<elementwise_blocks(n, kElementwiseThreads), kElementwiseThreads>>>(dinp, inp, dout, n);
  CUDA_CHECK_LAUNCH("gelu_backward_kernel");
}

}  // namespace cuda
}  // namespace arclight
