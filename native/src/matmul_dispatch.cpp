// Run-time choice of the fp32 matmul: a tuned BLAS's sgemm when one was
// found at load time (blas.h) and the shape is big enough to pay for the call,
// else the own kernels. The addon is compiled for x86-64-v2 so it loads
// everywhere, and this file adds an AVX2+FMA copy of the own kernels that is
// used only when the CPU reports both features.
#include "matmul.h"

#include "blas.h"

#if defined(__x86_64__) && defined(__GNUC__)
#define ARCLIGHT_HAVE_AVX2_BUILD 1
#pragma GCC push_options
#pragma GCC target("avx2,fma")
#define ARCLIGHT_MM_NS arclight_avx2
#include "matmul_kernels.inc"
#undef ARCLIGHT_MM_NS
namespace arclight_avx2 {
void forward(float* out, const float* inp, const float* weight, const float* bias, int N, int C, int OC) {
  matmul_forward_cpu(out, inp, weight, bias, N, C, OC);
}
void backward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp, const float* weight,
              int N, int C, int OC) {
  matmul_backward_cpu(dinp, dweight, dbias, dout, inp, weight, N, C, OC);
}
}  // namespace arclight_avx2
#pragma GCC pop_options
#endif

namespace arclight {

namespace {
bool use_avx2() {
#ifdef ARCLIGHT_HAVE_AVX2_BUILD
  static const bool yes = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return yes;
#else
  return false;
#endif
}
}  // namespace

const char* matmul_isa() { return use_avx2() ? "avx2+fma" : "x86-64-v2"; }

namespace {
// Below this much work the own kernel's inlined loops beat a library call.
SgemmFn blas_for(int N, int C, int OC) { return (long)N * C * OC >= kParallelWork ? blas_sgemm() : nullptr; }
}  // namespace

void matmul_forward(float* out, const float* inp, const float* weight, const float* bias, int N, int C, int OC) {
  if (SgemmFn gemm = blas_for(N, C, OC)) {
    // out = inp @ weight^T (+ bias): the bias is written first and kept with beta = 1.
    for (int i = 0; i < N; i++) {
      float* o = out + (size_t)i * OC;
      if (bias)
        for (int k = 0; k < OC; k++) o[k] = bias[k];
      else
        for (int k = 0; k < OC; k++) o[k] = 0.0f;
    }
    gemm(kCblasRowMajor, kCblasNoTrans, kCblasTrans, N, OC, C, 1.0f, inp, C, weight, C, 1.0f, out, OC);
    return;
  }
#ifdef ARCLIGHT_HAVE_AVX2_BUILD
  if (use_avx2()) return arclight_avx2::forward(out, inp, weight, bias, N, C, OC);
#endif
  matmul_forward_cpu(out, inp, weight, bias, N, C, OC);
}

void matmul_backward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                     const float* weight, int N, int C, int OC) {
  if (SgemmFn gemm = blas_for(N, C, OC)) {
    // dinp += dout @ weight ; dweight += dout^T @ inp (one GEMM over all rows) ; dbias += column sums of dout
    if (dinp) gemm(kCblasRowMajor, kCblasNoTrans, kCblasNoTrans, N, C, OC, 1.0f, dout, OC, weight, C, 1.0f, dinp, C);
    if (dweight) gemm(kCblasRowMajor, kCblasTrans, kCblasNoTrans, OC, C, N, 1.0f, dout, OC, inp, C, 1.0f, dweight, C);
    if (dbias)
      for (int i = 0; i < N; i++) {
        const float* g = dout + (size_t)i * OC;
        for (int k = 0; k < OC; k++) dbias[k] += g[k];
      }
    return;
  }
#ifdef ARCLIGHT_HAVE_AVX2_BUILD
  if (use_avx2()) return arclight_avx2::backward(dinp, dweight, dbias, dout, inp, weight, N, C, OC);
#endif
  matmul_backward_cpu(dinp, dweight, dbias, dout, inp, weight, N, C, OC);
}

}  // namespace arclight
