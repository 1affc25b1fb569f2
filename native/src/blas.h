// Optional tuned BLAS (OpenBLAS, BLIS or any libcblas) found at load time with
// dlopen, so the addon builds and runs without one and uses it where the
// machine has it (scripts/ensure-blas.sh installs Debian's OpenBLAS). Only
// cblas_sgemm is used; the own kernels in matmul_kernels.inc stay the fallback
// and the reference the tests compare against.
#pragma once
#include <string>

namespace arclight {

// Row-major C[M,N] = alpha * op(A)[M,K] @ op(B)[K,N] + beta * C.
using SgemmFn = void (*)(int order, int transA, int transB, int M, int N, int K, float alpha, const float* A, int lda,
                         const float* B, int ldb, float beta, float* C, int ldc);

inline constexpr int kCblasRowMajor = 101, kCblasNoTrans = 111, kCblasTrans = 112;

struct BlasStatus {
  bool loaded = false;   // a library with cblas_sgemm was found
  bool enabled = false;  // matmuls use it now
  std::string library;   // the file dlopen took it from
  std::string reason;    // why not loaded (ARCLIGHT_BLAS=off, not installed, ...)
};

// The sgemm matmuls should call now, or null (not found or switched off).
SgemmFn blas_sgemm();
BlasStatus blas_status();
// Switches the BLAS path on or off for the whole process (benchmarks and the
// reference tests compare both); returns false when no BLAS is loaded.
bool blas_enable(bool on);

}  // namespace arclight
