// The one translation unit of libarclight_cuda.a: includes every kernel file and exposes the
// launchers of cuda_backend.h to code compiled by a plain C++ compiler.
#include "cuda_backend.h"

#include <string>

#include "adamw.cuh"
#include "attention.cuh"
#include "cuda_common.cuh"
#include "encoder.cuh"
#include "gelu.cuh"
#include "layernorm.cuh"
#include "matmul.cuh"
#include "residual.cuh"
#include "rmsnorm.cuh"
#include "rope.cuh"
#include "softmax_ce.cuh"
#include "swiglu.cuh"

namespace {
std::string g_unavailable_reason = "device_count() was not called";
std::string g_device_description;
}  // namespace

int arclight_cuda_device_count() noexcept {
  std::string reason;
  int n = arclight::cuda::device_count_or_zero(&reason);
  try {
    g_unavailable_reason = n > 0 ? "" : reason;
  } catch (...) {
    // the count matters more than its explanation
  }
  return n;
}

namespace arclight {
namespace cuda {

const char* unavailable_reason() noexcept { return g_unavailable_reason.c_str(); }

const char* device_description() {
  cudaDeviceProp prop;
  CUDA_CHECK(cudaGetDeviceProperties(&prop, 0));
  g_device_description = std::string(prop.name) + " (sm_" + std::to_string(prop.major) + std::to_string(prop.minor) +
                         ", " + std::to_string(prop.multiProcessorCount) + " SMs)";
  return g_device_description.c_str();
}

void* device_alloc(std::size_t bytes) {
  void* p = nullptr;
  CUDA_CHECK(cudaMalloc(&p, bytes > 0 ? bytes : 1));
  return p;
}
void device_free(void* ptr) noexcept { (void)cudaFree(ptr); }
void copy_to_device(void* dst, const void* src, std::size_t bytes) {
  CUDA_CHECK(cudaMemcpy(dst, src, bytes, cudaMemcpyHostToDevice));
}
void copy_to_host(void* dst, const void* src, std::size_t bytes) {
  CUDA_CHECK(cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToHost));
}
void device_zero(void* ptr, std::size_t bytes) { CUDA_CHECK(cudaMemset(ptr, 0, bytes)); }
void copy_device(void* dst, const void* src, std::size_t bytes) {
  if (bytes > 0) CUDA_CHECK(cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToDevice));
}
void copy_device_rows(void* dst, std::size_t dpitch, const void* src, std::size_t spitch, std::size_t width,
                      std::size_t height) {
  if (width > 0 && height > 0)
    CUDA_CHECK(cudaMemcpy2D(dst, dpitch, src, spitch, width, height, cudaMemcpyDeviceToDevice));
}
void synchronize() { CUDA_CHECK(cudaDeviceSynchronize()); }

void matmul_forward(float* out, const float* inp, const void* weight, DType weight_type, const float* bias, int N,
                    int C, int OC, MathMode mode) {
  matmul_forward_impl(out, inp, weight, weight_type, bias, N, C, OC, mode);
}
void matmul_backward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp, const void* weight,
                     DType weight_type, int N, int C, int OC, MathMode mode) {
  matmul_backward_impl(dinp, dweight, dbias, dout, inp, weight, weight_type, N, C, OC, mode);
}
void gemm(const GemmArgs& args, MathMode mode) { gemm_impl(args, mode); }

void logprob_entropy_forward(float* logprob, float* entropy, const float* logits, const int* targets, int N, int V) {
  logprob_entropy_forward_impl(logprob, entropy, logits, targets, N, V);
}
void logprob_entropy_backward(float* dlogits, const float* logits, const int* targets, const float* dlogprob,
                              const float* dentropy, int N, int V) {
  logprob_entropy_backward_impl(dlogits, logits, targets, dlogprob, dentropy, N, V);
}
void softmax_ce_forward_backward(float* losses, float* dlogits, const float* logits, const int* targets,
                                 const float* dloss, int N, int V) {
  softmax_ce_forward_backward_impl(losses, dlogits, logits, targets, dloss, N, V);
}

void layernorm_forward(float* out, float* mean, float* rstd, const float* inp, const float* weight, const float* bias,
                       int N, int C, float eps) {
  layernorm_forward_impl(out, mean, rstd, inp, weight, bias, N, C, eps);
}
void layernorm_backward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                        const float* weight, const float* mean, const float* rstd, int N, int C) {
  layernorm_backward_impl(dinp, dweight, dbias, dout, inp, weight, mean, rstd, N, C);
}
void rmsnorm_forward(float* out, float* rstd, const float* inp, const float* weight, int N, int C, float eps) {
  rmsnorm_forward_impl(out, rstd, inp, weight, N, C, eps);
}
void rmsnorm_backward(float* dinp, float* dweight, const float* dout, const float* inp, const float* weight,
                      const float* rstd, int N, int C) {
  rmsnorm_backward_impl(dinp, dweight, dout, inp, weight, rstd, N, C);
}

void gelu_forward(float* out, const float* inp, long long n) { gelu_forward_impl(out, inp, n); }
void gelu_backward(float* dinp, const float* inp, const float* dout, long long n) {
  gelu_backward_impl(dinp, inp, dout, n);
}
void swiglu_forward(float* out, const float* gate, const float* up, int N, int F, int ld) {
  swiglu_forward_impl(out, gate, up, N, F, ld);
}
void swiglu_backward(float* dgate, float* dup, const float* dout, const float* gate, const float* up, int N, int F,
                     int ld) {
  swiglu_backward_impl(dgate, dup, dout, gate, up, N, F, ld);
}
void add_inplace(float* a, const float* b, long long n) { add_inplace_impl(a, b, n); }
void convert_to_bf16(uint16_t* out, const float* inp, long long n) { convert_to_bf16_impl(out, inp, n); }

void rope_forward(float* x, const int* positions, int N, int T, int heads, int head_dim, int ld, float theta) {
  rope_impl(x, positions, N, T, heads, head_dim, ld, theta, 1.0f);
}
void rope_backward(float* dx, const int* positions, int N, int T, int heads, int head_dim, int ld, float theta) {
  rope_impl(dx, positions, N, T, heads, head_dim, ld, theta, -1.0f);
}

AttentionDims attention_dims_dense(int batch, int t, int heads, int kv_heads, int head_dim) {
  return attention_dims_dense_impl(batch, t, heads, kv_heads, head_dim);
}
AttentionDims attention_dims_fused_qkv(int batch, int t, int heads, int head_dim) {
  return attention_dims_fused_qkv_impl(batch, t, heads, head_dim);
}
void attention_forward(float* out, float* lse, const float* q, const float* k, const float* v,
                       const AttentionDims& dims) {
  attention_forward_impl(out, lse, q, k, v, dims);
}
void attention_backward(float* dq, float* dk, float* dv, float* scratch, const float* dout, const float* out,
                        const float* lse, const float* q, const float* k, const float* v, const AttentionDims& dims) {
  attention_backward_impl(dq, dk, dv, scratch, dout, out, lse, q, k, v, dims);
}

void adamw_update(float* params, uint16_t* bf16_copy, const float* grads, float* m, float* v, long long n,
                  const AdamWArgs& args) {
  adamw_update_impl(params, bf16_copy, grads, m, v, n, args);
}
void global_norm_squared(float* out, const float* grads, long long n) { global_norm_squared_impl(out, grads, n); }

void encoder_forward(float* out, const int* tokens, const int* positions, const float* wte, const float* wpe, int N,
                     int T, int C) {
  encoder_forward_impl(out, tokens, positions, wte, wpe, N, T, C);
}
void encoder_backward(float* dwte, float* dwpe, const float* dout, const int* tokens, const int* positions, int N,
                      int T, int C) {
  encoder_backward_impl(dwte, dwpe, dout, tokens, positions, N, T, C);
}

}  // namespace cuda
}  // namespace arclight
