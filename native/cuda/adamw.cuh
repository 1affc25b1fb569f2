// AdamW on fp32 master weights (PyTorch semantics, decoupled weight decay), the optional bf16
// shadow copy for bf16 GEMMs, and the squared global gradient norm used for clipping.
#pragma once

#include <cmath>

#include "cuda_backend.h"
#include "cuda_common.cuh"

namespace arclight {
namespace cuda {

__global__ void adamw_kernel(float* params, __nv_bfloat16* bf16_copy, const float* grads, float* m, float* v,
                             long long n, float lr, float beta1, float beta2, float eps, float weight_decay,
                             float grad_scale, float bc1, float bc2) {
  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x) {
    float g = grads[i] * grad_scale;
    float mi = beta1 * m[i] + (1.0f - beta1) * g;
    float vi = beta2 * v[i] + (1.0f - beta2) * g * g;
    m[i] = mi;
    v[i] = vi;
    float p = params[i];
    // p - lr*wd*p - lr*update equals torch's decay-then-step: both use the old p for the decay.
    p -= lr * ((mi / bc1) / (sqrtf(vi / bc2) + eps) + weight_decay * p);
    params[i] = p;
    if (bf16_copy) bf16_copy[i] = __float2bfloat16(p);
  }
}

__global__ void convert_to_bf16_kernel(__nv_bfloat16* out, const float* inp, long long n) {
  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x)
    out[i] = __float2bfloat16(inp[i]);
}

__global__ void global_norm_squared_kernel(float* out, const float* grads, long long n) {
  __shared__ float shared[32];
  float s = 0.0f;
  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x)
    s += grads[i] * grads[i];
  s = block_sum(s, shared);
  if (threadIdx.x == 0) atomicAdd(out, s);
}

// ----------------------------------------------------------------------------
// launchers

inline void adamw_update_impl(float* params, uint16_t* bf16_copy, const float* grads, float* m, float* v, long long n,
                              const AdamWArgs& a) {
  if (a.step < 1) throw std::invalid_argument("adamw_update: step counts from 1");
  if (n <= 0) return;
  // Bias corrections in double on the host: beta2^step underflows gently there, and every
  // element shares them.
  const float bc1 = static_cast<float>(1.0 - std::pow(static_cast<double>(a.beta1), a.step));
  const float bc2 = static_cast<float>(1.0 - std::pow(static_cast<double>(a.beta2), a.step));
  adamw_kernel<<<elementwise_blocks(n, kElementwiseThreads), kElementwiseThreads>>>(
      params, reinterpret_cast<__nv_bfloat16*>(bf16_copy), grads, m, v, n, a.lr, a.beta1, a.beta2, a.eps,
      a.weight_decay, a.grad_scale, bc1, bc2);
  CUDA_CHECK_LAUNCH("adamw_kernel");
}

inline void convert_to_bf16_impl(uint16_t* out, const float* inp, long long n) {
  if (n <= 0) return;
  convert_to_bf16_kernel<<<elementwise_blocks(n, kElementwiseThreads), kElementwiseThreads>>>(
      reinterpret_cast<__nv_bfloat16*>(out), inp, n);
  CUDA_CHECK_LAUNCH("convert_to_bf16_kernel");
}

inline void global_norm_squared_impl(float* out, const float* grads, long long n) {
  if (n <= 0) return;
  // Few blocks: each adds one atomic, and a bounded grid keeps those few.
  int blocks = elementwise_blocks(n, kElementwiseThreads);
  if (blocks > 1024) blocks = 1024;
  global_norm_squared_kernel<<<blocks, kElementwiseThreads>>>(out, grads, n);
  CUDA_CHECK_LAUNCH("global_norm_squared_kernel");
}

}  // namespace cuda
}  // namespace arclight
