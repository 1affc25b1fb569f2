// The module's functions that are not a policy: group advantages (shared with the TS layer),
// backend and BLAS status, and the test hooks and benchmarks (gradient check, matmul parity, GEMM
// throughput on the CPU and on a CUDA device).
#ifdef ARCLIGHT_WITH_CUDA
#include "cuda_backend.h"
#include "cuda_model.h"
#endif
#include <chrono>

#include "addon_exports.h"
#include "blas.h"
#include "gradcheck.h"
#include "napi_marshal.h"

namespace arclight {
namespace napi {

namespace {

// Test hook: fp32 and fp64 analytic gradients against float64 central differences.
Napi::Value GradCheck(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ModelConfig c = parse_config(env, need_object(env, info[0], "config"));
  SeqBatch b = parse_batch(env, need_object(env, info[1], "batch"));
  Napi::Object o = need_object(env, info[2], "options");
  LossConfig lc = parse_loss(env, o);
  const uint64_t seed = (uint64_t)num(o, "seed", 1);
  const double scale = num(o, "initScale", 1.0);
  const int stride = int_in(o, "stride", 1, 1, 1 << 20);
  const std::string adapter = parse_adapter(env, o.Get("adapter"));
  try {
    GradCheckResult r = gradcheck(c, b, lc, seed, scale, stride, adapter);
    Napi::Object out = Napi::Object::New(env);
    out.Set("relErrF32", r.relErrF32);
    out.Set("relErrF64", r.relErrF64);
    out.Set("maxAbsErrF64", r.maxAbsErrF64);
    out.Set("gradNorm", r.gradNorm);
    out.Set("checked", (double)r.checked);
    return out;
  } catch (const std::exception& e) { throw Napi::Error::New(env, e.what()); }
}

// Group advantages exposed for the TS layer, so JS and C++ share one definition.
Napi::Value GroupAdvantages(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = need_object(env, info[0], "options");
  std::vector<double> r = typed<double, Napi::Float64Array>(o, "rewards", true);
  std::vector<int> g = typed<int, Napi::Int32Array>(o, "groups", true);
  if (r.size() != g.size()) type_error(env, "rewards and groups differ in length");
  Napi::Value ns = o.Get("normalizeStd");
  Napi::Value rl = o.Get("rloo");
  const bool normStd = ns.IsUndefined() ? true : ns.ToBoolean().Value();
  const bool rloo = rl.IsUndefined() ? false : rl.ToBoolean().Value();
  return to_f64(env, group_advantages(r, g, normStd, num(o, "epsilon", 1e-4), rloo));
}

// Tight-loop GEMM throughput of this build's matmul kernel: GFLOP/s.
Napi::Value BenchMatmul(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = need_object(env, info[0], "options");
  const int N = int_in(o, "n", 256, 1, 8192), C = int_in(o, "c", 256, 1, 8192), OC = int_in(o, "oc", 256, 1, 8192);
  const int reps = int_in(o, "reps", 10, 1, 100000);
  // kernel: "auto" (what the model uses), "own" (Arclight's kernel), "blas" (the loaded BLAS's sgemm)
  Napi::Value kv = o.Get("kernel");
  const std::string kernel = kv.IsString() ? kv.As<Napi::String>().Utf8Value() : "auto";
  if (kernel != "auto" && kernel != "own" && kernel != "blas")
    type_error(env, "kernel must be \"auto\", \"own\" or \"blas\"");
  if (kernel == "blas" && !blas_status().loaded) throw Napi::Error::New(env, "no BLAS loaded: " + blas_status().reason);
  const bool was = blas_status().enabled;
  if (kernel != "auto") blas_enable(kernel == "blas");
  struct Restore {
    bool on;
    ~Restore() { blas_enable(on); }
  } restore{was};
  std::vector<float> a((size_t)N * C), w((size_t)OC * C), out((size_t)N * OC);
  Rng rng(1);
  for (auto& x : a) x = (float)rng.uniform();
  for (auto& x : w) x = (float)rng.uniform();
  matmul_forward(out.data(), a.data(), w.data(), (const float*)nullptr, N, C, OC);
  const auto t0 = std::chrono::steady_clock::now();
  for (int r = 0; r < reps; r++) matmul_forward(out.data(), a.data(), w.data(), (const float*)nullptr, N, C, OC);
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return Napi::Number::New(env, 2.0 * N * C * OC * reps / s / 1e9);
}

// Tight-loop throughput of the CUDA GEMM (TFLOP/s) on one device, fp32 SIMT or bf16 tensor cores:
// the peak the bench divides by for MFU, measured in the same process as the training step.
Napi::Value BenchCudaMatmul(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = need_object(env, info[0], "options");
  const int N = int_in(o, "n", 4096, 1, 16384), C = int_in(o, "c", 4096, 1, 16384),
            OC = int_in(o, "oc", 4096, 1, 65536);
  const int reps = int_in(o, "reps", 10, 1, 100000);
  Napi::Value p = o.Get("precision");
  const bool bf16 = p.IsString() && p.As<Napi::String>().Utf8Value() == "bf16";
#ifdef ARCLIGHT_WITH_CUDA
  if (arclight_cuda_device_count() == 0)
    throw Napi::Error::New(env, std::string("no CUDA device (") + arclight::cuda::unavailable_reason() + ")");
  namespace cu = arclight::cuda;
  void* x = nullptr;
  void* w = nullptr;
  void* y = nullptr;
  try {
    x = cu::device_alloc((size_t)N * C * 4);
    w = cu::device_alloc((size_t)OC * C * 4);
    y = cu::device_alloc((size_t)N * OC * 4);
    cu::device_zero(x, (size_t)N * C * 4);
    cu::device_zero(w, (size_t)OC * C * 4);
    const cu::MathMode mm = bf16 ? cu::MathMode::BF16 : cu::MathMode::FP32;
    cu::matmul_forward((float*)y, (const float*)x, w, cu::DType::F32, nullptr, N, C, OC, mm);  // warm-up
    cu::synchronize();
    const auto t0 = std::chrono::steady_clock::now();
    for (int r = 0; r < reps; r++)
      cu::matmul_forward((float*)y, (const float*)x, w, cu::DType::F32, nullptr, N, C, OC, mm);
    cu::synchronize();
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    cu::device_free(x);
    cu::device_free(w);
    cu::device_free(y);
    return Napi::Number::New(env, 2.0 * N * C * OC * reps / s / 1e12);
  } catch (const std::exception& e) {
    cu::device_free(x);
    cu::device_free(w);
    cu::device_free(y);
    throw Napi::Error::New(env, e.what());
  }
#else
  (void)N;
  (void)C;
  (void)OC;
  (void)reps;
  (void)bf16;
  throw Napi::Error::New(env, "the addon was built without nvcc");
#endif
}

Napi::Value Backends(const Napi::CallbackInfo& info) {
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("cpu", true);
  o.Set("cpuIsa", matmul_isa());
  const BlasStatus b = blas_status();
  o.Set("blas", b.enabled);
  o.Set("blasLoaded", b.loaded);
  o.Set("blasLibrary", b.library);
  o.Set("blasReason", b.reason);
#ifdef ARCLIGHT_WITH_CUDA
  const int devices = arclight_cuda_device_count();
  o.Set("cuda", devices > 0);  // device "auto" picks it
  o.Set("cudaCompiled", true);
  o.Set("cudaDevices", devices);
  o.Set("cudaReason", devices > 0 ? std::string(arclight::cuda::device_description())
                                  : std::string(arclight::cuda::unavailable_reason()));
#else
  o.Set("cuda", false);
  o.Set("cudaCompiled", false);
  o.Set("cudaDevices", 0);
  o.Set("cudaReason", "built without nvcc");
#endif
  return o;
}

// setBlas(on): routes fp32 matmuls through the loaded BLAS (true) or the own kernels (false),
// process-wide; returns whether a BLAS is loaded at all.
Napi::Value SetBlas(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsBoolean()) type_error(env, "setBlas(on) takes a boolean");
  return Napi::Boolean::New(env, blas_enable(info[0].As<Napi::Boolean>().Value()));
}

// matmulParity({ n, c, oc, seed }): the dispatched fp32 matmul (BLAS when loaded) against the portable
// reference kernel on the same random operands; max |a - b| / max |b| for each output.
Napi::Value MatmulParity(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = need_object(env, info[0], "options");
  const int N = int_in(o, "n", 64, 1, 4096), C = int_in(o, "c", 64, 1, 4096), OC = int_in(o, "oc", 64, 1, 4096);
  const int seed = int_in(o, "seed", 1, 0, 1 << 30);
  Rng rng((uint64_t)seed);
  auto fill = [&](size_t n) {
    std::vector<float> v(n);
    for (auto& x : v) x = (float)rng.normal();
    return v;
  };
  const auto inp = fill((size_t)N * C), w = fill((size_t)OC * C), bias = fill(OC), dout = fill((size_t)N * OC);
  const auto dinp0 = fill((size_t)N * C), dw0 = fill((size_t)OC * C), db0 = fill(OC);  // both paths accumulate with +=
  std::vector<float> out1((size_t)N * OC), out2 = out1, di1 = dinp0, di2 = dinp0, dw1 = dw0, dw2 = dw0, db1 = db0,
                                           db2 = db0;
  matmul_forward(out1.data(), inp.data(), w.data(), bias.data(), N, C, OC);
  matmul_forward_cpu(out2.data(), inp.data(), w.data(), bias.data(), N, C, OC);
  matmul_backward(di1.data(), dw1.data(), db1.data(), dout.data(), inp.data(), w.data(), N, C, OC);
  matmul_backward_cpu(di2.data(), dw2.data(), db2.data(), dout.data(), inp.data(), w.data(), N, C, OC);
  auto rel = [](const std::vector<float>& a, const std::vector<float>& b) {
    double mx = 0, ref = 0;
    for (size_t i = 0; i < a.size(); i++) {
      mx = std::max(mx, (double)std::fabs(a[i] - b[i]));
      ref = std::max(ref, (double)std::fabs(b[i]));
    }
    return ref > 0 ? mx / ref : mx;
  };
  Napi::Object r = Napi::Object::New(env);
  r.Set("blas", blas_status().enabled && (long)N * C * OC >= kParallelWork);
  r.Set("forward", rel(out1, out2));
  r.Set("dinp", rel(di1, di2));
  r.Set("dweight", rel(dw1, dw2));
  r.Set("dbias", rel(db1, db2));
  return r;
}

}  // namespace

void register_tools(Napi::Env env, Napi::Object exports) {
  exports.Set("gradcheck", Napi::Function::New(env, GradCheck));
  exports.Set("groupAdvantages", Napi::Function::New(env, GroupAdvantages));
  exports.Set("benchMatmul", Napi::Function::New(env, BenchMatmul));
  exports.Set("backends", Napi::Function::New(env, Backends));
  exports.Set("setBlas", Napi::Function::New(env, SetBlas));
  exports.Set("matmulParity", Napi::Function::New(env, MatmulParity));
  exports.Set("benchCudaMatmul", Napi::Function::New(env, BenchCudaMatmul));
}

}  // namespace napi
}  // namespace arclight
