// Parity test of every CUDA kernel against the plain C++ references (native/src/*.h in double,
// cpu_reference.h), then one full training step of a tiny GPT-2 block. No Node, no GPU needed to build.
//
// Usage: test_kernels [--self-check | --bench]  (--self-check needs no GPU: it checks the block
// reference by central differences; --bench times the GEMMs).
// Output: one "PASS|FAIL name ..." line per check and "RESULT: P passed, F failed on DEVICE";
// "SKIP: no CUDA device (reason)" and exit 0 when there is no device. Exit 1 on any failure.
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <exception>
#include <memory>
#include <string>
#include <vector>

#include "../cuda_backend.h"
#include "cpu_reference.h"
// The CPU backend's own kernels, so the GPU is checked against the code the CPU backend runs.
#include "../../src/activations.h"
#include "../../src/adamw.h"
#include "../../src/attention.h"
#include "../../src/layernorm.h"
#include "../../src/matmul.h"
#include "../../src/rope.h"

namespace cu = arclight::cuda;
namespace ref = arclight::ref;
using std::vector;
using vec = vector<float>;
using dvec = vector<double>;

// ----------------------------------------------------------------------------
// helpers

struct Rng {
  uint64_t s;
  explicit Rng(uint64_t seed) : s(seed) {}
  uint64_t next() {  // splitmix64
    uint64_t z = (s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  float uniform(float lo, float hi) { return lo + (hi - lo) * (float)((next() >> 40) * (1.0 / 16777216.0)); }
  int below(int n) { return (int)(next() % (uint64_t)n); }
  vec vector(size_t n, float lo = -1.0f, float hi = 1.0f) {
    vec v(n);
    for (auto& x : v) x = uniform(lo, hi);
    return v;
  }
};

// Device buffer that frees itself, so an exception mid-test leaks nothing.
template <typename T>
struct Dev {
  T* p = nullptr;
  size_t n = 0;
  explicit Dev(size_t count) : p(static_cast<T*>(cu::device_alloc(count * sizeof(T)))), n(count) {
    cu::device_zero(p, n * sizeof(T));
  }
  explicit Dev(const vector<T>& h) : Dev(h.size()) { cu::copy_to_device(p, h.data(), n * sizeof(T)); }
  Dev(const Dev&) = delete;
  Dev& operator=(const Dev&) = delete;
  ~Dev() { cu::device_free(p); }
  vector<T> get() const {
    vector<T> h(n);
    cu::copy_to_host(h.data(), p, n * sizeof(T));
    return h;
  }
};

static int g_passed = 0, g_failed = 0;

// llm.c-style check: |got - ref| <= tol + |ref| * eps for every element; NaN always fails.
template <typename R>
bool check(const std::string& name, const vec& got, const vector<R>& want, double tol, double eps) {
  double max_abs = 0, max_rel = 0;
  size_t bad = 0, first_bad = 0;
  if (got.size() != want.size()) {
    std::printf("FAIL %-44s size %zu != %zu\n", name.c_str(), got.size(), want.size());
    g_failed++;
    return false;
  }
  for (size_t i = 0; i < got.size(); i++) {
    const double r = (double)want[i], err = std::fabs((double)got[i] - r);
    if (!(err <= tol + std::fabs(r) * eps)) {
      if (bad++ == 0) first_bad = i;
    }
    if (!(err <= max_abs)) max_abs = err;
    if (std::fabs(r) > tol && err / std::fabs(r) > max_rel) max_rel = err / std::fabs(r);
  }
  const bool ok = bad == 0;
  std::printf("%s %-44s n=%-8zu max_abs=%.2e max_rel=%.2e (tol %.0e + %.0e*|ref|)", ok ? "PASS" : "FAIL", name.c_str(),
              got.size(), max_abs, max_rel, tol, eps);
  if (!ok)
    std::printf(" %zu bad, first [%zu] got %.8g want %.8g", bad, first_bad, (double)got[first_bad],
                (double)want[first_bad]);
  std::printf("\n");
  (ok ? g_passed : g_failed)++;
  return ok;
}

static dvec to_d(const vec& v) { return dvec(v.begin(), v.end()); }
static vec rounded_bf16(const vec& v) {
  vec r(v.size());
  for (size_t i = 0; i < v.size(); i++) r[i] = ref::round_bf16(v[i]);
  return r;
}
static double rms(const dvec& v) {
  double s = 0;
  for (double x : v) s += x * x;
  return v.empty() ? 0.0 : std::sqrt(s / v.size());
}
static std::string shape(const char* kernel, std::initializer_list<int> dims) {
  std::string s = kernel;
  s += "[";
  bool first = true;
  for (int d : dims) {
    s += (first ? "" : "x") + std::to_string(d);
    first = false;
  }
  return s + "]";
}

// ----------------------------------------------------------------------------
// matmul

static void test_matmul(int N, int C, int OC, Rng& rng) {
  const vec inp = rng.vector((size_t)N * C), w = rng.vector((size_t)OC * C), b = rng.vector(OC);
  const vec dout = rng.vector((size_t)N * OC);
  // fp32 error grows with the reduction length: sqrt(K) ulps of the partial sums.
  const double tol_f = 2e-6 * std::sqrt((double)std::max(C, std::max(N, OC))) * 8, eps_f = 1e-5;

  for (int mode = 0; mode < 3; mode++) {  // 0: fp32, 1: bf16 tensor cores, 2: bf16 tensor cores + bf16 weight
    const bool bf16 = mode > 0;
    const vec x = bf16 ? rounded_bf16(inp) : inp, wr = bf16 ? rounded_bf16(w) : w;
    const vec dy = bf16 ? rounded_bf16(dout) : dout;
    dvec want_out((size_t)N * OC), want_dinp((size_t)N * C, 0.0), want_dw((size_t)OC * C, 0.0), want_db(OC, 0.0);
    {
      dvec dx = to_d(x), dwr = to_d(wr), db = to_d(b), ddy = to_d(dy);
      arclight::matmul_forward_cpu<double>(want_out.data(), dx.data(), dwr.data(), db.data(), N, C, OC);
      arclight::matmul_backward_cpu<double>(want_dinp.data(), want_dw.data(), nullptr, ddy.data(), dx.data(),
                                            dwr.data(), N, C, OC);
      // dbias sums the unrounded dout: it is a column sum, no tensor cores involved
      for (int n = 0; n < N; n++)
        for (int o = 0; o < OC; o++) want_db[o] += dout[(size_t)n * OC + o];
    }
    Dev<float> d_inp(inp), d_w(w), d_b(b), d_dout(dout), d_out((size_t)N * OC), d_dinp((size_t)N * C),
        d_dw((size_t)OC * C), d_db(OC);
    vector<uint16_t> w16(w.size());
    for (size_t i = 0; i < w.size(); i++) w16[i] = ref::bf16_bits(w[i]);
    Dev<uint16_t> d_w16(w16);
    const void* wp = mode == 2 ? (const void*)d_w16.p : (const void*)d_w.p;
    const cu::DType wt = mode == 2 ? cu::DType::BF16 : cu::DType::F32;
    const cu::MathMode mm = bf16 ? cu::MathMode::BF16 : cu::MathMode::FP32;
    cu::matmul_forward(d_out.p, d_inp.p, wp, wt, d_b.p, N, C, OC, mm);
    cu::matmul_backward(d_dinp.p, d_dw.p, d_db.p, d_dout.p, d_inp.p, wp, wt, N, C, OC, mm);
    cu::synchronize();
    // bf16 operands multiply exactly in fp32; what is left is the order of fp32 accumulation.
    const double tol = bf16 ? 4 * tol_f : tol_f, eps = bf16 ? 1e-4 : eps_f;
    const char* tag = mode == 0 ? "fp32" : mode == 1 ? "bf16" : "bf16w";
    check(shape("matmul_fwd", {N, C, OC}) + tag, d_out.get(), want_out, tol, eps);
    check(shape("matmul_bwd_dinp", {N, C, OC}) + tag, d_dinp.get(), want_dinp, tol, eps);
    check(shape("matmul_bwd_dweight", {N, C, OC}) + tag, d_dw.get(), want_dw, tol, eps);
    check(shape("matmul_bwd_dbias", {N, C, OC}) + tag, d_db.get(), want_db, tol_f, eps_f);
  }
}

// The GEMM with both operands transposed and accumulate on: a path the linear layers never take.
static void test_gemm_transposes(Rng& rng) {
  const int M = 45, N = 70, K = 33;
  const vec a = rng.vector((size_t)K * M), b = rng.vector((size_t)N * K), c0 = rng.vector((size_t)M * N);
  dvec want = to_d(c0);
  ref::gemm(want.data(), a.data(), b.data(), nullptr, M, N, K, M, K, N, true, true, true);
  for (int mode = 0; mode < 2; mode++) {
    Dev<float> d_a(a), d_b(b), d_c(c0);
    cu::GemmArgs g{d_c.p, d_a.p, d_b.p, nullptr, cu::DType::F32, cu::DType::F32, M, N, K, M, K, N, true, true, true};
    cu::gemm(g, mode ? cu::MathMode::BF16 : cu::MathMode::FP32);
    cu::synchronize();
    if (mode == 0) {
      check("gemm_tA_tB_acc[45x70x33]fp32", d_c.get(), want, 1e-5, 1e-5);
    } else {
      dvec want16 = to_d(c0);
      const vec a16 = rounded_bf16(a), b16 = rounded_bf16(b);
      ref::gemm(want16.data(), a16.data(), b16.data(), nullptr, M, N, K, M, K, N, true, true, true);
      check("gemm_tA_tB_acc[45x70x33]bf16", d_c.get(), want16, 1e-4, 1e-4);
    }
  }
}

// ----------------------------------------------------------------------------
// softmax / cross-entropy / logprob / entropy

static void test_softmax(int N, int V, Rng& rng) {
  const vec logits = rng.vector((size_t)N * V, -4.0f, 4.0f);
  vector<int> targets(N);
  vec dloss(N), dlogprob(N), dentropy(N);
  for (int i = 0; i < N; i++) {
    targets[i] = (i % 5 == 3) ? -1 : rng.below(V);  // some ignored tokens
    dloss[i] = (i % 4 == 1) ? 0.0f : 1.0f / N;      // and some masked ones
    dlogprob[i] = rng.uniform(-1, 1);
    dentropy[i] = rng.uniform(-1, 1);
  }
  dvec w_loss(N), w_dlogits((size_t)N * V), w_lp(N), w_ent(N), w_dlog2((size_t)N * V);
  ref::softmax_ce(w_loss.data(), w_dlogits.data(), logits.data(), targets.data(), dloss.data(), N, V);
  ref::logprob_entropy_forward(w_lp.data(), w_ent.data(), logits.data(), targets.data(), N, V);
  ref::logprob_entropy_backward(w_dlog2.data(), logits.data(), targets.data(), dlogprob.data(), dentropy.data(), N, V);

  Dev<float> d_logits(logits), d_dloss(dloss), d_dlp(dlogprob), d_dent(dentropy), d_loss(N), d_dlogits((size_t)N * V),
      d_lp(N), d_ent(N);
  Dev<int> d_t(targets);
  cu::softmax_ce_forward_backward(d_loss.p, d_dlogits.p, d_logits.p, d_t.p, d_dloss.p, N, V);
  cu::logprob_entropy_forward(d_lp.p, d_ent.p, d_logits.p, d_t.p, N, V);
  cu::synchronize();
  // Losses and entropies are O(log V); probabilities are O(1/V): absolute tolerances follow.
  check(shape("softmax_ce_loss", {N, V}), d_loss.get(), w_loss, 1e-5, 1e-5);
  check(shape("softmax_ce_dlogits", {N, V}), d_dlogits.get(), w_dlogits, 1e-7, 1e-4);
  check(shape("logprob_fwd", {N, V}), d_lp.get(), w_lp, 1e-5, 1e-5);
  check(shape("entropy_fwd", {N, V}), d_ent.get(), w_ent, 1e-5, 1e-5);
  // In place (dlogits aliasing logits), the way a vocabulary-sized buffer is reused.
  cu::logprob_entropy_backward(d_logits.p, d_logits.p, d_t.p, d_dlp.p, d_dent.p, N, V);
  cu::synchronize();
  // The two terms can cancel; the float error of H (an O(log V) difference) bounds the absolute error.
  check(shape("logprob_entropy_bwd_inplace", {N, V}), d_logits.get(), w_dlog2, 1e-6, 1e-4);
}

// ----------------------------------------------------------------------------
// norms, activations, rope, encoder

static void test_norms(int N, int C, Rng& rng) {
  const vec x = rng.vector((size_t)N * C, -2.0f, 3.0f), w = rng.vector(C, 0.5f, 1.5f), b = rng.vector(C);
  const vec dout = rng.vector((size_t)N * C);
  const float eps = 1e-5f;
  const dvec dx = to_d(x), dw = to_d(w), db = to_d(b), ddo = to_d(dout);
  {
    dvec out((size_t)N * C), mean(N), rstd(N), dinp((size_t)N * C, 0.0), dwt(C, 0.0), dbs(C, 0.0);
    arclight::layernorm_forward_cpu<double>(out.data(), mean.data(), rstd.data(), dx.data(), dw.data(), db.data(), N, C,
                                            eps);
    arclight::layernorm_backward_cpu<double>(dinp.data(), dwt.data(), dbs.data(), ddo.data(), dx.data(), dw.data(),
                                             mean.data(), rstd.data(), N, C);
    Dev<float> d_x(x), d_w(w), d_b(b), d_do(dout), d_out((size_t)N * C), d_mean(N), d_rstd(N), d_dinp((size_t)N * C),
        d_dw(C), d_db(C);
    cu::layernorm_forward(d_out.p, d_mean.p, d_rstd.p, d_x.p, d_w.p, d_b.p, N, C, eps);
    cu::layernorm_backward(d_dinp.p, d_dw.p, d_db.p, d_do.p, d_x.p, d_w.p, d_mean.p, d_rstd.p, N, C);
    cu::synchronize();
    check(shape("layernorm_fwd", {N, C}), d_out.get(), out, 1e-5, 1e-5);
    check(shape("layernorm_fwd_rstd", {N, C}), d_rstd.get(), rstd, 1e-6, 1e-5);
    check(shape("layernorm_bwd_dinp", {N, C}), d_dinp.get(), dinp, 1e-5, 1e-5);
    check(shape("layernorm_bwd_dweight", {N, C}), d_dw.get(), dwt, 1e-5 * std::sqrt((double)N), 1e-5);
    check(shape("layernorm_bwd_dbias", {N, C}), d_db.get(), dbs, 1e-5 * std::sqrt((double)N), 1e-5);
  }
  {
    dvec out((size_t)N * C), rstd(N), dinp((size_t)N * C, 0.0), dwt(C, 0.0);
    arclight::rmsnorm_forward_cpu<double>(out.data(), rstd.data(), dx.data(), dw.data(), N, C, eps);
    arclight::rmsnorm_backward_cpu<double>(dinp.data(), dwt.data(), ddo.data(), dx.data(), dw.data(), rstd.data(), N,
                                           C);
    Dev<float> d_x(x), d_w(w), d_do(dout), d_out((size_t)N * C), d_rstd(N), d_dinp((size_t)N * C), d_dw(C);
    cu::rmsnorm_forward(d_out.p, d_rstd.p, d_x.p, d_w.p, N, C, eps);
    cu::rmsnorm_backward(d_dinp.p, d_dw.p, d_do.p, d_x.p, d_w.p, d_rstd.p, N, C);
    cu::synchronize();
    check(shape("rmsnorm_fwd", {N, C}), d_out.get(), out, 1e-5, 1e-5);
    check(shape("rmsnorm_bwd_dinp", {N, C}), d_dinp.get(), dinp, 1e-5, 1e-5);
    check(shape("rmsnorm_bwd_dweight", {N, C}), d_dw.get(), dwt, 1e-5 * std::sqrt((double)N), 1e-5);
  }
}

static void test_activations(int N, int F, Rng& rng) {
  const size_t n = (size_t)N * F;
  {
    const vec x = rng.vector(n, -5.0f, 5.0f), dout = rng.vector(n);
    dvec out(n), dinp(n, 0.0);
    const dvec dx = to_d(x), ddo = to_d(dout);
    arclight::gelu_forward_cpu<double>(out.data(), dx.data(), n);
    arclight::gelu_backward_cpu<double>(dinp.data(), dx.data(), ddo.data(), n);
    Dev<float> d_x(x), d_do(dout), d_out(n), d_dinp(n);
    cu::gelu_forward(d_out.p, d_x.p, (long long)n);
    cu::gelu_backward(d_dinp.p, d_x.p, d_do.p, (long long)n);
    cu::synchronize();
    check(shape("gelu_fwd", {N, F}), d_out.get(), out, 1e-6, 1e-5);
    check(shape("gelu_bwd", {N, F}), d_dinp.get(), dinp, 1e-6, 1e-5);
  }
  {
    // fused [gate | up] rows, the CPU backend's layout
    const vec gu = rng.vector(2 * n, -5.0f, 5.0f), dout = rng.vector(n);
    dvec out(n), dgu(2 * n, 0.0);
    const dvec dgu_in = to_d(gu), ddo = to_d(dout);
    arclight::swiglu_forward_cpu<double>(out.data(), dgu_in.data(), N, F);
    arclight::swiglu_backward_cpu<double>(dgu.data(), dgu_in.data(), ddo.data(), N, F);
    Dev<float> d_gu(gu), d_do(dout), d_out(n), d_dgu(2 * n);
    cu::swiglu_forward(d_out.p, d_gu.p, d_gu.p + F, N, F, 2 * F);
    cu::swiglu_backward(d_dgu.p, d_dgu.p + F, d_do.p, d_gu.p, d_gu.p + F, N, F, 2 * F);
    cu::synchronize();
    check(shape("swiglu_fwd", {N, F}), d_out.get(), out, 1e-6, 1e-5);
    check(shape("swiglu_bwd", {N, F}), d_dgu.get(), dgu, 1e-6, 1e-5);
  }
}

static void test_rope(int B, int T, int heads, int D, bool explicit_positions, Rng& rng) {
  const int N = B * T, ld = heads * D + 8;  // a row stride wider than the heads, as in a qkv buffer
  const float theta = 1e6f;
  vector<int> pos(N);
  for (int i = 0; i < N; i++) pos[i] = explicit_positions ? 1000 + rng.below(3000) : i % T;
  const vec x = rng.vector((size_t)N * ld);
  dvec fwd = to_d(x), bwd = to_d(x);
  arclight::rope_forward_cpu<double>(fwd.data(), ld, N, heads, D, pos.data(), theta);
  arclight::rope_backward_cpu<double>(bwd.data(), ld, N, heads, D, pos.data(), theta);
  Dev<float> d_f(x), d_b(x);
  Dev<int> d_pos(pos);
  cu::rope_forward(d_f.p, explicit_positions ? d_pos.p : nullptr, N, T, heads, D, ld, theta);
  cu::rope_backward(d_b.p, explicit_positions ? d_pos.p : nullptr, N, T, heads, D, ld, theta);
  cu::synchronize();
  const char* tag = explicit_positions ? "pos" : "seq";
  check(shape("rope_fwd", {B, T, heads, D}) + tag, d_f.get(), fwd, 1e-6, 1e-5);
  check(shape("rope_bwd", {B, T, heads, D}) + tag, d_b.get(), bwd, 1e-6, 1e-5);
}

static void test_encoder(int B, int T, int C, int V, bool with_wpe, Rng& rng) {
  const int N = B * T;
  vector<int> tokens(N);
  for (int i = 0; i < N; i++) tokens[i] = rng.below(V < 5 ? V : 5);  // repeats, to exercise the atomics
  const vec wte = rng.vector((size_t)V * C), wpe = rng.vector((size_t)T * C), dout = rng.vector((size_t)N * C);
  dvec out((size_t)N * C), dwte((size_t)V * C, 0.0), dwpe((size_t)T * C, 0.0);
  ref::encoder_forward(out.data(), tokens.data(), (const int*)nullptr, wte.data(), with_wpe ? wpe.data() : nullptr, N,
                       T, C);
  ref::encoder_backward(dwte.data(), with_wpe ? dwpe.data() : nullptr, dout.data(), tokens.data(), (const int*)nullptr,
                        N, T, C);
  Dev<float> d_wte(wte), d_wpe(wpe), d_do(dout), d_out((size_t)N * C), d_dwte((size_t)V * C), d_dwpe((size_t)T * C);
  Dev<int> d_tok(tokens);
  cu::encoder_forward(d_out.p, d_tok.p, nullptr, d_wte.p, with_wpe ? d_wpe.p : nullptr, N, T, C);
  cu::encoder_backward(d_dwte.p, with_wpe ? d_dwpe.p : nullptr, d_do.p, d_tok.p, nullptr, N, T, C);
  cu::synchronize();
  const char* tag = with_wpe ? "wpe" : "nowpe";
  check(shape("encoder_fwd", {B, T, C}) + tag, d_out.get(), out, 1e-6, 1e-6);
  check(shape("encoder_bwd_dwte", {B, T, C}) + tag, d_dwte.get(), dwte, 1e-5, 1e-5);
  if (with_wpe) check(shape("encoder_bwd_dwpe", {B, T, C}) + tag, d_dwpe.get(), dwpe, 1e-5, 1e-5);
}

// ----------------------------------------------------------------------------
// attention

// Reference through the CPU backend's cache-shaped API: row i = (b, t) sees keys 0..pos of its
// sequence. q [B*tq, H*D], k/v [B*tk, KV*D] dense.
static void attention_ref_forward(dvec& out, dvec& att, const dvec& q, const dvec& k, const dvec& v, int B, int tq,
                                  int tk, int H, int KV, int D) {
  const int N = B * tq;
  vector<const double*> kc(N), vc(N);
  vector<int> pos(N);
  for (int i = 0; i < N; i++) {
    const int b = i / tq, t = i % tq;
    kc[i] = k.data() + (size_t)b * tk * KV * D;
    vc[i] = v.data() + (size_t)b * tk * KV * D;
    pos[i] = (tk - tq) + t;
  }
  out.assign((size_t)N * H * D, 0.0);
  att.assign((size_t)N * H * tk, 0.0);
  arclight::attention_forward_cpu<double>(out.data(), att.data(), tk, q.data(), kc.data(), vc.data(), pos.data(), N, H,
                                          KV, D);
}

static void test_attention(int B, int tq, int tk, int H, int KV, int D, Rng& rng) {
  const size_t qc = (size_t)H * D, kc = (size_t)KV * D;
  const vec q = rng.vector(B * tq * qc), k = rng.vector(B * tk * kc), v = rng.vector(B * tk * kc);
  const vec dout = rng.vector(B * tq * qc);
  dvec out, att;
  const dvec dq_in = to_d(q), dk_in = to_d(k), dv_in = to_d(v), ddo = to_d(dout);
  attention_ref_forward(out, att, dq_in, dk_in, dv_in, B, tq, tk, H, KV, D);
  cu::AttentionDims dims{B,
                         tq,
                         tk,
                         H,
                         KV,
                         D,
                         (long long)(tq * qc),
                         (long long)qc,
                         (long long)(tk * kc),
                         (long long)kc,
                         (long long)(tk * kc),
                         (long long)kc};
  Dev<float> d_q(q), d_k(k), d_v(v), d_do(dout), d_out(B * tq * qc), d_lse((size_t)B * H * tq);
  cu::attention_forward(d_out.p, d_lse.p, d_q.p, d_k.p, d_v.p, dims);
  cu::synchronize();
  check(shape("attention_fwd", {B, tq, tk, H, KV, D}), d_out.get(), out, 1e-5, 1e-5);
  if (tq != tk) return;  // the CPU backend's backward covers training shapes only
  const int T = tq;
  dvec dq(q.size(), 0.0), dk(k.size(), 0.0), dv(v.size(), 0.0);
  for (int b = 0; b < B; b++)
    arclight::attention_backward_cpu<double>(dq.data() + b * T * qc, dk.data() + b * T * kc, dv.data() + b * T * kc,
                                             ddo.data() + b * T * qc, att.data() + (size_t)b * T * H * T,
                                             dq_in.data() + b * T * qc, dk_in.data() + b * T * kc,
                                             dv_in.data() + b * T * kc, T, H, KV, D);
  Dev<float> d_dq(q.size()), d_dk(k.size()), d_dv(v.size()), d_scratch((size_t)B * H * T);
  cu::attention_backward(d_dq.p, d_dk.p, d_dv.p, d_scratch.p, d_do.p, d_out.p, d_lse.p, d_q.p, d_k.p, d_v.p, dims);
  cu::synchronize();
  const double tol = 1e-5 * std::sqrt((double)T * (H / KV));
  check(shape("attention_bwd_dq", {B, T, H, KV, D}), d_dq.get(), dq, tol, 1e-4);
  check(shape("attention_bwd_dk", {B, T, H, KV, D}), d_dk.get(), dk, tol, 1e-4);
  check(shape("attention_bwd_dv", {B, T, H, KV, D}), d_dv.get(), dv, tol, 1e-4);
}

// ----------------------------------------------------------------------------
// optimizer

static void test_adamw(size_t n, Rng& rng) {
  vec p = rng.vector(n), g = rng.vector(n), m(n, 0.0f), v(n, 0.0f);
  Dev<float> d_p(p), d_m(n), d_v(n), d_g(g), d_norm(1);
  Dev<uint16_t> d_16(n);
  arclight::OptimConfig o;
  o.lr = 1e-2;
  o.beta1 = 0.9;
  o.beta2 = 0.95;
  o.eps = 1e-8;
  o.weightDecay = 0.1;
  const double scale = 0.5;
  for (int step = 1; step <= 3; step++) {
    arclight::adamw_update_cpu<float>(p.data(), g.data(), m.data(), v.data(), n, o.lr, o, step, scale, true);
    cu::AdamWArgs a{(float)o.lr, (float)o.beta1, (float)o.beta2, (float)o.eps, (float)o.weightDecay, (float)scale,
                    step};
    cu::adamw_update(d_p.p, d_16.p, d_g.p, d_m.p, d_v.p, (long long)n, a);
  }
  cu::global_norm_squared(d_norm.p, d_g.p, (long long)n);
  cu::synchronize();
  const std::string sz = "[" + std::to_string(n) + "]";
  check("adamw_params" + sz, d_p.get(), p, 1e-6, 1e-5);
  check("adamw_m" + sz, d_m.get(), m, 1e-7, 1e-5);
  check("adamw_v" + sz, d_v.get(), v, 1e-8, 1e-5);
  vec from16(n);
  const vector<uint16_t> bits = d_16.get();
  for (size_t i = 0; i < n; i++) from16[i] = ref::bf16_to_float(bits[i]);
  check("adamw_bf16_copy" + sz, from16, rounded_bf16(d_p.get()), 0.0, 0.0);  // exactly the rounded master
  const double norm = arclight::grad_norm_cpu(g.data(), n);
  check("global_norm_squared" + sz, d_norm.get(), dvec{norm * norm}, 1e-6, 1e-5);
}

// ----------------------------------------------------------------------------
// one training step of a tiny GPT-2 block: embeddings, LN, fused-qkv attention, MLP, final LN,
// tied head, masked cross-entropy; forward loss and every parameter gradient

struct BlockShape {
  int B, T, C, H, V;
};

struct BlockParams {  // named as in GPT-2's checkpoints
  vec wte, wpe, ln1w, ln1b, qkvw, qkvb, attprojw, attprojb, ln2w, ln2b, fcw, fcb, fcprojw, fcprojb, lnfw, lnfb;
  vector<vec*> all() {
    return {&wte,  &wpe,  &ln1w, &ln1b, &qkvw,    &qkvb,    &attprojw, &attprojb,
            &ln2w, &ln2b, &fcw,  &fcb,  &fcprojw, &fcprojb, &lnfw,     &lnfb};
  }
  static vector<const char*> names() {
    return {"wte",  "wpe",  "ln1w", "ln1b", "qkvw",    "qkvb",    "attprojw", "attprojb",
            "ln2w", "ln2b", "fcw",  "fcb",  "fcprojw", "fcprojb", "lnfw",     "lnfb"};
  }
};

static BlockParams init_block(const BlockShape& s, Rng& rng) {
  const int C = s.C;
  BlockParams p;
  p.wte = rng.vector((size_t)s.V * C, -0.1f, 0.1f);
  p.wpe = rng.vector((size_t)s.T * C, -0.05f, 0.05f);
  p.ln1w = rng.vector(C, 0.8f, 1.2f);
  p.ln1b = rng.vector(C, -0.1f, 0.1f);
  p.qkvw = rng.vector((size_t)3 * C * C, -0.1f, 0.1f);
  p.qkvb = rng.vector(3 * C, -0.1f, 0.1f);
  p.attprojw = rng.vector((size_t)C * C, -0.1f, 0.1f);
  p.attprojb = rng.vector(C, -0.1f, 0.1f);
  p.ln2w = rng.vector(C, 0.8f, 1.2f);
  p.ln2b = rng.vector(C, -0.1f, 0.1f);
  p.fcw = rng.vector((size_t)4 * C * C, -0.1f, 0.1f);
  p.fcb = rng.vector(4 * C, -0.1f, 0.1f);
  p.fcprojw = rng.vector((size_t)4 * C * C, -0.1f, 0.1f);
  p.fcprojb = rng.vector(C, -0.1f, 0.1f);
  p.lnfw = rng.vector(C, 0.8f, 1.2f);
  p.lnfb = rng.vector(C, -0.1f, 0.1f);
  return p;
}

// CPU reference in double with the CPU backend's kernels. Returns the loss; grads in the order of all().
static double block_step_cpu(const BlockShape& s, BlockParams& pf, const vector<int>& tokens,
                             const vector<int>& targets, const vec& dloss, vector<dvec>& grads) {
  const int B = s.B, T = s.T, C = s.C, H = s.H, V = s.V, N = B * T, D = C / H;
  vector<dvec> P;
  for (vec* v : pf.all()) P.push_back(to_d(*v));
  enum { WTE, WPE, LN1W, LN1B, QKVW, QKVB, APW, APB, LN2W, LN2B, FCW, FCB, FPW, FPB, LNFW, LNFB };
  grads.assign(P.size(), dvec());
  for (size_t i = 0; i < P.size(); i++) grads[i].assign(P[i].size(), 0.0);
  const double eps = 1e-5;
  auto Z = [](size_t n) { return dvec(n, 0.0); };
  dvec x0 = Z((size_t)N * C), ln1 = Z((size_t)N * C), m1 = Z(N), r1 = Z(N), qkv = Z((size_t)N * 3 * C);
  ref::encoder_forward(x0.data(), tokens.data(), (const int*)nullptr, P[WTE].data(), P[WPE].data(), N, T, C);
  arclight::layernorm_forward_cpu<double>(ln1.data(), m1.data(), r1.data(), x0.data(), P[LN1W].data(), P[LN1B].data(),
                                          N, C, eps);
  arclight::matmul_forward_cpu<double>(qkv.data(), ln1.data(), P[QKVW].data(), P[QKVB].data(), N, C, 3 * C);
  dvec q = Z((size_t)N * C), k = Z((size_t)N * C), v = Z((size_t)N * C);
  for (int i = 0; i < N; i++)
    for (int c = 0; c < C; c++) {
      q[(size_t)i * C + c] = qkv[(size_t)i * 3 * C + c];
      k[(size_t)i * C + c] = qkv[(size_t)i * 3 * C + C + c];
      v[(size_t)i * C + c] = qkv[(size_t)i * 3 * C + 2 * C + c];
    }
  dvec atty, att;
  attention_ref_forward(atty, att, q, k, v, B, T, T, H, H, D);
  dvec x1 = Z((size_t)N * C), ln2 = Z((size_t)N * C), m2 = Z(N), r2 = Z(N), h = Z((size_t)N * 4 * C),
       g = Z((size_t)N * 4 * C);
  arclight::matmul_forward_cpu<double>(x1.data(), atty.data(), P[APW].data(), P[APB].data(), N, C, C);
  for (size_t i = 0; i < x1.size(); i++) x1[i] += x0[i];
  arclight::layernorm_forward_cpu<double>(ln2.data(), m2.data(), r2.data(), x1.data(), P[LN2W].data(), P[LN2B].data(),
                                          N, C, eps);
  arclight::matmul_forward_cpu<double>(h.data(), ln2.data(), P[FCW].data(), P[FCB].data(), N, C, 4 * C);
  arclight::gelu_forward_cpu<double>(g.data(), h.data(), g.size());
  dvec x2 = Z((size_t)N * C), lnf = Z((size_t)N * C), mf = Z(N), rf = Z(N), logits = Z((size_t)N * V);
  arclight::matmul_forward_cpu<double>(x2.data(), g.data(), P[FPW].data(), P[FPB].data(), N, 4 * C, C);
  for (size_t i = 0; i < x2.size(); i++) x2[i] += x1[i];
  arclight::layernorm_forward_cpu<double>(lnf.data(), mf.data(), rf.data(), x2.data(), P[LNFW].data(), P[LNFB].data(),
                                          N, C, eps);
  arclight::matmul_forward_cpu<double>(logits.data(), lnf.data(), P[WTE].data(), (const double*)nullptr, N, C, V);
  dvec losses(N), dlogits((size_t)N * V);
  const dvec ddl = to_d(dloss);
  ref::softmax_ce(losses.data(), dlogits.data(), logits.data(), targets.data(), ddl.data(), N, V);
  double loss = 0;
  for (int i = 0; i < N; i++) loss += losses[i] * dloss[i];

  dvec dlnf = Z((size_t)N * C), dx2 = Z((size_t)N * C), dg = Z(g.size()), dh = Z(h.size()), dln2 = Z((size_t)N * C);
  arclight::matmul_backward_cpu<double>(dlnf.data(), grads[WTE].data(), nullptr, dlogits.data(), lnf.data(),
                                        P[WTE].data(), N, C, V);
  arclight::layernorm_backward_cpu<double>(dx2.data(), grads[LNFW].data(), grads[LNFB].data(), dlnf.data(), x2.data(),
                                           P[LNFW].data(), mf.data(), rf.data(), N, C);
  arclight::matmul_backward_cpu<double>(dg.data(), grads[FPW].data(), grads[FPB].data(), dx2.data(), g.data(),
                                        P[FPW].data(), N, 4 * C, C);
  arclight::gelu_backward_cpu<double>(dh.data(), h.data(), dg.data(), dh.size());
  arclight::matmul_backward_cpu<double>(dln2.data(), grads[FCW].data(), grads[FCB].data(), dh.data(), ln2.data(),
                                        P[FCW].data(), N, C, 4 * C);
  dvec dx1 = dx2;  // residual
  arclight::layernorm_backward_cpu<double>(dx1.data(), grads[LN2W].data(), grads[LN2B].data(), dln2.data(), x1.data(),
                                           P[LN2W].data(), m2.data(), r2.data(), N, C);
  dvec datty = Z((size_t)N * C), dq = Z((size_t)N * C), dk = Z((size_t)N * C), dv = Z((size_t)N * C);
  arclight::matmul_backward_cpu<double>(datty.data(), grads[APW].data(), grads[APB].data(), dx1.data(), atty.data(),
                                        P[APW].data(), N, C, C);
  for (int b = 0; b < B; b++) {
    const size_t o = (size_t)b * T * C;
    arclight::attention_backward_cpu<double>(dq.data() + o, dk.data() + o, dv.data() + o, datty.data() + o,
                                             att.data() + (size_t)b * T * H * T, q.data() + o, k.data() + o,
                                             v.data() + o, T, H, H, D);
  }
  dvec dqkv = Z(qkv.size()), dln1 = Z((size_t)N * C);
  for (int i = 0; i < N; i++)
    for (int c = 0; c < C; c++) {
      dqkv[(size_t)i * 3 * C + c] = dq[(size_t)i * C + c];
      dqkv[(size_t)i * 3 * C + C + c] = dk[(size_t)i * C + c];
      dqkv[(size_t)i * 3 * C + 2 * C + c] = dv[(size_t)i * C + c];
    }
  arclight::matmul_backward_cpu<double>(dln1.data(), grads[QKVW].data(), grads[QKVB].data(), dqkv.data(), ln1.data(),
                                        P[QKVW].data(), N, C, 3 * C);
  dvec dx0 = dx1;  // residual
  arclight::layernorm_backward_cpu<double>(dx0.data(), grads[LN1W].data(), grads[LN1B].data(), dln1.data(), x0.data(),
                                           P[LN1W].data(), m1.data(), r1.data(), N, C);
  ref::encoder_backward(grads[WTE].data(), grads[WPE].data(), dx0.data(), tokens.data(), (const int*)nullptr, N, T, C);
  return loss;
}

// The same step on the GPU through cuda_backend.h alone, the way the addon's Backend will call it.
static double block_step_gpu(const BlockShape& s, BlockParams& pf, const vector<int>& tokens,
                             const vector<int>& targets, const vec& dloss, vector<vec>& grads_out, cu::MathMode mode) {
  const int B = s.B, T = s.T, C = s.C, H = s.H, V = s.V, N = B * T;
  const size_t NC = (size_t)N * C;
  const float eps = 1e-5f;
  vector<Dev<float>*> P, G;
  for (vec* v : pf.all()) {
    P.push_back(new Dev<float>(*v));
    G.push_back(new Dev<float>(v->size()));
  }
  struct Cleanup {
    vector<Dev<float>*>& a;
    vector<Dev<float>*>& b;
    ~Cleanup() {
      for (auto* d : a) delete d;
      for (auto* d : b) delete d;
    }
  } cleanup{P, G};
  enum { WTE, WPE, LN1W, LN1B, QKVW, QKVB, APW, APB, LN2W, LN2B, FCW, FCB, FPW, FPB, LNFW, LNFB };
  auto p = [&](int i) { return P[i]->p; };
  auto g = [&](int i) { return G[i]->p; };
  const auto F32 = cu::DType::F32;
  Dev<int> d_tok(tokens), d_tgt(targets);
  Dev<float> d_dloss(dloss);
  Dev<float> x0(NC), ln1(NC), m1(N), r1(N), qkv(NC * 3), atty(NC), lse((size_t)B * H * T), x1(NC), ln2(NC), m2(N),
      r2(N), h(NC * 4), ge(NC * 4), x2(NC), lnf(NC), mf(N), rf(N), logits((size_t)N * V), losses(N);
  cu::encoder_forward(x0.p, d_tok.p, nullptr, p(WTE), p(WPE), N, T, C);
  cu::layernorm_forward(ln1.p, m1.p, r1.p, x0.p, p(LN1W), p(LN1B), N, C, eps);
  cu::matmul_forward(qkv.p, ln1.p, p(QKVW), F32, p(QKVB), N, C, 3 * C, mode);
  const cu::AttentionDims dims = cu::attention_dims_fused_qkv(B, T, H, C / H);
  cu::attention_forward(atty.p, lse.p, qkv.p, qkv.p + C, qkv.p + 2 * C, dims);
  cu::matmul_forward(x1.p, atty.p, p(APW), F32, p(APB), N, C, C, mode);
  cu::add_inplace(x1.p, x0.p, (long long)NC);
  cu::layernorm_forward(ln2.p, m2.p, r2.p, x1.p, p(LN2W), p(LN2B), N, C, eps);
  cu::matmul_forward(h.p, ln2.p, p(FCW), F32, p(FCB), N, C, 4 * C, mode);
  cu::gelu_forward(ge.p, h.p, (long long)NC * 4);
  cu::matmul_forward(x2.p, ge.p, p(FPW), F32, p(FPB), N, 4 * C, C, mode);
  cu::add_inplace(x2.p, x1.p, (long long)NC);
  cu::layernorm_forward(lnf.p, mf.p, rf.p, x2.p, p(LNFW), p(LNFB), N, C, eps);
  cu::matmul_forward(logits.p, lnf.p, p(WTE), F32, nullptr, N, C, V, mode);
  cu::softmax_ce_forward_backward(losses.p, logits.p, logits.p, d_tgt.p, d_dloss.p, N, V);  // dlogits in place

  Dev<float> dlnf(NC), dx2(NC), dg(NC * 4), dh(NC * 4), dln2(NC), dx1(NC), datty(NC), dqkv(NC * 3), dln1(NC), dx0(NC),
      scratch((size_t)B * H * T);
  cu::matmul_backward(dlnf.p, g(WTE), nullptr, logits.p, lnf.p, p(WTE), F32, N, C, V, mode);
  cu::layernorm_backward(dx2.p, g(LNFW), g(LNFB), dlnf.p, x2.p, p(LNFW), mf.p, rf.p, N, C);
  cu::matmul_backward(dg.p, g(FPW), g(FPB), dx2.p, ge.p, p(FPW), F32, N, 4 * C, C, mode);
  cu::gelu_backward(dh.p, h.p, dg.p, (long long)NC * 4);
  cu::matmul_backward(dln2.p, g(FCW), g(FCB), dh.p, ln2.p, p(FCW), F32, N, C, 4 * C, mode);
  cu::add_inplace(dx1.p, dx2.p, (long long)NC);  // residual
  cu::layernorm_backward(dx1.p, g(LN2W), g(LN2B), dln2.p, x1.p, p(LN2W), m2.p, r2.p, N, C);
  cu::matmul_backward(datty.p, g(APW), g(APB), dx1.p, atty.p, p(APW), F32, N, C, C, mode);
  cu::attention_backward(dqkv.p, dqkv.p + C, dqkv.p + 2 * C, scratch.p, datty.p, atty.p, lse.p, qkv.p, qkv.p + C,
                         qkv.p + 2 * C, dims);
  cu::matmul_backward(dln1.p, g(QKVW), g(QKVB), dqkv.p, ln1.p, p(QKVW), F32, N, C, 3 * C, mode);
  cu::add_inplace(dx0.p, dx1.p, (long long)NC);  // residual
  cu::layernorm_backward(dx0.p, g(LN1W), g(LN1B), dln1.p, x0.p, p(LN1W), m1.p, r1.p, N, C);
  cu::encoder_backward(g(WTE), g(WPE), dx0.p, d_tok.p, nullptr, N, T, C);
  cu::synchronize();
  grads_out.clear();
  for (auto* d : G) grads_out.push_back(d->get());
  const vec l = losses.get();
  double loss = 0;
  for (int i = 0; i < N; i++) loss += (double)l[i] * dloss[i];
  return loss;
}

static void test_block_step(Rng& rng) {
  const BlockShape s{2, 24, 64, 4, 97};  // odd vocabulary and T, like real shapes are
  BlockParams params = init_block(s, rng);
  const int N = s.B * s.T;
  vector<int> tokens(N), targets(N);
  vec dloss(N);
  int counted = 0;
  for (int i = 0; i < N; i++) {
    tokens[i] = rng.below(s.V);
    targets[i] = (i % s.T == s.T - 1) ? -1 : rng.below(s.V);  // the last position has no next token
    counted += (targets[i] >= 0 && i % s.T >= 4) ? 1 : 0;     // the first 4 positions are the "prompt"
  }
  for (int i = 0; i < N; i++) dloss[i] = (targets[i] >= 0 && i % s.T >= 4) ? 1.0f / counted : 0.0f;
  vector<dvec> want;
  const double want_loss = block_step_cpu(s, params, tokens, targets, dloss, want);
  const auto names = BlockParams::names();
  for (int mode = 0; mode < 2; mode++) {
    vector<vec> got;
    const cu::MathMode mm = mode ? cu::MathMode::BF16 : cu::MathMode::FP32;
    const double loss = block_step_gpu(s, params, tokens, targets, dloss, got, mm);
    const char* tag = mode ? "bf16" : "fp32";
    check(std::string("block_step_loss_") + tag, vec{(float)loss}, dvec{want_loss}, 1e-5, mode ? 2e-2 : 1e-5);
    for (size_t i = 0; i < want.size(); i++) {
      // Tolerances relative to each gradient's scale: fp32 llm.c-like, bf16 operands ~3 digits.
      const double scale = rms(want[i]);
      check(std::string("block_step_grad_") + tag + "_" + names[i], got[i], want[i], (mode ? 5e-2 : 1e-4) * scale,
            mode ? 5e-2 : 1e-4);
    }
  }
}

// ----------------------------------------------------------------------------
// one training step of a tiny Qwen2 block: RMSNorm, separate q/k/v with biases, RoPE, grouped-query
// attention, o_proj without bias, fused [gate | up] SwiGLU MLP, untied head

struct QwenShape {
  int B, T, C, H, KV, F, V;
  float theta;
};

struct QwenParams {
  vector<vec> t;  // in the order of names()
  static vector<const char*> names() {
    return {"embed", "ln1w", "qw", "qb", "kw", "kb", "vw", "vb", "ow", "ln2w", "gateupw", "downw", "normw", "lmhead"};
  }
};
enum { QE, QLN1, QQW, QQB, QKW, QKB, QVW, QVB, QOW, QLN2, QGU, QDW, QNW, QLM };

static QwenParams init_qwen(const QwenShape& s, Rng& rng) {
  const int C = s.C, D = C / s.H, QC = s.H * D, KC = s.KV * D;
  const size_t sizes[] = {(size_t)s.V * C,     (size_t)C,       (size_t)QC * C, (size_t)QC,     (size_t)KC * C,
                          (size_t)KC,          (size_t)KC * C,  (size_t)KC,     (size_t)C * QC, (size_t)C,
                          (size_t)2 * s.F * C, (size_t)C * s.F, (size_t)C,      (size_t)s.V * C};
  QwenParams p;
  for (int i = 0; i < 14; i++) {
    const bool norm = i == QLN1 || i == QLN2 || i == QNW;
    p.t.push_back(norm ? rng.vector(sizes[i], 0.8f, 1.2f) : rng.vector(sizes[i], -0.15f, 0.15f));
  }
  return p;
}

static double qwen_step_cpu(const QwenShape& s, const QwenParams& pf, const vector<int>& tokens,
                            const vector<int>& targets, const vec& dloss, vector<dvec>& grads) {
  const int B = s.B, T = s.T, C = s.C, H = s.H, KV = s.KV, F = s.F, V = s.V, N = B * T, D = C / H;
  const int QC = H * D, KC = KV * D;
  vector<dvec> P;
  for (const vec& v : pf.t) P.push_back(to_d(v));
  grads.assign(P.size(), dvec());
  for (size_t i = 0; i < P.size(); i++) grads[i].assign(P[i].size(), 0.0);
  const double eps = 1e-6;
  vector<int> pos(N);
  for (int i = 0; i < N; i++) pos[i] = i % T;
  auto Z = [](size_t n) { return dvec(n, 0.0); };
  dvec x0 = Z((size_t)N * C), n1 = Z((size_t)N * C), r1 = Z(N), q = Z((size_t)N * QC), k = Z((size_t)N * KC),
       v = Z((size_t)N * KC);
  ref::encoder_forward(x0.data(), tokens.data(), (const int*)nullptr, P[QE].data(), (const double*)nullptr, N, T, C);
  arclight::rmsnorm_forward_cpu<double>(n1.data(), r1.data(), x0.data(), P[QLN1].data(), N, C, eps);
  arclight::matmul_forward_cpu<double>(q.data(), n1.data(), P[QQW].data(), P[QQB].data(), N, C, QC);
  arclight::matmul_forward_cpu<double>(k.data(), n1.data(), P[QKW].data(), P[QKB].data(), N, C, KC);
  arclight::matmul_forward_cpu<double>(v.data(), n1.data(), P[QVW].data(), P[QVB].data(), N, C, KC);
  arclight::rope_forward_cpu<double>(q.data(), QC, N, H, D, pos.data(), s.theta);
  arclight::rope_forward_cpu<double>(k.data(), KC, N, KV, D, pos.data(), s.theta);
  dvec atty, att;
  attention_ref_forward(atty, att, q, k, v, B, T, T, H, KV, D);
  dvec x1 = Z((size_t)N * C), n2 = Z((size_t)N * C), r2 = Z(N), gu = Z((size_t)N * 2 * F), a = Z((size_t)N * F);
  arclight::matmul_forward_cpu<double>(x1.data(), atty.data(), P[QOW].data(), (const double*)nullptr, N, QC, C);
  for (size_t i = 0; i < x1.size(); i++) x1[i] += x0[i];
  arclight::rmsnorm_forward_cpu<double>(n2.data(), r2.data(), x1.data(), P[QLN2].data(), N, C, eps);
  arclight::matmul_forward_cpu<double>(gu.data(), n2.data(), P[QGU].data(), (const double*)nullptr, N, C, 2 * F);
  arclight::swiglu_forward_cpu<double>(a.data(), gu.data(), N, F);
  dvec x2 = Z((size_t)N * C), nf = Z((size_t)N * C), rf = Z(N), logits = Z((size_t)N * V);
  arclight::matmul_forward_cpu<double>(x2.data(), a.data(), P[QDW].data(), (const double*)nullptr, N, F, C);
  for (size_t i = 0; i < x2.size(); i++) x2[i] += x1[i];
  arclight::rmsnorm_forward_cpu<double>(nf.data(), rf.data(), x2.data(), P[QNW].data(), N, C, eps);
  arclight::matmul_forward_cpu<double>(logits.data(), nf.data(), P[QLM].data(), (const double*)nullptr, N, C, V);
  dvec losses(N), dlogits((size_t)N * V);
  const dvec ddl = to_d(dloss);
  ref::softmax_ce(losses.data(), dlogits.data(), logits.data(), targets.data(), ddl.data(), N, V);
  double loss = 0;
  for (int i = 0; i < N; i++) loss += losses[i] * dloss[i];

  dvec dnf = Z((size_t)N * C), dx2 = Z((size_t)N * C), da = Z(a.size()), dgu = Z(gu.size()), dn2 = Z((size_t)N * C);
  arclight::matmul_backward_cpu<double>(dnf.data(), grads[QLM].data(), nullptr, dlogits.data(), nf.data(),
                                        P[QLM].data(), N, C, V);
  arclight::rmsnorm_backward_cpu<double>(dx2.data(), grads[QNW].data(), dnf.data(), x2.data(), P[QNW].data(), rf.data(),
                                         N, C);
  arclight::matmul_backward_cpu<double>(da.data(), grads[QDW].data(), nullptr, dx2.data(), a.data(), P[QDW].data(), N,
                                        F, C);
  arclight::swiglu_backward_cpu<double>(dgu.data(), gu.data(), da.data(), N, F);
  arclight::matmul_backward_cpu<double>(dn2.data(), grads[QGU].data(), nullptr, dgu.data(), n2.data(), P[QGU].data(), N,
                                        C, 2 * F);
  dvec dx1 = dx2;  // residual
  arclight::rmsnorm_backward_cpu<double>(dx1.data(), grads[QLN2].data(), dn2.data(), x1.data(), P[QLN2].data(),
                                         r2.data(), N, C);
  dvec datty = Z((size_t)N * QC), dq = Z(q.size()), dk = Z(k.size()), dv = Z(v.size()), dn1 = Z((size_t)N * C);
  arclight::matmul_backward_cpu<double>(datty.data(), grads[QOW].data(), nullptr, dx1.data(), atty.data(),
                                        P[QOW].data(), N, QC, C);
  for (int b = 0; b < B; b++)
    arclight::attention_backward_cpu<double>(dq.data() + (size_t)b * T * QC, dk.data() + (size_t)b * T * KC,
                                             dv.data() + (size_t)b * T * KC, datty.data() + (size_t)b * T * QC,
                                             att.data() + (size_t)b * T * H * T, q.data() + (size_t)b * T * QC,
                                             k.data() + (size_t)b * T * KC, v.data() + (size_t)b * T * KC, T, H, KV, D);
  arclight::rope_backward_cpu<double>(dq.data(), QC, N, H, D, pos.data(), s.theta);
  arclight::rope_backward_cpu<double>(dk.data(), KC, N, KV, D, pos.data(), s.theta);
  arclight::matmul_backward_cpu<double>(dn1.data(), grads[QQW].data(), grads[QQB].data(), dq.data(), n1.data(),
                                        P[QQW].data(), N, C, QC);
  arclight::matmul_backward_cpu<double>(dn1.data(), grads[QKW].data(), grads[QKB].data(), dk.data(), n1.data(),
                                        P[QKW].data(), N, C, KC);
  arclight::matmul_backward_cpu<double>(dn1.data(), grads[QVW].data(), grads[QVB].data(), dv.data(), n1.data(),
                                        P[QVW].data(), N, C, KC);
  dvec dx0 = dx1;  // residual
  arclight::rmsnorm_backward_cpu<double>(dx0.data(), grads[QLN1].data(), dn1.data(), x0.data(), P[QLN1].data(),
                                         r1.data(), N, C);
  ref::encoder_backward(grads[QE].data(), (double*)nullptr, dx0.data(), tokens.data(), (const int*)nullptr, N, T, C);
  return loss;
}

static double qwen_step_gpu(const QwenShape& s, const QwenParams& pf, const vector<int>& tokens,
                            const vector<int>& targets, const vec& dloss, vector<vec>& grads_out, cu::MathMode mode) {
  const int B = s.B, T = s.T, C = s.C, H = s.H, KV = s.KV, F = s.F, V = s.V, N = B * T, D = C / H;
  const int QC = H * D, KC = KV * D;
  const size_t NC = (size_t)N * C;
  const float eps = 1e-6f;
  const auto F32 = cu::DType::F32;
  std::vector<std::unique_ptr<Dev<float>>> P, G;
  for (const vec& v : pf.t) {
    P.emplace_back(new Dev<float>(v));
    G.emplace_back(new Dev<float>(v.size()));
  }
  auto p = [&](int i) { return P[i]->p; };
  auto g = [&](int i) { return G[i]->p; };
  Dev<int> d_tok(tokens), d_tgt(targets);
  Dev<float> d_dloss(dloss);
  Dev<float> x0(NC), n1(NC), r1(N), q((size_t)N * QC), k((size_t)N * KC), v((size_t)N * KC), atty((size_t)N * QC),
      lse((size_t)B * H * T), x1(NC), n2(NC), r2(N), gu((size_t)N * 2 * F), a((size_t)N * F), x2(NC), nf(NC), rf(N),
      logits((size_t)N * V), losses(N);
  cu::encoder_forward(x0.p, d_tok.p, nullptr, p(QE), nullptr, N, T, C);
  cu::rmsnorm_forward(n1.p, r1.p, x0.p, p(QLN1), N, C, eps);
  cu::matmul_forward(q.p, n1.p, p(QQW), F32, p(QQB), N, C, QC, mode);
  cu::matmul_forward(k.p, n1.p, p(QKW), F32, p(QKB), N, C, KC, mode);
  cu::matmul_forward(v.p, n1.p, p(QVW), F32, p(QVB), N, C, KC, mode);
  cu::rope_forward(q.p, nullptr, N, T, H, D, QC, s.theta);
  cu::rope_forward(k.p, nullptr, N, T, KV, D, KC, s.theta);
  const cu::AttentionDims dims = cu::attention_dims_dense(B, T, H, KV, D);
  cu::attention_forward(atty.p, lse.p, q.p, k.p, v.p, dims);
  cu::matmul_forward(x1.p, atty.p, p(QOW), F32, nullptr, N, QC, C, mode);
  cu::add_inplace(x1.p, x0.p, (long long)NC);
  cu::rmsnorm_forward(n2.p, r2.p, x1.p, p(QLN2), N, C, eps);
  cu::matmul_forward(gu.p, n2.p, p(QGU), F32, nullptr, N, C, 2 * F, mode);
  cu::swiglu_forward(a.p, gu.p, gu.p + F, N, F, 2 * F);
  cu::matmul_forward(x2.p, a.p, p(QDW), F32, nullptr, N, F, C, mode);
  cu::add_inplace(x2.p, x1.p, (long long)NC);
  cu::rmsnorm_forward(nf.p, rf.p, x2.p, p(QNW), N, C, eps);
  cu::matmul_forward(logits.p, nf.p, p(QLM), F32, nullptr, N, C, V, mode);
  cu::softmax_ce_forward_backward(losses.p, logits.p, logits.p, d_tgt.p, d_dloss.p, N, V);

  Dev<float> dnf(NC), dx2(NC), da((size_t)N * F), dgu((size_t)N * 2 * F), dn2(NC), dx1(NC), datty((size_t)N * QC),
      dq((size_t)N * QC), dk((size_t)N * KC), dv((size_t)N * KC), dn1(NC), dx0(NC), scratch((size_t)B * H * T);
  cu::matmul_backward(dnf.p, g(QLM), nullptr, logits.p, nf.p, p(QLM), F32, N, C, V, mode);
  cu::rmsnorm_backward(dx2.p, g(QNW), dnf.p, x2.p, p(QNW), rf.p, N, C);
  cu::matmul_backward(da.p, g(QDW), nullptr, dx2.p, a.p, p(QDW), F32, N, F, C, mode);
  cu::swiglu_backward(dgu.p, dgu.p + F, da.p, gu.p, gu.p + F, N, F, 2 * F);
  cu::matmul_backward(dn2.p, g(QGU), nullptr, dgu.p, n2.p, p(QGU), F32, N, C, 2 * F, mode);
  cu::add_inplace(dx1.p, dx2.p, (long long)NC);
  cu::rmsnorm_backward(dx1.p, g(QLN2), dn2.p, x1.p, p(QLN2), r2.p, N, C);
  cu::matmul_backward(datty.p, g(QOW), nullptr, dx1.p, atty.p, p(QOW), F32, N, QC, C, mode);
  cu::attention_backward(dq.p, dk.p, dv.p, scratch.p, datty.p, atty.p, lse.p, q.p, k.p, v.p, dims);
  cu::rope_backward(dq.p, nullptr, N, T, H, D, QC, s.theta);
  cu::rope_backward(dk.p, nullptr, N, T, KV, D, KC, s.theta);
  cu::matmul_backward(dn1.p, g(QQW), g(QQB), dq.p, n1.p, p(QQW), F32, N, C, QC, mode);
  cu::matmul_backward(dn1.p, g(QKW), g(QKB), dk.p, n1.p, p(QKW), F32, N, C, KC, mode);
  cu::matmul_backward(dn1.p, g(QVW), g(QVB), dv.p, n1.p, p(QVW), F32, N, C, KC, mode);
  cu::add_inplace(dx0.p, dx1.p, (long long)NC);
  cu::rmsnorm_backward(dx0.p, g(QLN1), dn1.p, x0.p, p(QLN1), r1.p, N, C);
  cu::encoder_backward(g(QE), nullptr, dx0.p, d_tok.p, nullptr, N, T, C);
  cu::synchronize();
  grads_out.clear();
  for (auto& d : G) grads_out.push_back(d->get());
  const vec l = losses.get();
  double loss = 0;
  for (int i = 0; i < N; i++) loss += (double)l[i] * dloss[i];
  return loss;
}

static const QwenShape kQwenTest{2, 20, 64, 4, 2, 96, 101, 10000.0f};  // GQA 4:2, head_dim 16

static void qwen_batch(const QwenShape& s, Rng& rng, vector<int>& tokens, vector<int>& targets, vec& dloss) {
  const int N = s.B * s.T;
  tokens.assign(N, 0);
  targets.assign(N, 0);
  dloss.assign(N, 0.0f);
  for (int i = 0; i < N; i++) {
    tokens[i] = rng.below(s.V);
    targets[i] = (i + 1) % s.T == 0 ? -1 : rng.below(s.V);
    dloss[i] = targets[i] >= 0 ? 1.0f / N : 0.0f;
  }
}

static void test_qwen_step(Rng& rng) {
  const QwenShape& s = kQwenTest;
  const QwenParams params = init_qwen(s, rng);
  vector<int> tokens, targets;
  vec dloss;
  qwen_batch(s, rng, tokens, targets, dloss);
  vector<dvec> want;
  const double want_loss = qwen_step_cpu(s, params, tokens, targets, dloss, want);
  const auto names = QwenParams::names();
  for (int mode = 0; mode < 2; mode++) {
    vector<vec> got;
    const double loss =
        qwen_step_gpu(s, params, tokens, targets, dloss, got, mode ? cu::MathMode::BF16 : cu::MathMode::FP32);
    const char* tag = mode ? "bf16" : "fp32";
    check(std::string("qwen2_step_loss_") + tag, vec{(float)loss}, dvec{want_loss}, 1e-5, mode ? 2e-2 : 1e-5);
    for (size_t i = 0; i < want.size(); i++)
      check(std::string("qwen2_step_grad_") + tag + "_" + names[i], got[i], want[i],
            (mode ? 5e-2 : 1e-4) * rms(want[i]), mode ? 5e-2 : 1e-4);
  }
}

// A few optimizer steps, llm.c's second check: GPU (block step + AdamW on device) and CPU (double
// block step + the CPU backend's AdamW) from the same start; the losses must agree step by step
// and fall. Both sides keep fp32 parameters, so they stay comparable after each update.
static void test_training_steps(Rng& rng, bool with_gpu) {
  const BlockShape s{2, 16, 32, 2, 53};
  BlockParams cpu = init_block(s, rng);
  BlockParams gpu = cpu;
  const int N = s.B * s.T;
  vector<int> tokens(N), targets(N);
  vec dloss(N);
  for (int i = 0; i < N; i++) {
    tokens[i] = rng.below(s.V);
    targets[i] = (i + 1) % s.T == 0 ? -1 : (tokens[i] * 7 + 3) % s.V;  // learnable: next = f(current)
    dloss[i] = targets[i] >= 0 ? 1.0f / (N - s.B) : 0.0f;
  }
  arclight::OptimConfig o;
  o.lr = 3e-3;
  o.beta1 = 0.9;
  o.beta2 = 0.95;
  o.weightDecay = 0.01;
  auto cpu_all = cpu.all(), gpu_all = gpu.all();
  vector<vec> cm, cv, gm, gv;
  for (vec* w : cpu_all) {
    cm.emplace_back(w->size(), 0.0f);
    cv.emplace_back(w->size(), 0.0f);
  }
  gm = cm;
  gv = cv;
  vec losses_gpu, losses_cpu;
  for (int step = 1; step <= 4; step++) {
    vector<dvec> cg;
    vector<vec> gg;
    losses_cpu.push_back((float)block_step_cpu(s, cpu, tokens, targets, dloss, cg));
    if (with_gpu) losses_gpu.push_back((float)block_step_gpu(s, gpu, tokens, targets, dloss, gg, cu::MathMode::FP32));
    for (size_t t = 0; t < cpu_all.size(); t++) {
      const vec g32(cg[t].begin(), cg[t].end());
      arclight::adamw_update_cpu<float>(cpu_all[t]->data(), g32.data(), cm[t].data(), cv[t].data(), g32.size(), o.lr, o,
                                        step, 1.0, true);
      if (!with_gpu) continue;
      Dev<float> p(*gpu_all[t]), g(gg[t]), m(gm[t]), v(gv[t]);
      cu::AdamWArgs a{(float)o.lr, (float)o.beta1, (float)o.beta2, (float)o.eps, (float)o.weightDecay, 1.0f, step};
      cu::adamw_update(p.p, nullptr, g.p, m.p, v.p, (long long)g32.size(), a);
      *gpu_all[t] = p.get();
      gm[t] = m.get();
      gv[t] = v.get();
    }
  }
  const vec& losses = with_gpu ? losses_gpu : losses_cpu;
  const bool falls = losses.back() < losses.front() - 0.01f;
  std::printf("%s %-44s %.6f -> %.6f\n", falls ? "PASS" : "FAIL",
              with_gpu ? "train_4_steps_loss_falls" : "selfcheck_cpu_train_4_steps_loss_falls", losses.front(),
              losses.back());
  (falls ? g_passed : g_failed)++;
  if (!with_gpu) return;
  check("train_4_steps_losses_fp32", losses_gpu, losses_cpu, 1e-6, 1e-5);
  check("train_4_steps_params_qkvw_fp32", gpu.qkvw, cpu.qkvw, 1e-5, 1e-4);
  check("train_4_steps_params_wte_fp32", gpu.wte, cpu.wte, 1e-5, 1e-4);
}

// Host only: the block reference itself against float64 central differences, so that a GPU
// mismatch later points at the GPU and not at the way this test composes the CPU kernels.
static int self_check() {
  Rng rng(7);
  const BlockShape s{2, 5, 16, 2, 11};
  BlockParams params = init_block(s, rng);
  const int N = s.B * s.T;
  vector<int> tokens(N), targets(N);
  vec dloss(N);
  for (int i = 0; i < N; i++) {
    tokens[i] = rng.below(s.V);
    targets[i] = i % s.T == s.T - 1 ? -1 : rng.below(s.V);
    dloss[i] = targets[i] >= 0 ? 0.125f : 0.0f;
  }
  vector<dvec> grads, unused;
  block_step_cpu(s, params, tokens, targets, dloss, grads);
  const auto names = BlockParams::names();
  auto all = params.all();
  for (size_t t = 0; t < all.size(); t++) {
    vec& w = *all[t];
    vec got, want;
    for (int probe = 0; probe < 4; probe++) {
      const size_t i = rng.below((int)w.size());
      const float orig = w[i];
      w[i] = orig + 1e-3f;
      const double up = (double)w[i];
      const double lp = block_step_cpu(s, params, tokens, targets, dloss, unused);
      w[i] = orig - 1e-3f;
      const double down = (double)w[i];
      const double lm = block_step_cpu(s, params, tokens, targets, dloss, unused);
      w[i] = orig;
      got.push_back((float)grads[t][i]);
      want.push_back((float)((lp - lm) / (up - down)));
    }
    // O(h^2) truncation with h = 1e-3 on an O(1) smooth loss: 1e-4 is loose enough and tight
    // enough to catch a wrong transpose or a missing residual.
    check(std::string("selfcheck_cpu_block_grad_") + names[t], got, want, 1e-7, 1e-4);
  }
  {
    QwenShape qs = kQwenTest;
    qs.B = 1;
    qs.T = 6;
    QwenParams qp = init_qwen(qs, rng);
    vector<int> qt, qy;
    vec qd;
    qwen_batch(qs, rng, qt, qy, qd);
    vector<dvec> qg, qunused;
    qwen_step_cpu(qs, qp, qt, qy, qd, qg);
    const auto qnames = QwenParams::names();
    for (size_t t = 0; t < qp.t.size(); t++) {
      vec& w = qp.t[t];
      vec got, want;
      for (int probe = 0; probe < 4; probe++) {
        const size_t i = rng.below((int)w.size());
        const float orig = w[i];
        w[i] = orig + 1e-3f;
        const double up = (double)w[i];
        const double lp = qwen_step_cpu(qs, qp, qt, qy, qd, qunused);
        w[i] = orig - 1e-3f;
        const double down = (double)w[i];
        const double lm = qwen_step_cpu(qs, qp, qt, qy, qd, qunused);
        w[i] = orig;
        got.push_back((float)qg[t][i]);
        want.push_back((float)((lp - lm) / (up - down)));
      }
      check(std::string("selfcheck_cpu_qwen2_grad_") + qnames[t], got, want, 1e-7, 1e-4);
    }
  }
  test_training_steps(rng, false);
  std::printf("SELF-CHECK: %d passed, %d failed\n", g_passed, g_failed);
  return g_failed == 0 ? 0 : 1;
}

// GEMM throughput of the linear layers' shapes, tensor cores against the fp32 kernel measured in
// the same run (the ratio is the number to keep); torch_gemm.py times the same shapes in PyTorch.
static int bench() {
  if (arclight_cuda_device_count() == 0) {
    std::printf("SKIP: no CUDA device (%s)\n", cu::unavailable_reason());
    return 0;
  }
  std::printf("device: %s\n", cu::device_description());
  struct Shape {
    int N, C, OC;
    const char* what;
  };
  const Shape shapes[] = {{4096, 768, 2304, "gpt2 qkv"},
                          {4096, 768, 3072, "gpt2 fc"},
                          {4096, 3072, 768, "gpt2 fcproj"},
                          {4096, 896, 4864, "qwen2-0.5b gate/up"},
                          {4096, 768, 50257, "gpt2 lm head"}};
  Rng rng(1);
  for (const Shape& sh : shapes) {
    Dev<float> x(rng.vector((size_t)sh.N * sh.C)), w(rng.vector((size_t)sh.OC * sh.C)), y((size_t)sh.N * sh.OC);
    double secs[2];
    for (int mode = 0; mode < 2; mode++) {
      const cu::MathMode mm = mode ? cu::MathMode::BF16 : cu::MathMode::FP32;
      cu::matmul_forward(y.p, x.p, w.p, cu::DType::F32, nullptr, sh.N, sh.C, sh.OC, mm);  // warm-up
      cu::synchronize();
      const int reps = 10;
      const auto t0 = std::chrono::steady_clock::now();
      for (int r = 0; r < reps; r++) cu::matmul_forward(y.p, x.p, w.p, cu::DType::F32, nullptr, sh.N, sh.C, sh.OC, mm);
      cu::synchronize();
      secs[mode] = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / reps;
    }
    const double flop = 2.0 * sh.N * sh.C * sh.OC;
    std::printf("BENCH matmul_fwd %-20s N=%d C=%d OC=%d fp32 %.1f TFLOP/s  bf16-tc %.1f TFLOP/s  ratio %.2fx\n",
                sh.what, sh.N, sh.C, sh.OC, flop / secs[0] / 1e12, flop / secs[1] / 1e12, secs[0] / secs[1]);
  }
  return 0;
}

// ----------------------------------------------------------------------------

int main(int argc, char** argv) {
  if (argc > 1 && std::strcmp(argv[1], "--self-check") == 0) return self_check();
  if (argc > 1 && std::strcmp(argv[1], "--bench") == 0) {
    try {
      return bench();
    } catch (const std::exception& e) {
      std::printf("ERROR: %s\n", e.what());
      return 2;
    }
  }
  const int devices = arclight_cuda_device_count();
  if (devices == 0) {
    std::printf("SKIP: no CUDA device (%s)\n", cu::unavailable_reason());
    return 0;
  }
  try {
    std::printf("device: %s\n", cu::device_description());
    Rng rng(1337);
    test_matmul(64, 64, 64, rng);
    test_matmul(37, 53, 71, rng);
    test_matmul(1, 17, 5, rng);
    test_matmul(200, 768, 300, rng);
    test_matmul(8, 64, 50257, rng);
    test_gemm_transposes(rng);
    test_softmax(7, 50257, rng);
    test_softmax(33, 1000, rng);
    test_softmax(3, 5, rng);
    test_norms(37, 768, rng);
    test_norms(5, 33, rng);
    test_activations(37, 300, rng);
    test_rope(2, 19, 6, 64, false, rng);
    test_rope(3, 5, 2, 128, true, rng);
    test_encoder(2, 19, 96, 50, true, rng);
    test_encoder(3, 7, 33, 11, false, rng);
    test_attention(2, 37, 37, 6, 2, 64, rng);   // GQA
    test_attention(2, 19, 19, 4, 4, 48, rng);   // head_dim not a multiple of 32
    test_attention(1, 70, 70, 4, 1, 128, rng);  // multi-query
    test_attention(2, 3, 21, 4, 2, 32, rng);    // decoding: 3 new queries against 21 cached keys
    test_adamw(1000, rng);
    test_adamw(3, rng);
    test_block_step(rng);
    test_training_steps(rng, true);
    test_qwen_step(rng);
  } catch (const std::exception& e) {
    std::printf("ERROR: %s\n", e.what());
    std::printf("RESULT: %d passed, %d failed, aborted by an exception\n", g_passed, g_failed + 1);
    return 2;
  }
  std::printf("RESULT: %d passed, %d failed on %s\n", g_passed, g_failed, cu::device_description());
  return g_failed == 0 ? 0 : 1;
}
