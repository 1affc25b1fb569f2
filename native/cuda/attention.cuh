// Causal attention with grouped-query heads, forward and backward: the straightforward version,
// one warp per query (forward, dq) or per key (dk, dv), online softmax, no T x T matrix stored.
#pragma once

#include <cfloat>

#include "cuda_backend.h"
#include "cuda_common.cuh"

namespace arclight {
namespace cuda {

// Each lane holds head dims lane, lane + 32, ...: head_dim up to 256 (Qwen2 uses 64 or 128).
constexpr int kAttnMaxDimsPerLane = 8;
constexpr int kAttnWarpsPerBlock = 4;

struct AttnPtrs {
  long long q_batch, q_row, k_batch, k_row, v_batch, v_row;
  int batch, tq, tk, heads, kv_heads, head_dim;
  float scale;
};

inline AttnPtrs attn_ptrs(const AttentionDims& d) {
  return {d.q_batch,
          d.q_row,
          d.k_batch,
          d.k_row,
          d.v_batch,
          d.v_row,
          d.batch,
          d.tq,
          d.tk,
          d.heads,
          d.kv_heads,
          d.head_dim,
          1.0f / sqrtf((float)d.head_dim)};
}

// Dot product of two head vectors, one held in registers by the warp, the other in memory.
__device__ __forceinline__ float warp_dot(const float (&a)[kAttnMaxDimsPerLane], const float* b, int head_dim,
                                          int lane) {
  float s = 0.0f;
#pragma unroll
  for (int i = 0; i < kAttnMaxDimsPerLane; i++) {
    int d = lane + 32 * i;
    if (d < head_dim) s += a[i] * b[d];
  }
  return warp_sum(s);
}

__device__ __forceinline__ void warp_load(float (&dst)[kAttnMaxDimsPerLane], const float* src, int head_dim, int lane) {
#pragma unroll
  for (int i = 0; i < kAttnMaxDimsPerLane; i++) {
    int d = lane + 32 * i;
    dst[i] = d < head_dim ? src[d] : 0.0f;
  }
}

__global__ void attention_forward_kernel(float* out, float* lse, const float* q, const float* k, const float* v,
                                         AttnPtrs a) {
  const int lane = threadIdx.x % 32;
  const long long row = blockIdx.x * (long long)kAttnWarpsPerBlock + threadIdx.x / 32;
  if (row >= (long long)a.batch * a.heads * a.tq) return;
  const int t = row % a.tq, h = (row / a.tq) % a.heads, b = row / ((long long)a.tq * a.heads);
  const int g = h / (a.heads / a.kv_heads);
  const int last = (a.tk - a.tq) + t;  // the last key this query may see

  float qr[kAttnMaxDimsPerLane], acc[kAttnMaxDimsPerLane] = {};
  warp_load(qr, q + b * a.q_batch + t * a.q_row + (long long)h * a.head_dim, a.head_dim, lane);
  float m = -FLT_MAX, l = 0.0f;
  for (int j = 0; j <= last; j++) {
    const float* kj = k + b * a.k_batch + j * a.k_row + (long long)g * a.head_dim;
    const float* vj = v + b * a.v_batch + j * a.v_row + (long long)g * a.head_dim;
    float s = warp_dot(qr, kj, a.head_dim, lane) * a.scale;
    float m_new = fmaxf(m, s);
    float corr = expf(m - m_new), p = expf(s - m_new);
    l = l * corr + p;
#pragma unroll
    for (int i = 0; i < kAttnMaxDimsPerLane; i++) {
      int d = lane + 32 * i;
      acc[i] = acc[i] * corr + (d < a.head_dim ? p * vj[d] : 0.0f);
    }
    m = m_new;
  }
  float* o = out + (((long long)b * a.tq + t) * a.heads + h) * a.head_dim;
  const float inv_l = 1.0f / l;  // l >= 1: the query always sees at least its own key
#pragma unroll
  for (int i = 0; i < kAttnMaxDimsPerLane; i++) {
    int d = lane + 32 * i;
    if (d < a.head_dim) o[d] = acc[i] * inv_l;
  }
  if (lane == 0) lse[((long long)b * a.heads + h) * a.tq + t] = m + logf(l);
}

// D[b,h,t] = dout . out, the softmax backward's row term, shared by the dq and dk/dv kernels.
__global__ void attention_backward_rowdot_kernel(float* D, const float* dout, const float* out, AttnPtrs a) {
  const int lane = threadIdx.x % 32;
  const long long row = blockIdx.x * (long long)kAttnWarpsPerBlock + threadIdx.x / 32;
  if (row >= (long long)a.batch * a.heads * a.tq) return;
  const int t = row % a.tq, h = (row / a.tq) % a.heads, b = row / ((long long)a.tq * a.heads);
  const long long base = (((long long)b * a.tq + t) * a.heads + h) * a.head_dim;
  float s = 0.0f;
  for (int d = lane; d < a.head_dim; d += 32) s += dout[base + d] * out[base + d];
  s = warp_sum(s);
  if (lane == 0) D[((long long)b * a.heads + h) * a.tq + t] = s;
}

__global__ void attention_backward_dq_kernel(float* dq, const float* dout, const float* lse, const float* D,
                                             const float* q, const float* k, const float* v, AttnPtrs a) {
  const int lane = threadIdx.x % 32;
  const long long row = blockIdx.x * (long long)kAttnWarpsPerBlock + threadIdx.x / 32;
  if (row >= (long long)a.batch * a.heads * a.tq) return;
  const int t = row % a.tq, h = (row / a.tq) % a.heads, b = row / ((long long)a.tq * a.heads);
  const int g = h / (a.heads / a.kv_heads);
  const int last = (a.tk - a.tq) + t;
  const long long stat = ((long long)b * a.heads + h) * a.tq + t;
  const float lse_t = lse[stat], D_t = D[stat];

  float qr[kAttnMaxDimsPerLane], dor[kAttnMaxDimsPerLane], acc[kAttnMaxDimsPerLane] = {};
  warp_load(qr, q + b * a.q_batch + t * a.q_row + (long long)h * a.head_dim, a.head_dim, lane);
  warp_load(dor, dout + (((long long)b * a.tq + t) * a.heads + h) * a.head_dim, a.head_dim, lane);
  for (int j = 0; j <= last; j++) {
    const float* kj = k + b * a.k_batch + j * a.k_row + (long long)g * a.head_dim;
    const float* vj = v + b * a.v_batch + j * a.v_row + (long long)g * a.head_dim;
    float p = expf(warp_dot(qr, kj, a.head_dim, lane) * a.scale - lse_t);
    float ds = p * (warp_dot(dor, vj, a.head_dim, lane) - D_t) * a.scale;
#pragma unroll
    for (int i = 0; i < kAttnMaxDimsPerLane; i++) {
      int d = lane + 32 * i;
      if (d < a.head_dim) acc[i] += ds * kj[d];
    }
  }
  float* dqr = dq + b * a.q_batch + t * a.q_row + (long long)h * a.head_dim;
#pragma unroll
  for (int i = 0; i < kAttnMaxDimsPerLane; i++) {
    int d = lane + 32 * i;
    if (d < a.head_dim) dqr[d] += acc[i];
  }
}

// One warp per key: it gathers from every query (of every head in its group) that sees the key,
// so dk and dv are updated once, without atomics, and the result does not depend on timing.
__global__ void attention_backward_dkdv_kernel(float* dk, float* dv, const float* dout, const float* lse,
                                               const float* D, const float* q, const float* k, const float* v,
                                               AttnPtrs a) {
  const int lane = threadIdx.x % 32;
  const long long row = blockIdx.x * (long long)kAttnWarpsPerBlock + threadIdx.x / 32;
  if (row >= (long long)a.batch * a.kv_heads * a.tk) return;
  const int j = row % a.tk, g = (row / a.tk) % a.kv_heads, b = row / ((long long)a.tk * a.kv_heads);
  const int group = a.heads / a.kv_heads;
  const int first_t = max(0, j - (a.tk - a.tq));  // the first query that sees key j

  float kr[kAttnMaxDimsPerLane], vr[kAttnMaxDimsPerLane];
  float dkr[kAttnMaxDimsPerLane] = {}, dvr[kAttnMaxDimsPerLane] = {};
  warp_load(kr, k + b * a.k_batch + j * a.k_row + (long long)g * a.head_dim, a.head_dim, lane);
  warp_load(vr, v + b * a.v_batch + j * a.v_row + (long long)g * a.head_dim, a.head_dim, lane);
  for (int h = g * group; h < (g + 1) * group; h++) {
    for (int t = first_t; t < a.tq; t++) {
      const float* qt = q + b * a.q_batch + t * a.q_row + (long long)h * a.head_dim;
      const float* dot = dout + (((long long)b * a.tq + t) * a.heads + h) * a.head_dim;
      const long long stat = ((long long)b * a.heads + h) * a.tq + t;
      float p = expf(warp_dot(kr, qt, a.head_dim, lane) * a.scale - lse[stat]);
      float ds = p * (warp_dot(vr, dot, a.head_dim, lane) - D[stat]) * a.scale;
#pragma unroll
      for (int i = 0; i < kAttnMaxDimsPerLane; i++) {
        int d = lane + 32 * i;
        if (d < a.head_dim) {
          dvr[i] += p * dot[d];
          dkr[i] += ds * qt[d];
        }
      }
    }
  }
  float* dkj = dk + b * a.k_batch + j * a.k_row + (long long)g * a.head_dim;
  float* dvj = dv + b * a.v_batch + j * a.v_row + (long long)g * a.head_dim;
#pragma unroll
  for (int i = 0; i < kAttnMaxDimsPerLane; i++) {
    int d = lane + 32 * i;
    if (d < a.head_dim) {
      dkj[d] += dkr[i];
      dvj[d] += dvr[i];
    }
  }
}

// ----------------------------------------------------------------------------
// launchers

inline AttentionDims attention_dims_dense_impl(int batch, int t, int heads, int kv_heads, int head_dim) {
  const long long qc = (long long)heads * head_dim, kc = (long long)kv_heads * head_dim;
  return {batch, t, t, heads, kv_heads, head_dim, t * qc, qc, t * kc, kc, t * kc, kc};
}

inline AttentionDims attention_dims_fused_qkv_impl(int batch, int t, int heads, int head_dim) {
  const long long row = 3LL * heads * head_dim;
  return {batch, t, t, heads, heads, head_dim, t * row, row, t * row, row, t * row, row};
}

inline void check_attention(const AttentionDims& d) {
  if (d.batch < 0 || d.tq < 0 || d.tk < d.tq || d.heads <= 0 || d.kv_heads <= 0 || d.heads % d.kv_heads != 0 ||
      d.head_dim <= 0 || d.head_dim > 32 * kAttnMaxDimsPerLane)
    throw std::invalid_argument("attention: need 0 <= tq <= tk, heads a multiple of kv_heads, 0 < head_dim <= 256");
}

inline int attention_blocks(long long rows) {
  long long blocks = ceil_div_ll(rows, kAttnWarpsPerBlock);
  if (blocks > 2147483647LL) throw std::invalid_argument("attention: too many rows for one launch");
  return static_cast<int>(blocks);
}

inline void attention_forward_impl(float* out, float* lse, const float* q, const float* k, const float* v,
                                   const AttentionDims& dims) {
  check_attention(dims);
  const long long rows = (long long)dims.batch * dims.heads * dims.tq;
  if (rows == 0) return;
  attention_forward_kernel<<<attention_blocks(rows), kAttnWarpsPerBlock * 32>>>(out, lse, q, k, v, attn_ptrs(dims));
  CUDA_CHECK_LAUNCH("attention_forward_kernel");
}

inline void attention_backward_impl(float* dq, float* dk, float* dv, float* scratch, const float* dout,
                                    const float* out, const float* lse, const float* q, const float* k, const float* v,
                                    const AttentionDims& dims) {
  check_attention(dims);
  const long long rows = (long long)dims.batch * dims.heads * dims.tq;
  if (rows == 0) return;
  const AttnPtrs a = attn_ptrs(dims);
  attention_backward_rowdot_kernel<<<attention_blocks(rows), kAttnWarpsPerBlock * 32>>>(scratch, dout, out, a);
  CUDA_CHECK_LAUNCH("attention_backward_rowdot_kernel");
  attention_backward_dq_kernel<<<attention_blocks(rows), kAttnWarpsPerBlock * 32>>>(dq, dout, lse, scratch, q, k, v, a);
  CUDA_CHECK_LAUNCH("attention_backward_dq_kernel");
  const long long key_rows = (long long)dims.batch * dims.kv_heads * dims.tk;
  attention_backward_dkdv_kernel<<<attention_blocks(key_rows), kAttnWarpsPerBlock * 32>>>(dk, dv, dout, lse, scratch, q,
                                                                                          k, v, a);
  CUDA_CHECK_LAUNCH("attention_backward_dkdv_kernel");
}

}  // namespace cuda
}  // namespace arclight
