// A host emulation of cuda_backend.h: every launcher CudaModel (cuda_model.cpp) calls, as plain
// loops over host memory with the header's exact contracts (= vs +=, strides, aliasing, bf16
// operand rounding in BF16 mode). Linked instead of libarclight_cuda.a into test_model_host, it
// runs the full-model parity test on a machine without a GPU, which checks CudaModel's own logic
// (padding, gathering, KV cache layout, strides, backward order, optimizer wiring). The kernels
// themselves are checked on a device by test_kernels; this file is no substitute for that.
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <new>
#include <stdexcept>
#include <vector>

#include "../../src/activations.h"
#include "../../src/layernorm.h"
#include "../../src/rope.h"
#include "../cuda_backend.h"
#include "cpu_reference.h"

int arclight_cuda_device_count() noexcept { return 1; }

namespace arclight {
namespace cuda {

namespace {
float bf16_to_float(uint16_t h) {
  const uint32_t u = (uint32_t)h << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
uint16_t float_to_bf16(float x) {
  const float r = ref::round_bf16(x);
  uint32_t u;
  std::memcpy(&u, &r, 4);
  return (uint16_t)(u >> 16);
}
// Operand element i of a weight that may be fp32 or bf16, rounded to bf16 in BF16 mode.
float wat(const void* w, DType t, size_t i, MathMode mode) {
  const float x =
      t == DType::BF16 ? bf16_to_float(static_cast<const uint16_t*>(w)[i]) : static_cast<const float*>(w)[i];
  return mode == MathMode::BF16 ? ref::round_bf16(x) : x;
}
float op(float x, MathMode mode) { return mode == MathMode::BF16 ? ref::round_bf16(x) : x; }
std::vector<int> positions_of(const int* positions, int N, int T) {
  std::vector<int> p(N);
  for (int i = 0; i < N; i++) p[i] = positions ? positions[i] : i % T;
  return p;
}
}  // namespace

const char* unavailable_reason() noexcept { return ""; }
const char* device_description() { return "host emulation of cuda_backend.h (test/host_backend.cpp)"; }

void* device_alloc(std::size_t bytes) {
  void* p = std::malloc(bytes > 0 ? bytes : 1);
  if (!p) throw std::bad_alloc();
  std::memset(p, 0xff, bytes);  // NaN garbage, as fresh device memory may hold: reading it unwritten shows
  return p;
}
void device_free(void* ptr) noexcept { std::free(ptr); }
void copy_to_device(void* dst, const void* src, std::size_t bytes) { std::memcpy(dst, src, bytes); }
void copy_to_host(void* dst, const void* src, std::size_t bytes) { std::memcpy(dst, src, bytes); }
void copy_device(void* dst, const void* src, std::size_t bytes) { std::memmove(dst, src, bytes); }
void copy_device_rows(void* dst, std::size_t dpitch, const void* src, std::size_t spitch, std::size_t width,
                      std::size_t height) {
  if (width > dpitch || width > spitch) throw std::invalid_argument("copy_device_rows: width exceeds a pitch");
  for (size_t r = 0; r < height; r++)
    std::memcpy(static_cast<char*>(dst) + r * dpitch, static_cast<const char*>(src) + r * spitch, width);
}
void device_zero(void* ptr, std::size_t bytes) { std::memset(ptr, 0, bytes); }
void synchronize() {}

void matmul_forward(float* out, const float* inp, const void* weight, DType wt, const float* bias, int N, int C, int OC,
                    MathMode mode) {
  for (int n = 0; n < N; n++)
    for (int o = 0; o < OC; o++) {
      float s = 0;
      for (int c = 0; c < C; c++) s += op(inp[(size_t)n * C + c], mode) * wat(weight, wt, (size_t)o * C + c, mode);
      out[(size_t)n * OC + o] = s + (bias ? bias[o] : 0.0f);
    }
}
void matmul_backward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp, const void* weight,
                     DType wt, int N, int C, int OC, MathMode mode) {
  if (dinp)
    for (int n = 0; n < N; n++)
      for (int c = 0; c < C; c++) {
        float s = 0;
        for (int o = 0; o < OC; o++) s += op(dout[(size_t)n * OC + o], mode) * wat(weight, wt, (size_t)o * C + c, mode);
        dinp[(size_t)n * C + c] += s;
      }
  if (dweight)
    for (int o = 0; o < OC; o++)
      for (int c = 0; c < C; c++) {
        float s = 0;
        for (int n = 0; n < N; n++) s += op(dout[(size_t)n * OC + o], mode) * op(inp[(size_t)n * C + c], mode);
        dweight[(size_t)o * C + c] += s;
      }
  if (dbias)
    for (int o = 0; o < OC; o++) {
      float s = 0;
      for (int n = 0; n < N; n++) s += dout[(size_t)n * OC + o];
      dbias[o] += s;
    }
}

void logprob_entropy_forward(float* logprob, float* entropy, const float* logits, const int* targets, int N, int V) {
  for (int i = 0; i < N; i++) {
    const float* z = logits + (size_t)i * V;
    double mx = -INFINITY, sum = 0, h = 0;
    for (int j = 0; j < V; j++) mx = std::fmax(mx, (double)z[j]);
    for (int j = 0; j < V; j++) sum += std::exp((double)z[j] - mx);
    const double lse = mx + std::log(sum);
    for (int j = 0; j < V; j++) h -= std::exp((double)z[j] - lse) * ((double)z[j] - lse);
    if (logprob) logprob[i] = targets[i] < 0 ? 0.0f : (float)((double)z[targets[i]] - lse);
    if (entropy) entropy[i] = (float)h;
  }
}
void logprob_entropy_backward(float* dlogits, const float* logits, const int* targets, const float* dlogprob,
                              const float* dentropy, int N, int V) {
  std::vector<double> lp(V);
  for (int i = 0; i < N; i++) {
    const float* z = logits + (size_t)i * V;
    double mx = -INFINITY, sum = 0, h = 0;
    for (int j = 0; j < V; j++) mx = std::fmax(mx, (double)z[j]);
    for (int j = 0; j < V; j++) sum += std::exp((double)z[j] - mx);
    const double lse = mx + std::log(sum);
    for (int j = 0; j < V; j++) {
      lp[j] = (double)z[j] - lse;
      h -= std::exp(lp[j]) * lp[j];
    }
    const double gl = targets[i] < 0 ? 0.0 : dlogprob[i], ge = dentropy ? dentropy[i] : 0.0;
    for (int j = 0; j < V; j++) {
      const double p = std::exp(lp[j]);
      dlogits[(size_t)i * V + j] = (float)(gl * ((j == targets[i] ? 1.0 : 0.0) - p) - ge * p * (lp[j] + h));
    }
  }
}

void layernorm_forward(float* out, float* mean, float* rstd, const float* inp, const float* w, const float* b, int N,
                       int C, float eps) {
  layernorm_forward_cpu<float>(out, mean, rstd, inp, w, b, N, C, eps);
}
void layernorm_backward(float* dinp, float* dw, float* db, const float* dout, const float* inp, const float* w,
                        const float* mean, const float* rstd, int N, int C) {
  layernorm_backward_cpu<float>(dinp, dw, db, dout, inp, w, mean, rstd, N, C);
}
void rmsnorm_forward(float* out, float* rstd, const float* inp, const float* w, int N, int C, float eps) {
  rmsnorm_forward_cpu<float>(out, rstd, inp, w, N, C, eps);
}
void rmsnorm_backward(float* dinp, float* dw, const float* dout, const float* inp, const float* w, const float* rstd,
                      int N, int C) {
  rmsnorm_backward_cpu<float>(dinp, dw, dout, inp, w, rstd, N, C);
}
void gelu_forward(float* out, const float* inp, long long n) { gelu_forward_cpu<float>(out, inp, (size_t)n); }
void gelu_backward(float* dinp, const float* inp, const float* dout, long long n) {
  gelu_backward_cpu<float>(dinp, inp, dout, (size_t)n);
}
void swiglu_forward(float* out, const float* gate, const float* up, int N, int F, int ld) {
  for (int i = 0; i < N; i++)
    for (int j = 0; j < F; j++) {
      const float g = gate[(size_t)i * ld + j], u = up[(size_t)i * ld + j];
      out[(size_t)i * F + j] = g / (1.0f + std::exp(-g)) * u;
    }
}
void swiglu_backward(float* dgate, float* dup, const float* dout, const float* gate, const float* up, int N, int F,
                     int ld) {
  for (int i = 0; i < N; i++)
    for (int j = 0; j < F; j++) {
      const float g = gate[(size_t)i * ld + j], u = up[(size_t)i * ld + j], d = dout[(size_t)i * F + j];
      const float sig = 1.0f / (1.0f + std::exp(-g));
      dgate[(size_t)i * ld + j] += d * u * sig * (1.0f + g * (1.0f - sig));
      dup[(size_t)i * ld + j] += d * g * sig;
    }
}
void add_inplace(float* a, const float* b, long long n) {
  for (long long i = 0; i < n; i++) a[i] += b[i];
}
void convert_to_bf16(uint16_t* out, const float* inp, long long n) {
  for (long long i = 0; i < n; i++) out[i] = float_to_bf16(inp[i]);
}

void rope_forward(float* x, const int* positions, int N, int T, int heads, int head_dim, int ld, float theta) {
  const std::vector<int> p = positions_of(positions, N, T);
  rope_forward_cpu<float>(x, (size_t)ld, N, heads, head_dim, p.data(), theta);
}
void rope_backward(float* dx, const int* positions, int N, int T, int heads, int head_dim, int ld, float theta) {
  const std::vector<int> p = positions_of(positions, N, T);
  rope_backward_cpu<float>(dx, (size_t)ld, N, heads, head_dim, p.data(), theta);
}

AttentionDims attention_dims_dense(int batch, int t, int heads, int kv_heads, int head_dim) {
  const long long qc = (long long)heads * head_dim, kc = (long long)kv_heads * head_dim;
  return {batch, t, t, heads, kv_heads, head_dim, t * qc, qc, t * kc, kc, t * kc, kc};
}
AttentionDims attention_dims_fused_qkv(int batch, int t, int heads, int head_dim) {
  const long long row = 3LL * heads * head_dim;
  return {batch, t, t, heads, heads, head_dim, t * row, row, t * row, row, t * row, row};
}

namespace {
void check_dims(const AttentionDims& d) {
  if (d.batch < 0 || d.tq < 0 || d.tk < d.tq || d.heads <= 0 || d.kv_heads <= 0 || d.heads % d.kv_heads != 0 ||
      d.head_dim <= 0 || d.head_dim > 256)
    throw std::invalid_argument("attention: need 0 <= tq <= tk, heads a multiple of kv_heads, 0 < head_dim <= 256");
}
struct Att {
  const AttentionDims& d;
  const float* Q(const float* q, int b, int t, int h) const {
    return q + b * d.q_batch + t * d.q_row + (long long)h * d.head_dim;
  }
  const float* K(const float* k, int b, int j, int g) const {
    return k + b * d.k_batch + j * d.k_row + (long long)g * d.head_dim;
  }
  const float* Vv(const float* v, int b, int j, int g) const {
    return v + b * d.v_batch + j * d.v_row + (long long)g * d.head_dim;
  }
  long long O(int b, int t, int h) const { return (((long long)b * d.tq + t) * d.heads + h) * d.head_dim; }
  float dot(const float* a, const float* c) const {
    float s = 0;
    for (int i = 0; i < d.head_dim; i++) s += a[i] * c[i];
    return s;
  }
};
}  // namespace

void attention_forward(float* out, float* lse, const float* q, const float* k, const float* v, const AttentionDims& d) {
  check_dims(d);
  const Att a{d};
  const float scale = 1.0f / std::sqrt((float)d.head_dim);
  std::vector<float> s(d.tk);
  for (int b = 0; b < d.batch; b++)
    for (int h = 0; h < d.heads; h++)
      for (int t = 0; t < d.tq; t++) {
        const int g = h / (d.heads / d.kv_heads), last = d.tk - d.tq + t;
        float mx = -INFINITY;
        for (int j = 0; j <= last; j++) {
          s[j] = a.dot(a.Q(q, b, t, h), a.K(k, b, j, g)) * scale;
          mx = std::fmax(mx, s[j]);
        }
        float sum = 0;
        for (int j = 0; j <= last; j++) sum += std::exp(s[j] - mx);
        const float l = mx + std::log(sum);
        lse[((long long)b * d.heads + h) * d.tq + t] = l;
        float* o = out + a.O(b, t, h);
        for (int i = 0; i < d.head_dim; i++) o[i] = 0;
        for (int j = 0; j <= last; j++) {
          const float p = std::exp(s[j] - l);
          const float* vj = a.Vv(v, b, j, g);
          for (int i = 0; i < d.head_dim; i++) o[i] += p * vj[i];
        }
      }
}
void attention_backward(float* dq, float* dk, float* dv, float* scratch, const float* dout, const float* out,
                        const float* lse, const float* q, const float* k, const float* v, const AttentionDims& d) {
  check_dims(d);
  const Att a{d};
  const float scale = 1.0f / std::sqrt((float)d.head_dim);
  for (int b = 0; b < d.batch; b++)
    for (int h = 0; h < d.heads; h++)
      for (int t = 0; t < d.tq; t++) {
        const long long st = ((long long)b * d.heads + h) * d.tq + t;
        scratch[st] = a.dot(dout + a.O(b, t, h), out + a.O(b, t, h));
        const int g = h / (d.heads / d.kv_heads), last = d.tk - d.tq + t;
        const float* qt = a.Q(q, b, t, h);
        const float* dot = dout + a.O(b, t, h);
        float* dqt = dq + (qt - q);
        for (int j = 0; j <= last; j++) {
          const float* kj = a.K(k, b, j, g);
          const float* vj = a.Vv(v, b, j, g);
          const float p = std::exp(a.dot(qt, kj) * scale - lse[st]);
          const float ds = p * (a.dot(dot, vj) - scratch[st]) * scale;
          float* dkj = dk + (kj - k);
          float* dvj = dv + (vj - v);
          for (int i = 0; i < d.head_dim; i++) {
            dqt[i] += ds * kj[i];
            dkj[i] += ds * qt[i];
            dvj[i] += p * dot[i];
          }
        }
      }
}

void adamw_update(float* params, uint16_t* bf16_copy, const float* grads, float* m, float* v, long long n,
                  const AdamWArgs& a) {
  if (a.step < 1) throw std::invalid_argument("adamw_update: step counts from 1");
  const float bc1 = (float)(1.0 - std::pow((double)a.beta1, a.step)),
              bc2 = (float)(1.0 - std::pow((double)a.beta2, a.step));
  for (long long i = 0; i < n; i++) {
    const float g = grads[i] * a.grad_scale;
    const float mi = a.beta1 * m[i] + (1.0f - a.beta1) * g;
    const float vi = a.beta2 * v[i] + (1.0f - a.beta2) * g * g;
    m[i] = mi;
    v[i] = vi;
    float p = params[i];
    p -= a.lr * ((mi / bc1) / (std::sqrt(vi / bc2) + a.eps) + a.weight_decay * p);
    params[i] = p;
    if (bf16_copy) bf16_copy[i] = float_to_bf16(p);
  }
}
void global_norm_squared(float* out, const float* grads, long long n) {
  double s = 0;
  for (long long i = 0; i < n; i++) s += (double)grads[i] * grads[i];
  out[0] += (float)s;
}

void encoder_forward(float* out, const int* tokens, const int* positions, const float* wte, const float* wpe, int N,
                     int T, int C) {
  for (int n = 0; n < N; n++)
    for (int c = 0; c < C; c++)
      out[(size_t)n * C + c] =
          wte[(size_t)tokens[n] * C + c] + (wpe ? wpe[(size_t)(positions ? positions[n] : n % T) * C + c] : 0.0f);
}
void encoder_backward(float* dwte, float* dwpe, const float* dout, const int* tokens, const int* positions, int N,
                      int T, int C) {
  for (int n = 0; n < N; n++)
    for (int c = 0; c < C; c++) {
      dwte[(size_t)tokens[n] * C + c] += dout[(size_t)n * C + c];
      if (dwpe) dwpe[(size_t)(positions ? positions[n] : n % T) * C + c] += dout[(size_t)n * C + c];
    }
}

}  // namespace cuda
}  // namespace arclight
