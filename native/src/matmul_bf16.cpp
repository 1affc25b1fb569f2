// GEMMs against bf16 weights (bf16_weights.h): widen to fp32, then the fp32 matmul.
// On the BLAS path the weight is widened one tile of rows at a time into a per-thread scratch
// buffer of bf16_tile_floats() floats and each tile is one sgemm writing its columns of the
// output (forward) or adding its share of the input gradient (backward); a small GEMM (the own
// kernels' path) widens the whole matrix, which is then small too.
#include <algorithm>
#include <cstdlib>
#include <vector>

#include "bf16_weights.h"
#include "blas.h"
#include "matmul.h"

namespace arclight {

namespace {

// 256 K floats (1 MiB): measured against whole-matrix scratch and 64 K / 4 M tiles in
// bench/native/pretrained-shapes.ts --bf16 (bench/RESULTS.md).
constexpr size_t kDefaultTileFloats = size_t(1) << 18;

void widen(float* dst, const uint16_t* src, size_t n) {
  const long len = (long)n;
#pragma omp parallel for schedule(static) if (len >= kParallelWork * 8)
  for (long i = 0; i < len; i++) dst[i] = bf16_bits_to_f32(src[i]);
}

float* scratch(size_t n) {
  thread_local std::vector<float> buf;
  if (buf.size() < n) buf.resize(n);
  return buf.data();
}

SgemmFn blas_for(int N, int C, int OC) { return (long)N * C * OC >= kParallelWork ? blas_sgemm() : nullptr; }

// Rows of weight per tile, or OC (one piece) when the GEMM does not go to BLAS.
int tile_rows(SgemmFn gemm, int C, int OC) {
  const size_t t = bf16_tile_floats();
  if (!gemm || t == 0) return OC;
  return (int)std::min<size_t>((size_t)OC, std::max<size_t>(1, t / (size_t)C));
}

}  // namespace

size_t bf16_tile_floats() {
  static const size_t t = [] {
    const char* e = std::getenv("ARCLIGHT_BF16_TILE");
    return e && *e ? (size_t)std::strtoull(e, nullptr, 10) : kDefaultTileFloats;
  }();
  return t;
}

void matmul_forward_bf16(float* out, const float* inp, const uint16_t* weight, const float* bias, int N, int C,
                         int OC) {
  SgemmFn gemm = blas_for(N, C, OC);
  const int rows = tile_rows(gemm, C, OC);
  if (rows == OC) {  // one piece: exactly the fp32 GEMM on the widened matrix
    float* w = scratch((size_t)OC * C);
    widen(w, weight, (size_t)OC * C);
    return matmul_forward(out, inp, w, bias, N, C, OC);
  }
  for (int i = 0; i < N; i++) {
    float* o = out + (size_t)i * OC;
    if (bias)
      std::copy(bias, bias + OC, o);
    else
      std::fill(o, o + OC, 0.0f);
  }
  float* w = scratch((size_t)rows * C);
  for (int j0 = 0; j0 < OC; j0 += rows) {
    const int jr = std::min(rows, OC - j0);
    widen(w, weight + (size_t)j0 * C, (size_t)jr * C);
    gemm(kCblasRowMajor, kCblasNoTrans, kCblasTrans, N, jr, C, 1.0f, inp, C, w, C, 1.0f, out + j0, OC);
  }
}

void matmul_backward_bf16(float* dinp, const float* dout, const uint16_t* weight, int N, int C, int OC) {
  SgemmFn gemm = blas_for(N, C, OC);
  const int rows = tile_rows(gemm, C, OC);
  if (rows == OC) {
    float* w = scratch((size_t)OC * C);
    widen(w, weight, (size_t)OC * C);
    return matmul_backward(dinp, nullptr, nullptr, dout, nullptr, w, N, C, OC);
  }
  // The sum over OC runs tile by tile, so it rounds in a different order than one sgemm over all
  // of OC: equal to the fp32-weight gradient within float rounding, not bit for bit.
  float* w = scratch((size_t)rows * C);
  for (int j0 = 0; j0 < OC; j0 += rows) {
    const int jr = std::min(rows, OC - j0);
    widen(w, weight + (size_t)j0 * C, (size_t)jr * C);
    gemm(kCblasRowMajor, kCblasNoTrans, kCblasNoTrans, N, C, jr, 1.0f, dout + j0, OC, w, C, 1.0f, dinp, C);
  }
}

}  // namespace arclight
