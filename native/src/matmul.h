// Matmul (linear layer) forward and backward, CPU reference and fast path in one:
// out[N,OC] = inp[N,C] @ weight[OC,C]^T + bias[OC], weights in nn.Linear layout.
#pragma once
#include <cstddef>

namespace arclight {

// Parallel regions cost a few microseconds; tiny model shapes run faster serially.
inline constexpr long kParallelWork = 1L << 15;

// ----------------------------------------------------------------------------
// forward

// 4x4 register tiles: each weight row and input row is read once per tile
// instead of once per output, and the inner loop over C is a contiguous
// dot product the compiler vectorizes (omp simd reduction).
template <typename F>
void matmul_forward_cpu(F* out, const F* inp, const F* weight, const F* bias, int N, int C, int OC) {
  const int NT = (N + 3) / 4, OT = (OC + 3) / 4;
#pragma omp parallel for collapse(2) schedule(static) if ((long)N * C * OC > kParallelWork)
  for (int it = 0; it < NT; it++) {
    for (int ot = 0; ot < OT; ot++) {
      const int i0 = it * 4, o0 = ot * 4;
      if (i0 + 4 <= N && o0 + 4 <= OC) {
        const F* a0 = inp + (size_t)i0 * C; const F* a1 = a0 + C; const F* a2 = a1 + C; const F* a3 = a2 + C;
        const F* w0 = weight + (size_t)o0 * C; const F* w1 = w0 + C; const F* w2 = w1 + C; const F* w3 = w2 + C;
        F s00 = 0, s01 = 0, s02 = 0, s03 = 0, s10 = 0, s11 = 0, s12 = 0, s13 = 0;
        F s20 = 0, s21 = 0, s22 = 0, s23 = 0, s30 = 0, s31 = 0, s32 = 0, s33 = 0;
#pragma omp simd reduction(+ : s00, s01, s02, s03, s10, s11, s12, s13, s20, s21, s22, s23, s30, s31, s32, s33)
        for (int c = 0; c < C; c++) {
          const F x0 = a0[c], x1 = a1[c], x2 = a2[c], x3 = a3[c];
          const F y0 = w0[c], y1 = w1[c], y2 = w2[c], y3 = w3[c];
          s00 += x0 * y0; s01 += x0 * y1; s02 += x0 * y2; s03 += x0 * y3;
          s10 += x1 * y0; s11 += x1 * y1; s12 += x1 * y2; s13 += x1 * y3;
          s20 += x2 * y0; s21 += x2 * y1; s22 += x2 * y2; s23 += x2 * y3;
          s30 += x3 * y0; s31 += x3 * y1; s32 += x3 * y2; s33 += x3 * y3;
        }
        const F s[4][4] = {{s00, s01, s02, s03}, {s10, s11, s12, s13}, {s20, s21, s22, s23}, {s30, s31, s32, s33}};
        for (int a = 0; a < 4; a++)
          for (int b = 0; b < 4; b++) out[(size_t)(i0 + a) * OC + o0 + b] = s[a][b] + (bias ? bias[o0 + b] : F(0));
      } else {
        for (int i = i0; i < i0 + 4 && i < N; i++) {
          for (int o = o0; o < o0 + 4 && o < OC; o++) {
            const F* a = inp + (size_t)i * C; const F* w = weight + (size_t)o * C;
            F s = 0;
#pragma omp simd reduction(+ : s)
            for (int c = 0; c < C; c++) s += a[c] * w[c];
            out[(size_t)i * OC + o] = s + (bias ? bias[o] : F(0));
          }
        }
      }
    }
  }
}

// ----------------------------------------------------------------------------
// backward: accumulates (+=) into dinp, dweight, dbias; any of them may be null.

template <typename F>
void matmul_backward_cpu(F* dinp, F* dweight, F* dbias, const F* dout, const F* inp, const F* weight, int N, int C, int OC) {
  const bool par = (long)N * C * OC > kParallelWork;
  if (dinp) {
#pragma omp parallel for schedule(static) if (par)
    for (int i = 0; i < N; i++) {
      F* di = dinp + (size_t)i * C;
      const F* g = dout + (size_t)i * OC;
      for (int o = 0; o < OC; o++) {
        const F go = g[o];
        if (go == F(0)) continue;
        const F* w = weight + (size_t)o * C;
#pragma omp simd
        for (int c = 0; c < C; c++) di[c] += go * w[c];
      }
    }
  }
  if (dweight || dbias) {
#pragma omp parallel for schedule(static) if (par)
    for (int o = 0; o < OC; o++) {
      F* dw = dweight ? dweight + (size_t)o * C : nullptr;
      F db = 0;
      for (int i = 0; i < N; i++) {
        const F go = dout[(size_t)i * OC + o];
        if (go == F(0)) continue;
        db += go;
        if (dw) {
          const F* a = inp + (size_t)i * C;
#pragma omp simd
          for (int c = 0; c < C; c++) dw[c] += go * a[c];
        }
      }
      if (dbias) dbias[o] += db;
    }
  }
}

}  // namespace arclight
