// Matrix multiplies for linear layers: a tensor-core GEMM (WMMA, bf16 operands, fp32 accumulate)
// and an fp32 SIMT fallback, both with transposes, edge tiles, bias and accumulate, plus dbias.
#pragma once

#include <mma.h>

#include "cuda_backend.h"
#include "cuda_common.cuh"

namespace arclight {
namespace cuda {

template <typename TA, typename TB>
struct GemmParams {
  float* c;
  const TA* a;
  const TB* b;
  const float* bias;
  int m, n, k, lda, ldb, ldc;
  bool trans_a, trans_b, accumulate;
};

// Shared by both kernels: the bounds-checked write of one output element.
template <typename TA, typename TB>
__device__ __forceinline__ void gemm_store(const GemmParams<TA, TB>& p, int row, int col, float v) {
  if (row >= p.m || col >= p.n) return;
  if (p.bias) v += p.bias[col];
  float* dst = p.c + (long long)row * p.ldc + col;
  *dst = p.accumulate ? *dst + v : v;
}

// Tiles are staged through shared memory with zeros outside the matrix, so sizes that are not
// multiples of the tile (vocab 50257, odd head counts) need no padding by the caller.
template <typename TA, typename TB>
__device__ __forceinline__ float load_a(const GemmParams<TA, TB>& p, int row, int kk) {
  if (row >= p.m || kk >= p.k) return 0.0f;
  return to_float(p.trans_a ? p.a[(long long)kk * p.lda + row] : p.a[(long long)row * p.lda + kk]);
}
template <typename TA, typename TB>
__device__ __forceinline__ float load_b(const GemmParams<TA, TB>& p, int kk, int col) {
  if (kk >= p.k || col >= p.n) return 0.0f;
  return to_float(p.trans_b ? p.b[(long long)col * p.ldb + kk] : p.b[(long long)kk * p.ldb + col]);
}

// ----------------------------------------------------------------------------
// tensor-core kernel: 64x64 block tile, 4 warps of 32x32 (2x2 WMMA 16x16x16 fragments)

constexpr int kTcBM = 64, kTcBN = 64, kTcBK = 32, kTcThreads = 128;
// +8 bf16 / +4 float of row padding: breaks shared-memory bank conflicts and keeps every WMMA
// pointer 32-byte aligned (ldm must be a multiple of 8 elements for bf16, 4 for float).
constexpr int kTcLdA = kTcBK + 8, kTcLdB = kTcBN + 8, kTcLdC = kTcBN + 4;

template <typename TA, typename TB>
__global__ void __launch_bounds__(kTcThreads) gemm_bf16_tc_kernel(GemmParams<TA, TB> p) {
  namespace wmma = nvcuda::wmma;
  __shared__ __align__(32) __nv_bfloat16 As[kTcBM][kTcLdA];
  __shared__ __align__(32) __nv_bfloat16 Bs[kTcBK][kTcLdB];
  __shared__ __align__(32) float Cs[kTcBM][kTcLdC];

  const int tid = threadIdx.x, warp = tid / 32;
  const int warp_m = warp / 2, warp_n = warp % 2;
  const int m0 = blockIdx.y * kTcBM, n0 = blockIdx.x * kTcBN;

  wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc[2][2];
  for (int i = 0; i < 2; i++)
    for (int j = 0; j < 2; j++) wmma::fill_fragment(acc[i][j], 0.0f);

  for (int k0 = 0; k0 < p.k; k0 += kTcBK) {
    // The index order follows the operand's memory order so that a warp's loads coalesce.
    for (int idx = tid; idx < kTcBM * kTcBK; idx += kTcThreads) {
      int i = p.trans_a ? idx % kTcBM : idx / kTcBK;
      int kk = p.trans_a ? idx / kTcBM : idx % kTcBK;
      As[i][kk] = __float2bfloat16(load_a(p, m0 + i, k0 + kk));
    }
    for (int idx = tid; idx < kTcBK * kTcBN; idx += kTcThreads) {
      int kk = p.trans_b ? idx % kTcBK : idx / kTcBN;
      int j = p.trans_b ? idx / kTcBK : idx % kTcBN;
      Bs[kk][j] = __float2bfloat16(load_b(p, k0 + kk, n0 + j));
    }
    __syncthreads();
    for (int kk = 0; kk < kTcBK; kk += 16) {
      wmma::fragment<wmma::matrix_a, 16, 16, 16, __nv_bfloat16, wmma::row_major> fa[2];
      wmma::fragment<wmma::matrix_b, 16, 16, 16, __nv_bfloat16, wmma::row_major> fb[2];
      for (int i = 0; i < 2; i++) wmma::load_matrix_sync(fa[i], &As[warp_m * 32 + i * 16][kk], kTcLdA);
      for (int j = 0; j < 2; j++) wmma::load_matrix_sync(fb[j], &Bs[kk][warp_n * 32 + j * 16], kTcLdB);
      for (int i = 0; i < 2; i++)
        for (int j = 0; j < 2; j++) wmma::mma_sync(acc[i][j], fa[i], fb[j], acc[i][j]);
    }
    __syncthreads();  // the next tile overwrites As/Bs
  }

  for (int i = 0; i < 2; i++)
    for (int j = 0; j < 2; j++)
      wmma::store_matrix_sync(&Cs[warp_m * 32 + i * 16][warp_n * 32 + j * 16], acc[i][j], kTcLdC, wmma::mem_row_major);
  __syncthreads();
  for (int idx = tid; idx < kTcBM * kTcBN; idx += kTcThreads) {
    int i = idx / kTcBN, j = idx % kTcBN;
    gemm_store(p, m0 + i, n0 + j, Cs[i][j]);
  }
}

// ----------------------------------------------------------------------------
// fp32 SIMT kernel: 64x64 block tile, 16x16 threads, each a 4x4 strided micro-tile

constexpr int kFpBM = 64, kFpBN = 64, kFpBK = 16, kFpThreads = 256;

template <typename TA, typename TB>
__global__ void __launch_bounds__(kFpThreads) gemm_fp32_kernel(GemmParams<TA, TB> p) {
  // k-major tiles: a warp reads 2 distinct As values (broadcast) and 16 adjacent Bs values.
  __shared__ float As[kFpBK][kFpBM + 1];
  __shared__ float Bs[kFpBK][kFpBN];
  const int tid = threadIdx.x, tx = tid % 16, ty = tid / 16;
  const int m0 = blockIdx.y * kFpBM, n0 = blockIdx.x * kFpBN;
  float acc[4][4] = {};

  for (int k0 = 0; k0 < p.k; k0 += kFpBK) {
    for (int idx = tid; idx < kFpBM * kFpBK; idx += kFpThreads) {
      int i = p.trans_a ? idx % kFpBM : idx / kFpBK;
      int kk = p.trans_a ? idx / kFpBM : idx % kFpBK;
      As[kk][i] = load_a(p, m0 + i, k0 + kk);
    }
    for (int idx = tid; idx < kFpBK * kFpBN; idx += kFpThreads) {
      int kk = p.trans_b ? idx % kFpBK : idx / kFpBN;
      int j = p.trans_b ? idx / kFpBK : idx % kFpBN;
      Bs[kk][j] = load_b(p, k0 + kk, n0 + j);
    }
    __syncthreads();
#pragma unroll
    for (int kk = 0; kk < kFpBK; kk++) {
      float a[4], b[4];
#pragma unroll
      for (int r = 0; r < 4; r++) a[r] = As[kk][ty + 16 * r];
#pragma unroll
      for (int c = 0; c < 4; c++) b[c] = Bs[kk][tx + 16 * c];
#pragma unroll
      for (int r = 0; r < 4; r++)
#pragma unroll
        for (int c = 0; c < 4; c++) acc[r][c] = fmaf(a[r], b[c], acc[r][c]);
    }
    __syncthreads();
  }
  for (int r = 0; r < 4; r++)
    for (int c = 0; c < 4; c++) gemm_store(p, m0 + ty + 16 * r, n0 + tx + 16 * c, acc[r][c]);
}

struct DoutColumn {
  const float* dout;
  int ld;
  __device__ float2 operator()(int n, int c) const { return make_float2(dout[(long long)n * ld + c], 0.0f); }
};

// ----------------------------------------------------------------------------
// launchers

template <typename TA, typename TB>
void launch_gemm(const GemmArgs& g, MathMode mode) {
  GemmParams<TA, TB> p{g.c,
                       static_cast<const TA*>(g.a),
                       static_cast<const TB*>(g.b),
                       g.bias,
                       g.m,
                       g.n,
                       g.k,
                       g.lda,
                       g.ldb,
                       g.ldc,
                       g.trans_a,
                       g.trans_b,
                       g.accumulate};
  if (mode == MathMode::BF16) {
    dim3 grid(ceil_div(g.n, kTcBN), ceil_div(g.m, kTcBM));
    gemm_bf16_tc_kernel<TA, TB><<<grid, kTcThreads>>>(p);
    CUDA_CHECK_LAUNCH("gemm_bf16_tc_kernel");
  } else {
    dim3 grid(ceil_div(g.n, kFpBN), ceil_div(g.m, kFpBM));
    gemm_fp32_kernel<TA, TB><<<grid, kFpThreads>>>(p);
    CUDA_CHECK_LAUNCH("gemm_fp32_kernel");
  }
}

inline void gemm_impl(const GemmArgs& g, MathMode mode) {
  if (g.m <= 0 || g.n <= 0) return;
  if (g.k < 0 || g.lda < 0 || g.ldb < 0 || g.ldc < g.n)
    throw std::invalid_argument("gemm: negative k or leading dimension, or ldc < n");
  if (ceil_div(g.m, kTcBM) > 65535)  // grid.y limit; both kernels tile m by 64
    throw std::invalid_argument("gemm: m or n too large for one launch");
  const bool a16 = g.a_type == DType::BF16, b16 = g.b_type == DType::BF16;
  if (!a16 && !b16)
    launch_gemm<float, float>(g, mode);
  else if (!a16 && b16)
    launch_gemm<float, __nv_bfloat16>(g, mode);
  else if (a16 && !b16)
    launch_gemm<__nv_bfloat16, float>(g, mode);
  else
    launch_gemm<__nv_bfloat16, __nv_bfloat16>(g, mode);
}

inline void matmul_forward_impl(float* out, const float* inp, const void* weight, DType wtype, const float* bias, int N,
                                int C, int OC, MathMode mode) {
  // out[N,OC] = inp[N,C] @ weight[OC,C]^T: B = weight read transposed.
  GemmArgs g{out, inp, weight, bias, DType::F32, wtype, N, OC, C, C, C, OC, false, true, false};
  gemm_impl(g, mode);
}

inline void matmul_backward_impl(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                                 const void* weight, DType wtype, int N, int C, int OC, MathMode mode) {
  if (dinp) {
    // dinp[N,C] += dout[N,OC] @ weight[OC,C]
    GemmArgs g{dinp, dout, weight, nullptr, DType::F32, wtype, N, C, OC, OC, C, C, false, false, true};
    gemm_impl(g, mode);
  }
  if (dweight) {
    // dweight[OC,C] += dout^T[OC,N] @ inp[N,C]
    GemmArgs g{dweight, dout, inp, nullptr, DType::F32, DType::F32, OC, C, N, OC, C, C, true, false, true};
    gemm_impl(g, mode);
  }
  if (dbias) column_sum2(dbias, nullptr, N, OC, DoutColumn{dout, OC});
}

}  // namespace cuda
}  // namespace arclight
