// Pointwise MLP activations: GELU-tanh (GPT-2) and SwiGLU (Qwen2), forward and backward.
#pragma once
#include <cmath>
#include <cstddef>

namespace arclight {

// ----------------------------------------------------------------------------
// GELU, tanh approximation (as GPT-2 was trained)

template <typename F>
void gelu_forward_cpu(F* out, const F* inp, size_t n) {
  const F k = std::sqrt(F(2) / F(M_PI));
  for (size_t i = 0; i < n; i++) {
    const F x = inp[i];
    out[i] = F(0.5) * x * (F(1) + std::tanh(k * (x + F(0.044715) * x * x * x)));
  }
}

// accumulates into dinp
template <typename F>
void gelu_backward_cpu(F* dinp, const F* inp, const F* dout, size_t n) {
  const F k = std::sqrt(F(2) / F(M_PI));
  for (size_t i = 0; i < n; i++) {
    const F x = inp[i];
    const F u = k * (x + F(0.044715) * x * x * x);
    const F t = std::tanh(u);
    const F sech2 = F(1) - t * t;
    const F local = F(0.5) * (F(1) + t) + F(0.5) * x * sech2 * k * (F(1) + F(3) * F(0.044715) * x * x);
    dinp[i] += local * dout[i];
  }
}

// ----------------------------------------------------------------------------
// SwiGLU: inp rows are [gate(F) | up(F)], out = silu(gate) * up

template <typename F>
void swiglu_forward_cpu(F* out, const F* inp, int N, int Fdim) {
  for (int i = 0; i < N; i++) {
    const F* g = inp + (size_t)i * 2 * Fdim;
    const F* u = g + Fdim;
    F* o = out + (size_t)i * Fdim;
    for (int j = 0; j < Fdim; j++) {
      const F sig = F(1) / (F(1) + std::exp(-g[j]));
      o[j] = g[j] * sig * u[j];
    }
  }
}

// accumulates into dinp ([N, 2F])
template <typename F>
void swiglu_backward_cpu(F* dinp, const F* inp, const F* dout, int N, int Fdim) {
  for (int i = 0; i < N; i++) {
    const F* g = inp + (size_t)i * 2 * Fdim;
    const F* u = g + Fdim;
    const F* d = dout + (size_t)i * Fdim;
    F* dg = dinp + (size_t)i * 2 * Fdim;
    F* du = dg + Fdim;
    for (int j = 0; j < Fdim; j++) {
      const F sig = F(1) / (F(1) + std::exp(-g[j]));
      const F silu = g[j] * sig;
      dg[j] += d[j] * u[j] * sig * (F(1) + g[j] * (F(1) - sig));
      du[j] += d[j] * silu;
    }
  }
}

}  // namespace arclight
