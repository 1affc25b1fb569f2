// Plain C++ references for the CUDA kernels that native/src/*.h has no CPU counterpart for
// (yet): general GEMM, fused softmax/cross-entropy, logprob/entropy gradients, embeddings, bf16.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

namespace arclight {
namespace ref {

// Round to the nearest bf16, ties to even, as __float2bfloat16 does.
inline float round_bf16(float x) {
  uint32_t u;
  std::memcpy(&u, &x, 4);
  if ((u & 0x7f800000u) == 0x7f800000u) return x;  // inf and NaN pass through
  u += 0x7fffu + ((u >> 16) & 1u);
  u &= 0xffff0000u;
  std::memcpy(&x, &u, 4);
  return x;
}

inline uint16_t bf16_bits(float x) {
  float r = round_bf16(x);
  uint32_t u;
  std::memcpy(&u, &r, 4);
  return static_cast<uint16_t>(u >> 16);
}

inline float bf16_to_float(uint16_t b) {
  uint32_t u = static_cast<uint32_t>(b) << 16;
  float x;
  std::memcpy(&x, &u, 4);
  return x;
}

// C[m,n] = (accumulate ? C : 0) + sum_k op(A)[m,k] op(B)[k,n] (+ bias[n]), in double.
inline void gemm(double* c, const float* a, const float* b, const float* bias, int M, int N, int K, int lda, int ldb,
                 int ldc, bool trans_a, bool trans_b, bool accumulate) {
  for (int i = 0; i < M; i++)
    for (int j = 0; j < N; j++) {
      double s = 0;
      for (int k = 0; k < K; k++) {
        double x = trans_a ? a[(size_t)k * lda + i] : a[(size_t)i * lda + k];
        double y = trans_b ? b[(size_t)j * ldb + k] : b[(size_t)k * ldb + j];
        s += x * y;
      }
      if (bias) s += bias[j];
      double& dst = c[(size_t)i * ldc + j];
      dst = accumulate ? dst + s : s;
    }
}

struct RowStats {
  double lse, entropy;
};

template <typename In>
inline RowStats row_stats(const In* z, int V) {
  double mx = -INFINITY;
  for (int j = 0; j < V; j++) mx = std::fmax(mx, (double)z[j]);
  double sum = 0;
  for (int j = 0; j < V; j++) sum += std::exp((double)z[j] - mx);
  const double lse = mx + std::log(sum);
  double h = 0;
  for (int j = 0; j < V; j++) {
    const double lp = (double)z[j] - lse;
    h -= std::exp(lp) * lp;
  }
  return {lse, h};
}

// Same contract as cuda_backend.h's logprob_entropy_forward: ignored tokens (target < 0) get 0.
template <typename In>
inline void logprob_entropy_forward(double* logprob, double* entropy, const In* logits, const int* targets, int N,
                                    int V) {
  for (int i = 0; i < N; i++) {
    const In* z = logits + (size_t)i * V;
    RowStats st = row_stats(z, V);
    logprob[i] = targets[i] >= 0 ? (double)z[targets[i]] - st.lse : 0.0;
    if (entropy) entropy[i] = st.entropy;
  }
}

template <typename In>
inline void logprob_entropy_backward(double* dlogits, const In* logits, const int* targets, const In* dlogprob,
                                     const In* dentropy, int N, int V) {
  for (int i = 0; i < N; i++) {
    const In* z = logits + (size_t)i * V;
    RowStats st = row_stats(z, V);
    const double dlp = targets[i] >= 0 ? dlogprob[i] : 0.0;
    const double dh = dentropy ? dentropy[i] : 0.0;
    for (int j = 0; j < V; j++) {
      const double lp = (double)z[j] - st.lse, p = std::exp(lp);
      dlogits[(size_t)i * V + j] = dlp * ((j == targets[i] ? 1.0 : 0.0) - p) - dh * p * (lp + st.entropy);
    }
  }
}

template <typename In>
inline void softmax_ce(double* losses, double* dlogits, const In* logits, const int* targets, const In* dloss, int N,
                       int V) {
  for (int i = 0; i < N; i++) {
    const In* z = logits + (size_t)i * V;
    RowStats st = row_stats(z, V);
    const int t = targets[i];
    losses[i] = t >= 0 ? st.lse - (double)z[t] : 0.0;
    if (!dlogits) continue;
    const double g = t >= 0 ? dloss[i] : 0.0;
    for (int j = 0; j < V; j++)
      dlogits[(size_t)i * V + j] = g * (std::exp((double)z[j] - st.lse) - (j == t ? 1.0 : 0.0));
  }
}

template <typename In>
inline void encoder_forward(double* out, const int* tokens, const int* positions, const In* wte, const In* wpe, int N,
                            int T, int C) {
  for (int n = 0; n < N; n++) {
    const int pos = positions ? positions[n] : n % T;
    for (int c = 0; c < C; c++)
      out[(size_t)n * C + c] = (double)wte[(size_t)tokens[n] * C + c] + (wpe ? (double)wpe[(size_t)pos * C + c] : 0.0);
  }
}

template <typename In>
inline void encoder_backward(double* dwte, double* dwpe, const In* dout, const int* tokens, const int* positions, int N,
                             int T, int C) {
  for (int n = 0; n < N; n++) {
    const int pos = positions ? positions[n] : n % T;
    for (int c = 0; c < C; c++) {
      if (dwte) dwte[(size_t)tokens[n] * C + c] += dout[(size_t)n * C + c];
      if (dwpe) dwpe[(size_t)pos * C + c] += dout[(size_t)n * C + c];
    }
  }
}

}  // namespace ref
}  // namespace arclight
