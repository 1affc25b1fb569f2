// Arclight's CUDA backend as seen from plain C++ (g++): launchers over device memory, no CUDA types.
// Implemented in cuda_backend.cu, shipped as libarclight_cuda.a; link with cudart_static.
#pragma once

#include <cstddef>
#include <cstdint>

// Usable CUDA devices, 0 when there is no driver or no GPU (never throws, never exits).
int arclight_cuda_device_count() noexcept;

namespace arclight {
namespace cuda {

// Conventions, shared by every launcher below:
// - All pointers are device pointers (from device_alloc), row-major, fp32 unless named bf16.
//   bf16 values travel as uint16_t bit patterns so that this header needs no CUDA types.
// - Backward launchers accumulate (+=) into every gradient they are given, activation and parameter
//   gradients alike, as the CPU backend's references in native/src/*.h do: residual branches and
//   micro-batches then add up for free; zero each gradient buffer once before it is filled.
//   The softmax launchers are the exception: dlogits is written (=), so it may alias the logits.
//   Gradient outputs must not alias the inputs of the same call unless stated.
// - Everything runs on the default stream; launchers return without synchronising.
// - Bad shapes throw std::invalid_argument before anything is launched; CUDA failures throw
//   arclight::cuda::CudaError (a std::runtime_error) with the CUDA error name and the call site.
//   Launch errors surface at once; errors inside a kernel surface at the next synchronising call.

// Why the last arclight_cuda_device_count() found none, for "SKIP: no CUDA device (...)" messages.
const char* unavailable_reason() noexcept;
// Device 0 as "name (sm_XY, N SMs)", e.g. "NVIDIA H100 80GB HBM3 (sm_90, 132 SMs)".
const char* device_description();

void* device_alloc(std::size_t bytes);
void device_free(void* ptr) noexcept;
void copy_to_device(void* dst, const void* src, std::size_t bytes);
void copy_to_host(void* dst, const void* src, std::size_t bytes);
void device_zero(void* ptr, std::size_t bytes);
// Device to device: one block, and `height` rows of `width` bytes (row i at dst + i*dpitch from
// src + i*spitch), e.g. K/V rows from the fused qkv buffer into a KV cache.
void copy_device(void* dst, const void* src, std::size_t bytes);
void copy_device_rows(void* dst, std::size_t dpitch, const void* src, std::size_t spitch, std::size_t width,
                      std::size_t height);
void synchronize();

enum class MathMode {
  FP32,  // SIMT fp32 everywhere
  BF16,  // GEMM operands rounded to bf16 on the tensor cores, fp32 accumulation and outputs
};
enum class DType { F32, BF16 };

// ---- matmul.cuh: out[N,OC] = inp[N,C] @ weight[OC,C]^T + bias[OC] (bias may be null).
// weight may be fp32 or a bf16 copy (AdamW's bf16 shadow); in FP32 mode a bf16 weight is widened.
void matmul_forward(float* out, const float* inp, const void* weight, DType weight_type, const float* bias, int N,
                    int C, int OC, MathMode mode);
// dinp += dout @ weight; dweight += dout^T @ inp; dbias += colsum(dout); each skipped when null.
void matmul_backward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp, const void* weight,
                     DType weight_type, int N, int C, int OC, MathMode mode);
// General GEMM behind the two above: C[M,N] = (accumulate ? C : 0) + op(A) @ op(B) (+ bias[N]).
// op(A)[m,k] = transA ? A[k*lda+m] : A[m*lda+k];  op(B)[k,n] = transB ? B[n*ldb+k] : B[k*ldb+n].
struct GemmArgs {
  float* c;
  const void* a;
  const void* b;
  const float* bias;
  DType a_type, b_type;
  int m, n, k, lda, ldb, ldc;
  bool trans_a, trans_b, accumulate;
};
void gemm(const GemmArgs& args, MathMode mode);

// ---- softmax_ce.cuh: one row of `logits` per token, V columns. targets[i] < 0 ignores token i.
// logprob[i] = log softmax(logits_i)[targets_i];  entropy[i] = -sum_v p_v log p_v (may be null).
void logprob_entropy_forward(float* logprob, float* entropy, const float* logits, const int* targets, int N, int V);
// dlogits_i = dlogprob_i * (onehot(t_i) - p) + dentropy_i * dH/dlogits_i  (dentropy may be null).
// dlogits may alias logits: each element is read before it is overwritten by the same thread.
void logprob_entropy_backward(float* dlogits, const float* logits, const int* targets, const float* dlogprob,
                              const float* dentropy, int N, int V);
// Fused masked cross-entropy: losses[i] = -log p(t_i) (0 for ignored tokens), and when dlogits is
// not null, dlogits_i = dloss_i * (p - onehot(t_i)). dloss carries the mask and the normalisation.
void softmax_ce_forward_backward(float* losses, float* dlogits, const float* logits, const int* targets,
                                 const float* dloss, int N, int V);

// ---- layernorm.cuh: out = (x - mean) * rstd * weight + bias; mean/rstd [N] saved for backward.
void layernorm_forward(float* out, float* mean, float* rstd, const float* inp, const float* weight, const float* bias,
                       int N, int C, float eps);
void layernorm_backward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                        const float* weight, const float* mean, const float* rstd, int N, int C);

// ---- rmsnorm.cuh: out = x * rstd * weight, rstd = 1/sqrt(mean(x^2) + eps).
void rmsnorm_forward(float* out, float* rstd, const float* inp, const float* weight, int N, int C, float eps);
void rmsnorm_backward(float* dinp, float* dweight, const float* dout, const float* inp, const float* weight,
                      const float* rstd, int N, int C);

// ---- gelu.cuh (tanh approximation): elementwise; out may alias inp in the forward.
void gelu_forward(float* out, const float* inp, long long n);
void gelu_backward(float* dinp, const float* inp, const float* dout, long long n);
// ---- swiglu.cuh: out[N,F] = silu(gate) * up, where gate and up are rows of stride ld:
// separate buffers (ld = F) or one fused [gate | up] buffer (gate = buf, up = buf + F, ld = 2F).
// dgate/dup use the same stride (dgate = dbuf, dup = dbuf + F for the fused layout).
void swiglu_forward(float* out, const float* gate, const float* up, int N, int F, int ld);
void swiglu_backward(float* dgate, float* dup, const float* dout, const float* gate, const float* up, int N, int F,
                     int ld);

// ---- residual.cuh: the residual stream, a[i] += b[i].
void add_inplace(float* a, const float* b, long long n);
// ---- adamw.cuh: bf16 copy of fp32 values (round to nearest even), e.g. weights for bf16 mode.
void convert_to_bf16(uint16_t* out, const float* inp, long long n);

// ---- rope.cuh: rotate-half RoPE (Qwen2/HF layout) in place on x[N, heads, head_dim] rows with a
// row stride of `ld` floats (so q and k inside a fused qkv buffer work). positions[N] (null: i % T).
void rope_forward(float* x, const int* positions, int N, int T, int heads, int head_dim, int ld, float theta);
// The inverse rotation, applied in place to the gradient.
void rope_backward(float* dx, const int* positions, int N, int T, int heads, int head_dim, int ld, float theta);

// ---- attention.cuh: causal scaled-dot-product attention with grouped-query heads.
// Query t of sequence b sits at position (tk - tq) + t and sees keys 0..(tk - tq) + t.
// q[b,t,h,:] = q[b*q_batch + t*q_row + h*head_dim + d], likewise k/v with kv_heads; out is dense
// [B, tq, heads, head_dim]. lse[B, heads, tq] (log-sum-exp of the scaled scores) is saved for backward.
struct AttentionDims {
  int batch, tq, tk, heads, kv_heads, head_dim;
  long long q_batch, q_row, k_batch, k_row, v_batch, v_row;
};
// Strides for dense [B, T, heads*head_dim] q and [B, T, kv_heads*head_dim] k, v.
AttentionDims attention_dims_dense(int batch, int t, int heads, int kv_heads, int head_dim);
// Strides for GPT-2's fused qkv rows [B, T, 3*C]: q, k, v are qkv, qkv + C, qkv + 2C.
AttentionDims attention_dims_fused_qkv(int batch, int t, int heads, int head_dim);
void attention_forward(float* out, float* lse, const float* q, const float* k, const float* v,
                       const AttentionDims& dims);
// dq, dk, dv share the strides of q, k, v (+=; the parts of a fused buffer between them are left
// alone). scratch needs batch*heads*tq floats.
void attention_backward(float* dq, float* dk, float* dv, float* scratch, const float* dout, const float* out,
                        const float* lse, const float* q, const float* k, const float* v, const AttentionDims& dims);

// ---- adamw.cuh: decoupled weight decay, PyTorch's AdamW semantics. grad is multiplied by
// grad_scale first (global-norm clipping). step counts from 1. bf16_copy (may be null) receives
// the updated parameters rounded to bf16 for the bf16 GEMMs; params stay the fp32 master copy.
struct AdamWArgs {
  float lr, beta1, beta2, eps, weight_decay, grad_scale;
  int step;
};
void adamw_update(float* params, uint16_t* bf16_copy, const float* grads, float* m, float* v, long long n,
                  const AdamWArgs& args);
// out[0] += sum(grads^2); zero out[0] first, call once per gradient tensor, sqrt on the host.
void global_norm_squared(float* out, const float* grads, long long n);

// ---- encoder.cuh: out[b,t,:] = wte[tokens[b,t],:] + wpe[pos,:] (wpe may be null, as in Qwen2).
// positions[N] (null: i % T). Token ids must lie in [0, vocab): they are checked by the caller.
void encoder_forward(float* out, const int* tokens, const int* positions, const float* wte, const float* wpe, int N,
                     int T, int C);
void encoder_backward(float* dwte, float* dwpe, const float* dout, const int* tokens, const int* positions, int N,
                      int T, int C);

}  // namespace cuda
}  // namespace arclight
