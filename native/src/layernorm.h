// LayerNorm (GPT-2) and RMSNorm (Qwen2), forward and backward on [N, C] rows.
// Statistics are kept in double-free F precision, as llm.c does; mean/rstd are
// cached for the backward pass.
#pragma once
#include <cmath>
#include <cstddef>

namespace arclight {

// ----------------------------------------------------------------------------
// LayerNorm

template <typename F>
void layernorm_forward_cpu(F* out, F* mean, F* rstd, const F* inp, const F* weight, const F* bias, int N, int C,
                           F eps) {
  for (int i = 0; i < N; i++) {
    const F* x = inp + (size_t)i * C;
    F m = 0;
    for (int c = 0; c < C; c++) m += x[c];
    m /= C;
    F v = 0;
    for (int c = 0; c < C; c++) {
      const F d = x[c] - m;
      v += d * d;
    }
    v /= C;
    const F s = F(1) / std::sqrt(v + eps);
    F* o = out + (size_t)i * C;
    for (int c = 0; c < C; c++) o[c] = (x[c] - m) * s * weight[c] + bias[c];
    if (mean) mean[i] = m;
    if (rstd) rstd[i] = s;
  }
}

template <typename F>
void layernorm_backward_cpu(F* dinp, F* dweight, F* dbias, const F* dout, const F* inp, const F* weight, const F* mean,
                            const F* rstd, int N, int C) {
  for (int i = 0; i < N; i++) {
    const F* g = dout + (size_t)i * C;
    const F* x = inp + (size_t)i * C;
    F* dx = dinp + (size_t)i * C;
    const F m = mean[i], s = rstd[i];
    F dnorm_mean = 0, dnorm_norm_mean = 0;
    for (int c = 0; c < C; c++) {
      const F n = (x[c] - m) * s;
      const F dn = weight[c] * g[c];
      dnorm_mean += dn;
      dnorm_norm_mean += dn * n;
    }
    dnorm_mean /= C;
    dnorm_norm_mean /= C;
    for (int c = 0; c < C; c++) {
      const F n = (x[c] - m) * s;
      const F dn = weight[c] * g[c];
      if (dbias) dbias[c] += g[c];
      if (dweight) dweight[c] += n * g[c];
      dx[c] += (dn - dnorm_mean - n * dnorm_norm_mean) * s;
    }
  }
}

// ----------------------------------------------------------------------------
// RMSNorm: out = x / sqrt(mean(x^2) + eps) * weight

template <typename F>
void rmsnorm_forward_cpu(F* out, F* rstd, const F* inp, const F* weight, int N, int C, F eps) {
  for (int i = 0; i < N; i++) {
    const F* x = inp + (size_t)i * C;
    F ss = 0;
    for (int c = 0; c < C; c++) ss += x[c] * x[c];
    const F s = F(1) / std::sqrt(ss / C + eps);
    F* o = out + (size_t)i * C;
    for (int c = 0; c < C; c++) o[c] = x[c] * s * weight[c];
    if (rstd) rstd[i] = s;
  }
}

template <typename F>
void rmsnorm_backward_cpu(F* dinp, F* dweight, const F* dout, const F* inp, const F* weight, const F* rstd, int N,
                          int C) {
  for (int i = 0; i < N; i++) {
    const F* g = dout + (size_t)i * C;
    const F* x = inp + (size_t)i * C;
    F* dx = dinp + (size_t)i * C;
    const F s = rstd[i];
    F dot = 0;
    for (int c = 0; c < C; c++) dot += g[c] * weight[c] * x[c];
    const F k = dot * s * s * s / C;
    for (int c = 0; c < C; c++) {
      if (dweight) dweight[c] += g[c] * x[c] * s;
      dx[c] += g[c] * weight[c] * s - x[c] * k;
    }
  }
}

}  // namespace arclight
