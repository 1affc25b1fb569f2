// Token and position embeddings: out = wte[token] + wpe[position] (no wpe for RoPE models),
// forward and backward. Backward scatters with atomics because tokens and positions repeat.
#pragma once

#include "cuda_common.cuh"

namespace arclight {
namespace cuda {

__global__ void encoder_forward_kernel(float* out, const int* tokens, const int* positions, const float* wte,
                                       const float* wpe, int N, int T, int C) {
  const long long total = (long long)N * C;
  for (long long idx = blockIdx.x * (long long)blockDim.x + threadIdx.x; idx < total;
       idx += (long long)gridDim.x * blockDim.x) {
    const int n = idx / C, c = idx % C;
    float x = wte[(long long)tokens[n] * C + c];
    if (wpe) x += wpe[(long long)(positions ? positions[n] : n % T) * C + c];
    out[idx] = x;
  }
}

__global__ void encoder_backward_kernel(float* dwte, float* dwpe, const float* dout, const int* tokens,
                                        const int* positions, int N, int T, int C) {
  const long long total = (long long)N * C;
  for (long long idx = blockIdx.x * (long long)blockDim.x + threadIdx.x; idx < total;
       idx += (long long)gridDim.x * blockDim.x) {
    const int n = idx / C, c = idx % C;
    const float d = dout[idx];
    if (dwte) atomicAdd(dwte + (long long)tokens[n] * C + c, d);
    if (dwpe) atomicAdd(dwpe + (long long)(positions ? positions[n] : n % T) * C + c, d);
  }
}

// ----------------------------------------------------------------------------
// launchers

inline void check_encoder(int N, int T, int C, const int* positions, const char* what) {
  if (N < 0 || C <= 0 || (!positions && T <= 0))
    throw std::invalid_argument(std::string(what) + ": need N >= 0, C > 0, and T > 0 without positions");
}

inline void encoder_forward_impl(float* out, const int* tokens, const int* positions, const float* wte,
                                 const float* wpe, int N, int T, int C) {
  check_encoder(N, T, C, positions, "encoder_forward");
  const long long total = (long long)N * C;
  if (total == 0) return;
  encoder_forward_kernel<<<elementwise_blocks(total, kElementwiseThreads), kElementwiseThreads>>>(
      out, tokens, positions, wte, wpe, N, T, C);
  CUDA_CHECK_LAUNCH("encoder_forward_kernel");
}

inline void encoder_backward_impl(float* dwte, float* dwpe, const float* dout, const int* tokens, const int* positions,
                                  int N, int T, int C) {
  check_encoder(N, T, C, positions, "encoder_backward");
  const long long total = (long long)N * C;
  if (total == 0) return;
  encoder_backward_kernel<<<elementwise_blocks(total, kElementwiseThreads), kElementwiseThreads>>>(
      dwte, dwpe, dout, tokens, positions, N, T, C);
  CUDA_CHECK_LAUNCH("encoder_backward_kernel");
}

}  // namespace cuda
}  // namespace arclight
