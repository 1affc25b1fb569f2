// Rotary position embedding (Qwen2, Llama), HF "rotate_half" convention: within each
// head, element j pairs with j + D/2, and pair j turns by pos * invFreq[j]
// (theta^(-2j/D), or Llama 3's scaled frequencies from ModelConfig::ropeInvFreq).
#pragma once
#include <cmath>
#include <cstddef>
#include <vector>

namespace arclight {

// In place on rows x[i*stride + h*D + j], h < heads; row i sits at position pos[i].
// Angles are computed in double so cached decoding and full forward agree exactly.
template <typename F>
void rope_forward_cpu(F* x, size_t stride, int N, int heads, int D, const int* pos, const double* invFreq) {
  const int half = D / 2;
  for (int i = 0; i < N; i++) {
    for (int j = 0; j < half; j++) {
      const double ang = pos[i] * invFreq[j];
      const F c = (F)std::cos(ang), s = (F)std::sin(ang);
      for (int h = 0; h < heads; h++) {
        F* r = x + i * stride + (size_t)h * D;
        const F x1 = r[j], x2 = r[j + half];
        r[j] = x1 * c - x2 * s;
        r[j + half] = x2 * c + x1 * s;
      }
    }
  }
}

// The rotation is orthogonal, so the gradient turns back by -angle.
template <typename F>
void rope_backward_cpu(F* dx, size_t stride, int N, int heads, int D, const int* pos, const double* invFreq) {
  const int half = D / 2;
  for (int i = 0; i < N; i++) {
    for (int j = 0; j < half; j++) {
      const double ang = pos[i] * invFreq[j];
      const F c = (F)std::cos(ang), s = (F)std::sin(ang);
      for (int h = 0; h < heads; h++) {
        F* r = dx + i * stride + (size_t)h * D;
        const F g1 = r[j], g2 = r[j + half];
        r[j] = g1 * c + g2 * s;
        r[j + half] = g2 * c - g1 * s;
      }
    }
  }
}

// Plain RoPE by theta (the CUDA parity tests' entry point).
inline std::vector<double> rope_inv_freq(int D, double theta) {
  std::vector<double> f(D / 2);
  for (int j = 0; j < D / 2; j++) f[j] = std::pow(theta, -2.0 * j / D);
  return f;
}

template <typename F>
void rope_forward_cpu(F* x, size_t stride, int N, int heads, int D, const int* pos, double theta) {
  rope_forward_cpu(x, stride, N, heads, D, pos, rope_inv_freq(D, theta).data());
}
template <typename F>
void rope_backward_cpu(F* dx, size_t stride, int N, int heads, int D, const int* pos, double theta) {
  rope_backward_cpu(dx, stride, N, heads, D, pos, rope_inv_freq(D, theta).data());
}

}  // namespace arclight
