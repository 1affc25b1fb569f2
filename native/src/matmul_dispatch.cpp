// Run-time choice of the fp32 matmul build: the addon is compiled for
// x86-64-v2 so it loads everywhere, and this file adds an AVX2+FMA copy of the
// same kernels that is used only when the CPU reports both features.
#include "matmul.h"

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
void backward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp, const float* weight, int N, int C, int OC) {
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

void matmul_forward(float* out, const float* inp, const float* weight, const float* bias, int N, int C, int OC) {
#ifdef ARCLIGHT_HAVE_AVX2_BUILD
  if (use_avx2()) return arclight_avx2::forward(out, inp, weight, bias, N, C, OC);
#endif
  matmul_forward_cpu(out, inp, weight, bias, N, C, OC);
}

void matmul_backward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp, const float* weight, int N, int C, int OC) {
#ifdef ARCLIGHT_HAVE_AVX2_BUILD
  if (use_avx2()) return arclight_avx2::backward(dinp, dweight, dbias, dout, inp, weight, N, C, OC);
#endif
  matmul_backward_cpu(dinp, dweight, dbias, dout, inp, weight, N, C, OC);
}

}  // namespace arclight
