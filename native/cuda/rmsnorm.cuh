// RMSNorm (Qwen2) forward and backward: one warp per row, the weight gradient by column sums.
// Saves rstd per row in the forward for the backward.
#pragma once

#include "cuda_common.cuh"
#include "layernorm.cuh"  // kRowsPerBlock

namespace arclight {
namespace cuda {

__global__ void rmsnorm_forward_kernel(float* out, float* rstd, const float* inp, const float* weight, int N, int C,
                                       float eps) {
  const int lane = threadIdx.x % 32;
  const int n = blockIdx.x * kRowsPerBlock + threadIdx.x / 32;
  if (n >= N) return;
  const float* x = inp + (long long)n * C;
  float sq = 0.0f;
  for (int c = lane; c < C; c += 32) sq += x[c] * x[c];
  const float rs = rsqrtf(warp_sum(sq) / C + eps);
  float* o = out + (long long)n * C;
  for (int c = lane; c < C; c += 32) o[c] = x[c] * rs * weight[c];
  if (lane == 0 && rstd) rstd[n] = rs;
}

__global__ void rmsnorm_backward_dinp_kernel(float* dinp, const float* dout, const float* inp, const float* weight,
                                             const float* rstd, int N, int C) {
  const int lane = threadIdx.x % 32;
  const int n = blockIdx.x * kRowsPerBlock + threadIdx.x / 32;
  if (n >= N) return;
  const float* x = inp + (long long)n * C;
  const float* dy = dout + (long long)n * C;
  const float rs = rstd[n];
  float sum_gx = 0.0f;
  for (int c = lane; c < C; c += 32) sum_gx += weight[c] * dy[c] * x[c] * rs;
  const float mean_gx = warp_sum(sum_gx) / C;
  float* dx = dinp + (long long)n * C;
  for (int c = lane; c < C; c += 32) dx[c] += rs * (weight[c] * dy[c] - x[c] * rs * mean_gx);
}

struct RmsNormParamGrad {
  const float *dout, *inp, *rstd;
  int C;
  __device__ float2 operator()(int n, int c) const {
    long long i = (long long)n * C + c;
    return make_float2(dout[i] * inp[i] * rstd[n], 0.0f);
  }
};

// ----------------------------------------------------------------------------
// launchers

inline void rmsnorm_forward_impl(float* out, float* rstd, const float* inp, const float* weight, int N, int C,
                                 float eps) {
  if (N < 0 || C <= 0) throw std::invalid_argument("rmsnorm_forward: need N >= 0 and C > 0");
  if (N == 0) return;
  rmsnorm_forward_kernel<<<ceil_div(N, kRowsPerBlock), kRowsPerBlock * 32>>>(out, rstd, inp, weight, N, C, eps);
  CUDA_CHECK_LAUNCH("rmsnorm_forward_kernel");
}

inline void rmsnorm_backward_impl(float* dinp, float* dweight, const float* dout, const float* inp, const float* weight,
                                  const float* rstd, int N, int C) {
  if (N < 0 || C <= 0) throw std::invalid_argument("rmsnorm_backward: need N >= 0 and C > 0");
  if (N == 0) return;
  if (dweight) column_sum2(dweight, nullptr, N, C, RmsNormParamGrad{dout, inp, rstd, C});
  if (dinp) {
    rmsnorm_backward_dinp_kernel<<<ceil_div(N, kRowsPerBlock), kRowsPerBlock * 32>>>(dinp, dout, inp, weight, rstd, N,
                                                                                     C);
    CUDA_CHECK_LAUNCH("rmsnorm_backward_dinp_kernel");
  }
}

}  // namespace cuda
}  // namespace arclight
