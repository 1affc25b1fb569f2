// Softmax over the vocabulary fused with what training needs from it: masked cross-entropy and its
// logit gradient, per-token logprobs and entropies (GRPO) and their gradients. One block per row.
#pragma once

#include <cfloat>

#include "cuda_common.cuh"

namespace arclight {
namespace cuda {

// Running softmax statistics of a row: max m, s = sum exp(x - m), t = sum exp(x - m) * x.
// One read of the row gives the log-sum-exp (m + log s) and the mean logit under p (t / s),
// hence the entropy lse - t/s, so the rows of a 150k vocabulary are read once, not three times.
struct SoftmaxStats {
  float m, s, t;
};

__device__ __forceinline__ SoftmaxStats stats_combine(SoftmaxStats a, SoftmaxStats b) {
  float m = fmaxf(a.m, b.m);
  float fa = expf(a.m - m), fb = expf(b.m - m);
  return {m, a.s * fa + b.s * fb, a.t * fa + b.t * fb};
}

constexpr int kSoftmaxThreads = 512;

// Block-wide statistics of row[0..V), returned to every thread. -FLT_MAX, not -inf, as the start
// so that combining two empty partials gives exp(0) * 0 instead of NaN.
__device__ SoftmaxStats row_stats(const float* row, int V) {
  SoftmaxStats st{-FLT_MAX, 0.0f, 0.0f};
  for (int v = threadIdx.x; v < V; v += blockDim.x) {
    float x = row[v];
    if (x > st.m) {
      float f = expf(st.m - x);
      st = {x, st.s * f, st.t * f};
    }
    float e = expf(x - st.m);
    st.s += e;
    if (e > 0.0f) st.t += e * x;  // a -inf logit has p = 0 and must not turn t into NaN
  }
  for (int o = 16; o > 0; o >>= 1) {
    SoftmaxStats other{__shfl_xor_sync(0xffffffffu, st.m, o), __shfl_xor_sync(0xffffffffu, st.s, o),
                       __shfl_xor_sync(0xffffffffu, st.t, o)};
    st = stats_combine(st, other);
  }
  __shared__ SoftmaxStats partial[32];
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, warps = blockDim.x / 32;
  if (lane == 0) partial[warp] = st;
  __syncthreads();
  if (warp == 0) {
    st = lane < warps ? partial[lane] : SoftmaxStats{-FLT_MAX, 0.0f, 0.0f};
    for (int o = 16; o > 0; o >>= 1) {
      SoftmaxStats other{__shfl_xor_sync(0xffffffffu, st.m, o), __shfl_xor_sync(0xffffffffu, st.s, o),
                         __shfl_xor_sync(0xffffffffu, st.t, o)};
      st = stats_combine(st, other);
    }
    if (lane == 0) partial[0] = st;
  }
  __syncthreads();
  return partial[0];
}

__global__ void logprob_entropy_forward_kernel(float* logprob, float* entropy, const float* logits, const int* targets,
                                               int V) {
  const int i = blockIdx.x;
  const float* row = logits + (long long)i * V;
  SoftmaxStats st = row_stats(row, V);
  if (threadIdx.x == 0) {
    float lse = st.m + logf(st.s);
    int t = targets[i];
    logprob[i] = t >= 0 ? row[t] - lse : 0.0f;
    if (entropy) entropy[i] = lse - st.t / st.s;
  }
}

__global__ void logprob_entropy_backward_kernel(float* dlogits, const float* logits, const int* targets,
                                                const float* dlogprob, const float* dentropy, int V) {
  const int i = blockIdx.x;
  const float* row = logits + (long long)i * V;
  float* drow = dlogits + (long long)i * V;
  SoftmaxStats st = row_stats(row, V);  // ends with __syncthreads: all reads precede any write
  const float lse = st.m + logf(st.s), H = lse - st.t / st.s;
  const int t = targets[i];
  const float dlp = t >= 0 ? dlogprob[i] : 0.0f;
  const float dh = dentropy ? dentropy[i] : 0.0f;
  for (int v = threadIdx.x; v < V; v += blockDim.x) {
    float logp = row[v] - lse;
    float p = expf(logp);
    // dH/dx_v = -p_v (log p_v + H); p_v log p_v -> 0 as p_v -> 0, so skip it where p underflows
    float dent = p > 0.0f ? -p * (logp + H) : 0.0f;
    drow[v] = dlp * ((v == t ? 1.0f : 0.0f) - p) + dh * dent;
  }
}

__global__ void softmax_ce_kernel(float* losses, float* dlogits, const float* logits, const int* targets,
                                  const float* dloss, int V) {
  const int i = blockIdx.x;
  const float* row = logits + (long long)i * V;
  const int t = targets[i];
  const float x_target = t >= 0 ? row[t] : 0.0f;  // read before dlogits (maybe aliased) is written
  SoftmaxStats st = row_stats(row, V);
  const float lse = st.m + logf(st.s);
  if (threadIdx.x == 0) losses[i] = t >= 0 ? lse - x_target : 0.0f;
  if (!dlogits) return;
  const float g = t >= 0 ? dloss[i] : 0.0f;
  float* drow = dlogits + (long long)i * V;
  for (int v = threadIdx.x; v < V; v += blockDim.x) {
    float p = expf(row[v] - lse);
    drow[v] = g * (p - (v == t ? 1.0f : 0.0f));
  }
}

// ----------------------------------------------------------------------------
// launchers

inline void check_rows(int N, int V, const char* what) {
  if (N < 0 || V <= 0) throw std::invalid_argument(std::string(what) + ": need N >= 0 and V > 0");
  if (N > 2147483647) throw std::invalid_argument(std::string(what) + ": too many rows");
}

inline void logprob_entropy_forward_impl(float* logprob, float* entropy, const float* logits, const int* targets, int N,
                                         int V) {
  check_rows(N, V, "logprob_entropy_forward");
  if (N == 0) return;
  logprob_entropy_forward_kernel<<<N, kSoftmaxThreads>>>(logprob, entropy, logits, targets, V);
  CUDA_CHECK_LAUNCH("logprob_entropy_forward_kernel");
}

inline void logprob_entropy_backward_impl(float* dlogits, const float* logits, const int* targets,
                                          const float* dlogprob, const float* dentropy, int N, int V) {
  check_rows(N, V, "logprob_entropy_backward");
  if (N == 0) return;
  logprob_entropy_backward_kernel<<<N, kSoftmaxThreads>>>(dlogits, logits, targets, dlogprob, dentropy, V);
  CUDA_CHECK_LAUNCH("logprob_entropy_backward_kernel");
}

inline void softmax_ce_forward_backward_impl(float* losses, float* dlogits, const float* logits, const int* targets,
                                             const float* dloss, int N, int V) {
  check_rows(N, V, "softmax_ce_forward_backward");
  if (N == 0) return;
  if (dlogits && !dloss) throw std::invalid_argument("softmax_ce_forward_backward: dlogits needs dloss");
  softmax_ce_kernel<<<N, kSoftmaxThreads>>>(losses, dlogits, logits, targets, dloss, V);
  CUDA_CHECK_LAUNCH("softmax_ce_kernel");
}

}  // namespace cuda
}  // namespace arclight
