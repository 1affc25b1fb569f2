// Rotary position embedding (Qwen2), HF "rotate_half" convention: within each
// head, element j pairs with j + D/2, and pair j turns by pos * theta^(-2j/D).
#pragma once
#include <cmath>
#include <cstddef>

namespace arclight {

// In place on rows x[i*stride + h*D + j], h < heads; row i sits at position pos[i].
// Angles are computed in double so cached decoding and full forward agree exactly.
template <typename F>
void rope_forward_cpu(F* x, size_t stride, int N, int heads, int D, const int* pos, double theta) {
  const int half = D / 2;
  for (int i = 0; i < N; i++) {
    for (int j = 0; j < half; j++) {
      const double ang = pos[i] * std::pow(theta, -2.0 * j / D);
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
void rope_backward_cpu(F* dx, size_t stride, int N, int heads, int D, const int* pos, double theta) {
  const int half = D / 2;
  for (int i = 0; i < N; i++) {
    for (int j = 0; j < half; j++) {
      const double ang = pos[i] * std::pow(theta, -2.0 * j / D);
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

}  // namespace arclight
