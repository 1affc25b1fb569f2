// Causal multi-head attention with grouped-query heads (KV <= H, H % KV == 0),
// forward against per-row KV caches (so training, prefill and batched decoding
// share one path) and backward for the training case.
#pragma once
#include <cmath>
#include <cstddef>
#include <vector>

namespace arclight {

// ----------------------------------------------------------------------------
// forward
// q:   [N, H*D] rows, already position-encoded.
// kc/vc[i]: row i's cache, [ctx, KV*D]; row i attends to cache positions 0..pos[i].
// att: optional [N, H, attStride] softmax probabilities kept for backward.
template <typename F>
void attention_forward_cpu(F* out, F* att, int attStride, const F* q, const F* const* kc, const F* const* vc,
                           const int* pos, int N, int H, int KV, int D) {
  const F scale = F(1) / std::sqrt(F(D));
  const int group = H / KV;
  long work = 0;
  for (int i = 0; i < N; i++) work += (long)(pos[i] + 1) * H * D;
#pragma omp parallel if (work > (1L << 15))
  {
    std::vector<F> scratch;
#pragma omp for collapse(2) schedule(static)
    for (int i = 0; i < N; i++) {
      for (int h = 0; h < H; h++) {
        const int len = pos[i] + 1;
        F* a;
        if (att) {
          a = att + ((size_t)i * H + h) * attStride;
        } else {
          if ((int)scratch.size() < len) scratch.resize(len);
          a = scratch.data();
        }
        const F* qh = q + (size_t)i * H * D + (size_t)h * D;
        const int kvh = h / group;
        const F* K = kc[i] + (size_t)kvh * D;
        const F* V = vc[i] + (size_t)kvh * D;
        const size_t ks = (size_t)KV * D;
        F mx = -INFINITY;
        for (int s = 0; s < len; s++) {
          const F* kr = K + s * ks;
          F dot = 0;
          for (int d = 0; d < D; d++) dot += qh[d] * kr[d];
          a[s] = dot * scale;
          if (a[s] > mx) mx = a[s];
        }
        F sum = 0;
        for (int s = 0; s < len; s++) {
          a[s] = std::exp(a[s] - mx);
          sum += a[s];
        }
        const F inv = F(1) / sum;
        for (int s = 0; s < len; s++) a[s] *= inv;
        if (att)
          for (int s = len; s < attStride; s++) a[s] = 0;
        F* o = out + (size_t)i * H * D + (size_t)h * D;
        for (int d = 0; d < D; d++) o[d] = 0;
        for (int s = 0; s < len; s++) {
          const F* vr = V + s * ks;
          const F p = a[s];
          for (int d = 0; d < D; d++) o[d] += p * vr[d];
        }
      }
    }
  }
}

// ----------------------------------------------------------------------------
// backward for one sequence of T rows at positions 0..T-1 (training).
// att: [T, H, T]; k, v: [T, KV*D]. Accumulates into dq [T, H*D], dk, dv [T, KV*D].
// Parallel over KV groups: heads that share a K/V head write the same dk/dv rows.
template <typename F>
void attention_backward_cpu(F* dq, F* dk, F* dv, const F* dout, const F* att, const F* q, const F* k, const F* v, int T,
                            int H, int KV, int D) {
  const F scale = F(1) / std::sqrt(F(D));
  const int group = H / KV;
  const size_t ks = (size_t)KV * D, qs = (size_t)H * D;
#pragma omp parallel if ((long)T * T * H * D > (1L << 15))
  {
    std::vector<F> datt(T);
#pragma omp for schedule(static)
    for (int kvh = 0; kvh < KV; kvh++) {
      for (int h = kvh * group; h < (kvh + 1) * group; h++) {
        for (int t = 0; t < T; t++) {
          const F* a = att + ((size_t)t * H + h) * T;
          const F* g = dout + t * qs + (size_t)h * D;
          const F* qh = q + t * qs + (size_t)h * D;
          F* dqh = dq + t * qs + (size_t)h * D;
          F dsum = 0;
          for (int s = 0; s <= t; s++) {
            const F* vr = v + s * ks + (size_t)kvh * D;
            F* dvr = dv + s * ks + (size_t)kvh * D;
            F dot = 0;
            for (int d = 0; d < D; d++) {
              dot += g[d] * vr[d];
              dvr[d] += a[s] * g[d];
            }
            datt[s] = dot;
            dsum += a[s] * dot;
          }
          for (int s = 0; s <= t; s++) {
            const F dpre = a[s] * (datt[s] - dsum) * scale;
            if (dpre == F(0)) continue;
            const F* kr = k + s * ks + (size_t)kvh * D;
            F* dkr = dk + s * ks + (size_t)kvh * D;
            for (int d = 0; d < D; d++) {
              dqh[d] += dpre * kr[d];
              dkr[d] += dpre * qh[d];
            }
          }
        }
      }
    }
  }
}

}  // namespace arclight
