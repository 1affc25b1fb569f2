// Rotary position embedding, rotate-half layout (Hugging Face Qwen2): dims i and i + head_dim/2
// of each head turn by angle pos * theta^(-2i/head_dim). Backward turns the gradient back.
#pragma once

#include "cuda_common.cuh"

namespace arclight {
namespace cuda {

// sign = +1 rotates forward, -1 applies the inverse (transpose) rotation for the gradient.
// The angle is formed in double: pos * freq reaches thousands of radians at long contexts, where
// fp32 would already be off by 1e-4 before the sine, and the parity test expects 1e-5.
__global__ void rope_kernel(float* x, const int* positions, int N, int T, int heads, int head_dim, int ld, float theta,
                            float sign) {
  const int half = head_dim / 2;
  const long long total = (long long)N * heads * half;
  for (long long idx = blockIdx.x * (long long)blockDim.x + threadIdx.x; idx < total;
       idx += (long long)gridDim.x * blockDim.x) {
    const int i = idx % half;
    const int h = (idx / half) % heads;
    const int n = idx / ((long long)half * heads);
    const int pos = positions ? positions[n] : n % T;
    const double angle = pos * pow((double)theta, -2.0 * i / head_dim);
    double s, c;
    sincos(angle, &s, &c);
    const float cs = (float)c, sn = sign * (float)s;
    float* p = x + (long long)n * ld + (long long)h * head_dim;
    const float x1 = p[i], x2 = p[i + half];
    p[i] = x1 * cs - x2 * sn;
    p[i + half] = x2 * cs + x1 * sn;
  }
}

// ----------------------------------------------------------------------------
// launchers

inline void rope_impl(float* x, const int* positions, int N, int T, int heads, int head_dim, int ld, float theta,
                      float sign) {
  if (N < 0 || heads <= 0 || head_dim <= 0 || head_dim % 2 != 0 || ld < heads * head_dim || theta <= 0.0f ||
      (!positions && T <= 0))
    throw std::invalid_argument("rope: need even head_dim, ld >= heads*head_dim, theta > 0, T > 0");
  const long long total = (long long)N * heads * (head_dim / 2);
  if (total == 0) return;
  rope_kernel<<<elementwise_blocks(total, kElementwiseThreads), kElementwiseThreads>>>(x, positions, N, T, heads,
                                                                                       head_dim, ld, theta, sign);
  CUDA_CHECK_LAUNCH("rope_kernel");
}

}  // namespace cuda
}  // namespace arclight
