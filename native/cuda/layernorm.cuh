// LayerNorm (GPT-2) forward and backward: one warp per row, parameter gradients by column sums.
// Saves mean and rstd per row in the forward so the backward need not recompute them.
#pragma once

#include "cuda_common.cuh"

namespace arclight {
namespace cuda {

constexpr int kRowsPerBlock = 8;  // one warp per row, 256 threads

__global__ void layernorm_forward_kernel(float* out, float* mean, float* rstd, const float* inp, const float* weight,
                                         const float* bias, int N, int C, float eps) {
  const int lane = threadIdx.x % 32;
  const int n = blockIdx.x * kRowsPerBlock + threadIdx.x / 32;
  if (n >= N) return;
  const float* x = inp + (long long)n * C;
  float sum = 0.0f;
  for (int c = lane; c < C; c += 32) sum += x[c];
  const float mu = warp_sum(sum) / C;
  // Two passes over the row (the second from cache): the one-pass E[x^2] - mu^2 loses digits
  // when |mean| is large next to the spread, as it is in a residual stream late in training.
  float sq = 0.0f;
  for (int c = lane; c < C; c += 32) {
    float d = x[c] - mu;
    sq += d * d;
  }
  const float rs = rsqrtf(warp_sum(sq) / C + eps);
  float* o = out + (long long)n * C;
  for (int c = lane; c < C; c += 32) o[c] = (x[c] - mu) * rs * weight[c] + (bias ? bias[c] : 0.0f);
  if (lane == 0) {
    if (mean) mean[n] = mu;
    if (rstd) rstd[n] = rs;
  }
}

__global__ void layernorm_backward_dinp_kernel(float* dinp, const float* dout, const float* inp, const float* weight,
                                               const float* mean, const float* rstd, int N, int C) {
  const int lane = threadIdx.x % 32;
  const int n = blockIdx.x * kRowsPerBlock + threadIdx.x / 32;
  if (n >= N) return;
  const float* x = inp + (long long)n * C;
  const float* dy = dout + (long long)n * C;
  const float mu = mean[n], rs = rstd[n];
  float sum_g = 0.0f, sum_gx = 0.0f;
  for (int c = lane; c < C; c += 32) {
    float g = weight[c] * dy[c];
    sum_g += g;
    sum_gx += g * (x[c] - mu) * rs;
  }
  const float mean_g = warp_sum(sum_g) / C, mean_gx = warp_sum(sum_gx) / C;
  float* dx = dinp + (long long)n * C;
  for (int c = lane; c < C; c += 32) {
    float xhat = (x[c] - mu) * rs;
    dx[c] += rs * (weight[c] * dy[c] - mean_g - xhat * mean_gx);
  }
}

struct LayerNormParamGrad {
  const float *dout, *inp, *mean, *rstd;
  int C;
  __device__ float2 operator()(int n, int c) const {
    long long i = (long long)n * C + c;
    return make_float2(dout[i] * (inp[i] - mean[n]) * rstd[n], dout[i]);
  }
};

// ----------------------------------------------------------------------------
// launchers

inline void layernorm_forward_impl(float* out, float* mean, float* rstd, const float* inp, const float* weight,
                                   const float* bias, int N, int C, float eps) {
  if (N < 0 || C <= 0) throw std::invalid_argument("layernorm_forward: need N >= 0 and C > 0");
  if (N == 0) return;
  layernorm_forward_kernel<<<ceil_div(N, kRowsPerBlock), kRowsPerBlock * 32>>>(out, mean, rstd, inp, weight, bias, N, C,
                                                                               eps);
  CUDA_CHECK_LAUNCH("layernorm_forward_kernel");
}

inline void layernorm_backward_impl(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                                    const float* weight, const float* mean, const float* rstd, int N, int C) {
  if (N < 0 || C <= 0) throw std::invalid_argument("layernorm_backward: need N >= 0 and C > 0");
  if (N == 0) return;
  if (dweight) column_sum2(dweight, dbias, N, C, LayerNormParamGrad{dout, inp, mean, rstd, C});
  if (dinp) {
    layernorm_backward_dinp_kernel<<<ceil_div(N, kRowsPerBlock), kRowsPerBlock * 32>>>(dinp, dout, inp, weight, mean,
                                                                                       rstd, N, C);
    CUDA_CHECK_LAUNCH("layernorm_backward_dinp_kernel");
  }
}

}  // namespace cuda
}  // namespace arclight
