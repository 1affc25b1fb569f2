// N-API face of the native trainer: a Policy object whose long calls run on
// libuv's worker threads and return promises. Every C++ exception becomes a
// rejected promise or a thrown JS error; nothing here may abort the process.
#ifdef ARCLIGHT_WITH_CUDA
#include "cuda_backend.h"
#include "cuda_model.h"
#endif
#include <napi.h>

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>

#include "backend.h"
#include "blas.h"
#include "checkpoint.h"
#include "gradcheck.h"
#include "model.h"

using namespace arclight;

namespace {

// One model (on the backend chosen at creation) plus the lock that serializes the calls made on it.
struct PolicyState {
  std::unique_ptr<Backend> model;
  std::string deviceNote;  // why the requested device is not the one running, "" when it is
  std::mutex mu;
  std::atomic<bool> cancel{false};
};

// Where a policy runs: "cpu"; "cuda" when the addon has CUDA and a device answers; "auto" = cuda
// when possible, else cpu. A request that cannot be met runs on the CPU with a note for JS (never
// a throw): no device, an addon built without nvcc, or a device that failed to take the model.
struct DeviceRequest {
  std::string device = "auto", precision = "fp32";
};

std::unique_ptr<Backend> make_backend(std::unique_ptr<Model<float>> host, const DeviceRequest& req, std::string* note) {
  note->clear();
  const bool bf16 = req.precision == "bf16";
  if (req.device != "cpu") {
#ifdef ARCLIGHT_WITH_CUDA
    if (arclight_cuda_device_count() > 0) {
      try {
        auto m = std::make_unique<arclight::cuda::CudaModel>(*host, bf16 ? arclight::cuda::MathMode::BF16 : arclight::cuda::MathMode::FP32);
        return m;
      } catch (const std::exception& e) {
        *note = std::string("device \"") + req.device + "\" could not take the model (" + e.what() + "); using the CPU backend";
      }
    } else if (req.device == "cuda") {
      *note = std::string("device \"cuda\" requested but there is no CUDA device (") + arclight::cuda::unavailable_reason() + "); using the CPU backend";
    }
#else
    if (req.device == "cuda") *note = "device \"cuda\" requested but the addon was built without nvcc; using the CPU backend";
#endif
  }
  if (bf16 && note->empty()) *note = "precision \"bf16\" applies to the CUDA backend; the CPU backend runs fp32";
  return std::make_unique<CpuBackend>(std::move(host));
}

class PromiseWorker : public Napi::AsyncWorker {
 public:
  using Done = std::function<Napi::Value(Napi::Env)>;
  PromiseWorker(Napi::Env env, std::function<void()> work, Done done)
      : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)), work_(std::move(work)), done_(std::move(done)) {}
  Napi::Promise Promise() { return deferred_.Promise(); }

  void Execute() override {
    try {
      work_();
    } catch (const Cancelled&) {
      SetError("ARCLIGHT_CANCELLED: the call was cancelled");
    } catch (const std::exception& e) {
      SetError(e.what());
    } catch (...) {
      SetError("unknown native error");
    }
  }
  void OnOK() override {
    try {
      deferred_.Resolve(done_(Env()));
    } catch (const Napi::Error& e) {
      deferred_.Reject(e.Value());
    } catch (const std::exception& e) {
      deferred_.Reject(Napi::Error::New(Env(), e.what()).Value());
    }
  }
  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  Napi::Promise::Deferred deferred_;
  std::function<void()> work_;
  Done done_;
};

// ---------------------------------------------------------------------------
// argument parsing (the TS layer validates first; these checks are the backstop)

[[noreturn]] void type_error(Napi::Env env, const std::string& m) { throw Napi::TypeError::New(env, m); }

Napi::Object need_object(Napi::Env env, const Napi::Value& v, const char* what) {
  if (!v.IsObject()) type_error(env, std::string(what) + " must be an object");
  return v.As<Napi::Object>();
}

double num(Napi::Object o, const char* key, double dflt) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined() || v.IsNull()) return dflt;
  if (!v.IsNumber()) type_error(o.Env(), std::string(key) + " must be a number");
  const double d = v.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(d)) type_error(o.Env(), std::string(key) + " must be finite");
  return d;
}

int int_in(Napi::Object o, const char* key, int dflt, int lo, int hi) {
  const double d = num(o, key, dflt);
  if (d != std::floor(d) || d < lo || d > hi)
    type_error(o.Env(), std::string(key) + " must be an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
  return (int)d;
}

template <typename T, typename Arr>
std::vector<T> typed(Napi::Object o, const char* key, bool required) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined() || v.IsNull()) {
    if (required) type_error(o.Env(), std::string(key) + " is required");
    return {};
  }
  if (!v.IsTypedArray()) type_error(o.Env(), std::string(key) + " must be a typed array");
  Napi::TypedArray ta = v.As<Napi::TypedArray>();
  Arr arr = v.As<Arr>();
  if (ta.TypedArrayType() != arr.TypedArrayType()) type_error(o.Env(), std::string(key) + " has the wrong typed array type");
  std::vector<T> out(arr.ElementLength());
  for (size_t i = 0; i < out.size(); i++) out[i] = (T)arr[i];
  return out;
}

DeviceRequest parse_device(Napi::Env env, const Napi::Value& v) {
  DeviceRequest r;
  if (v.IsUndefined() || v.IsNull()) return r;
  if (!v.IsObject()) type_error(env, "options must be an object");
  Napi::Object o = v.As<Napi::Object>();
  Napi::Value d = o.Get("device"), p = o.Get("precision");
  if (!d.IsUndefined()) {
    if (!d.IsString()) type_error(env, "device must be \"auto\", \"cpu\" or \"cuda\"");
    r.device = d.As<Napi::String>().Utf8Value();
    if (r.device != "auto" && r.device != "cpu" && r.device != "cuda") type_error(env, "device must be \"auto\", \"cpu\" or \"cuda\"");
  }
  if (!p.IsUndefined()) {
    if (!p.IsString()) type_error(env, "precision must be \"fp32\" or \"bf16\"");
    r.precision = p.As<Napi::String>().Utf8Value();
    if (r.precision != "fp32" && r.precision != "bf16") type_error(env, "precision must be \"fp32\" or \"bf16\"");
  }
  return r;
}

// { rank, alpha?, dropout?, targets: string[] } (PEFT names); undefined/null = no adapters.
LoraConfig parse_lora(Napi::Env env, const Napi::Value& v) {
  LoraConfig l;
  if (v.IsUndefined() || v.IsNull()) return l;
  Napi::Object o = need_object(env, v, "lora");
  l.rank = int_in(o, "rank", 0, 1, 4096);
  l.alpha = num(o, "alpha", 8.0);  // PEFT defaults: lora_alpha 8, dropout 0
  l.dropout = num(o, "dropout", 0.0);
  Napi::Value t = o.Get("targets");
  if (!t.IsArray()) type_error(env, "lora.targets must be an array of module names (q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj)");
  Napi::Array arr = t.As<Napi::Array>();
  for (uint32_t i = 0; i < arr.Length(); i++) {
    Napi::Value x = arr.Get(i);
    const int idx = x.IsString() ? lora_target_index(x.As<Napi::String>().Utf8Value()) : -1;
    if (idx < 0) type_error(env, "lora.targets[" + std::to_string(i) + "] must be one of q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj");
    l.targets |= 1u << idx;
  }
  return l;
}

ModelConfig parse_config(Napi::Env env, Napi::Object o) {
  ModelConfig c;
  Napi::Value fam = o.Get("family");
  if (!fam.IsString()) type_error(env, "family must be \"gpt2\", \"qwen2\" or \"llama\"");
  c.family = fam.As<Napi::String>().Utf8Value();
  c.layers = int_in(o, "layers", c.layers, 1, 256);
  c.dModel = int_in(o, "dModel", c.dModel, 2, 16384);
  c.heads = int_in(o, "heads", c.heads, 1, 16384);
  c.kvHeads = int_in(o, "kvHeads", c.heads, 1, 16384);
  c.vocab = int_in(o, "vocab", c.vocab, 2, 1 << 22);
  c.ctx = int_in(o, "ctx", c.ctx, 2, 1 << 20);
  c.ffn = int_in(o, "ffn", 0, 0, 1 << 20);
  c.normEps = num(o, "normEps", c.normEps);
  c.ropeTheta = num(o, "ropeTheta", c.ropeTheta);
  Napi::Value tie = o.Get("tieEmbeddings");
  if (!tie.IsUndefined()) c.tieEmbeddings = tie.ToBoolean().Value();
  Napi::Value rs = o.Get("ropeScaling");
  if (!rs.IsUndefined() && !rs.IsNull()) {
    Napi::Object r = need_object(env, rs, "ropeScaling");
    c.ropeFactor = num(r, "factor", 0);
    c.ropeLowFreqFactor = num(r, "lowFreqFactor", c.ropeLowFreqFactor);
    c.ropeHighFreqFactor = num(r, "highFreqFactor", c.ropeHighFreqFactor);
    c.ropeOriginalCtx = int_in(r, "originalMaxPositionEmbeddings", c.ropeOriginalCtx, 1, 1 << 24);
    if (!(c.ropeFactor >= 1)) type_error(env, "ropeScaling.factor must be >= 1");
  }
  c.lora = parse_lora(env, o.Get("lora"));
  try {
    c.validate();
  } catch (const std::exception& e) {
    type_error(env, e.what());
  }
  return c;
}

SeqBatch parse_batch(Napi::Env env, Napi::Object o) {
  SeqBatch b;
  b.tokens = typed<int, Napi::Int32Array>(o, "tokens", true);
  b.promptLen = typed<int, Napi::Int32Array>(o, "promptLens", true);
  b.respLen = typed<int, Napi::Int32Array>(o, "responseLens", true);
  b.advantages = typed<double, Napi::Float64Array>(o, "advantages", false);
  b.oldLogprobs = typed<double, Napi::Float64Array>(o, "oldLogprobs", false);
  b.refLogprobs = typed<double, Napi::Float64Array>(o, "refLogprobs", false);
  b.mask = typed<double, Napi::Float64Array>(o, "mask", false);
  if (b.promptLen.size() != b.respLen.size()) type_error(env, "promptLens and responseLens differ in length");
  size_t total = 0, resp = 0;
  for (size_t s = 0; s < b.promptLen.size(); s++) {
    if (b.promptLen[s] < 1 || b.respLen[s] < 0) type_error(env, "sequence " + std::to_string(s) + ": prompt needs >= 1 token, response >= 0");
    total += (size_t)b.promptLen[s] + b.respLen[s];
    resp += b.respLen[s];
  }
  if (total != b.tokens.size()) type_error(env, "tokens length does not match promptLens + responseLens");
  if (!b.advantages.empty() && b.advantages.size() != b.promptLen.size()) type_error(env, "advantages needs one value per sequence");
  for (auto* a : {&b.oldLogprobs, &b.refLogprobs, &b.mask})
    if (!a->empty() && a->size() != resp) type_error(env, "per-token arrays need one value per response token (" + std::to_string(resp) + ")");
  b.finalize();
  return b;
}

LossConfig parse_loss(Napi::Env env, Napi::Object o) {
  LossConfig l;
  Napi::Value k = o.Get("loss");
  const std::string kind = k.IsString() ? k.As<Napi::String>().Utf8Value() : "grpo";
  if (kind == "sft") l.kind = LossKind::SFT;
  else if (kind == "grpo") l.kind = LossKind::GRPO;
  else type_error(env, "loss must be \"grpo\" or \"sft\"");
  l.epsLow = num(o, "clipLow", l.epsLow);
  l.epsHigh = num(o, "clipHigh", l.epsHigh);
  l.klBeta = num(o, "klBeta", 0);
  l.entropyCoef = num(o, "entropyCoef", 0);
  l.normLength = num(o, "normLength", 0);
  Napi::Value a = o.Get("aggregation");
  const std::string agg = a.IsString() ? a.As<Napi::String>().Utf8Value() : "token-mean";
  if (agg == "token-mean") l.agg = Aggregation::TokenMean;
  else if (agg == "seq-mean-token-mean") l.agg = Aggregation::SeqMeanTokenMean;
  else if (agg == "seq-mean-token-sum-norm") l.agg = Aggregation::SeqMeanTokenSumNorm;
  else type_error(env, "aggregation must be token-mean, seq-mean-token-mean or seq-mean-token-sum-norm");
  return l;
}

OptimConfig parse_optim(Napi::Object o) {
  OptimConfig c;
  c.lr = num(o, "lr", c.lr);
  c.beta1 = num(o, "beta1", c.beta1);
  c.beta2 = num(o, "beta2", c.beta2);
  c.eps = num(o, "adamEps", c.eps);
  c.weightDecay = num(o, "weightDecay", c.weightDecay);
  c.maxGradNorm = num(o, "maxGradNorm", c.maxGradNorm);
  c.warmupSteps = int_in(o, "warmupSteps", 0, 0, INT32_MAX);
  c.totalSteps = int_in(o, "totalSteps", 0, 0, INT32_MAX);
  c.minLrRatio = num(o, "minLrRatio", 0);
  return c;
}

Napi::Float64Array to_f64(Napi::Env env, const std::vector<double>& v) {
  auto a = Napi::Float64Array::New(env, v.size());
  for (size_t i = 0; i < v.size(); i++) a[i] = v[i];
  return a;
}

Napi::Object config_object(Napi::Env env, const ModelConfig& c) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("family", c.family);
  o.Set("layers", c.layers);
  o.Set("dModel", c.dModel);
  o.Set("heads", c.heads);
  o.Set("kvHeads", c.kvHeads);
  o.Set("vocab", c.vocab);
  o.Set("ctx", c.ctx);
  o.Set("ffn", c.ffnDim());
  o.Set("normEps", c.normEps);
  o.Set("ropeTheta", c.ropeTheta);
  o.Set("tieEmbeddings", c.tieEmbeddings);
  if (c.ropeScaled()) {
    Napi::Object r = Napi::Object::New(env);
    r.Set("factor", c.ropeFactor);
    r.Set("lowFreqFactor", c.ropeLowFreqFactor);
    r.Set("highFreqFactor", c.ropeHighFreqFactor);
    r.Set("originalMaxPositionEmbeddings", c.ropeOriginalCtx);
    o.Set("ropeScaling", r);
  }
  if (c.lora.rank > 0) {
    Napi::Object l = Napi::Object::New(env);
    l.Set("rank", c.lora.rank);
    l.Set("alpha", c.lora.alpha);
    l.Set("dropout", c.lora.dropout);
    Napi::Array t = Napi::Array::New(env);
    uint32_t k = 0;
    for (int i = 0; i < kLoraTargets; i++)
      if (c.lora.has(i)) t.Set(k++, lora_target_name(i));
    l.Set("targets", t);
    o.Set("lora", l);
  }
  return o;
}

// ---------------------------------------------------------------------------

class NativePolicy : public Napi::ObjectWrap<NativePolicy> {
 public:
  static Napi::FunctionReference* ctor;

  static Napi::Function Init(Napi::Env env) {
    return DefineClass(env, "NativePolicy",
                       {InstanceMethod("info", &NativePolicy::Info), InstanceMethod("generate", &NativePolicy::Generate),
                        InstanceMethod("score", &NativePolicy::Score), InstanceMethod("trainStep", &NativePolicy::TrainStep),
                        InstanceMethod("gradients", &NativePolicy::Gradients), InstanceMethod("merge", &NativePolicy::Merge),
                        InstanceMethod("saveAdapter", &NativePolicy::SaveAdapter), InstanceMethod("loadAdapter", &NativePolicy::LoadAdapter),
                        InstanceMethod("saveHF", &NativePolicy::SaveHF),
                        InstanceMethod("save", &NativePolicy::Save), InstanceMethod("clone", &NativePolicy::Clone),
                        InstanceMethod("cancel", &NativePolicy::Cancel), InstanceMethod("dispose", &NativePolicy::Dispose)});
  }

  // new NativePolicy(config, seed, { device, precision }) or, internally, new NativePolicy(External<PolicyState>)
  NativePolicy(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NativePolicy>(info) {
    Napi::Env env = info.Env();
    if (info.Length() == 1 && info[0].IsExternal()) {
      state_ = *info[0].As<Napi::External<std::shared_ptr<PolicyState>>>().Data();
      return;
    }
    Napi::Object cfgObj = need_object(env, info[0], "config");
    ModelConfig c = parse_config(env, cfgObj);
    const double seed = info.Length() > 1 && info[1].IsNumber() ? info[1].As<Napi::Number>().DoubleValue() : 0;
    const DeviceRequest req = parse_device(env, info.Length() > 2 ? info[2] : env.Undefined());
    state_ = std::make_shared<PolicyState>();
    try {
      auto host = std::make_unique<Model<float>>(c);
      host->init((uint64_t)seed);
      state_->model = make_backend(std::move(host), req, &state_->deviceNote);
    } catch (const std::bad_alloc&) {
      throw Napi::Error::New(env, "not enough memory for this model config");
    } catch (const std::exception& e) {
      throw Napi::Error::New(env, e.what());
    }
    state_->model->setCancelFlag(&state_->cancel);
  }

  static Napi::Object Wrap(Napi::Env env, std::shared_ptr<PolicyState> st) {
    auto ext = Napi::External<std::shared_ptr<PolicyState>>::New(env, new std::shared_ptr<PolicyState>(std::move(st)),
                                                               [](Napi::Env, std::shared_ptr<PolicyState>* p) { delete p; });
    return ctor->New({ext});
  }

 private:
  std::shared_ptr<PolicyState> state_;

  std::shared_ptr<PolicyState> live(Napi::Env env) {
    if (!state_ || !state_->model) throw Napi::Error::New(env, "policy was disposed");
    return state_;
  }

  // Runs fn(state, path) on a worker thread under the policy's lock; the promise resolves to undefined.
  template <class Fn>
  Napi::Value PathTask(const Napi::CallbackInfo& info, const char* what, Fn fn) {
    Napi::Env env = info.Env();
    auto st = live(env);
    if (!info[0].IsString()) type_error(env, std::string(what) + " must be a string");
    std::string path = info[0].As<Napi::String>().Utf8Value();
    auto* w = new PromiseWorker(
        env,
        [st, path, fn] {
          std::lock_guard<std::mutex> lk(st->mu);
          fn(*st, path);
        },
        [](Napi::Env env) -> Napi::Value { return env.Undefined(); });
    w->Queue();
    return w->Promise();
  }

  Napi::Value Info(const Napi::CallbackInfo& info) {
    auto st = live(info.Env());
    std::lock_guard<std::mutex> lk(st->mu);
    Napi::Object o = Napi::Object::New(info.Env());
    o.Set("config", config_object(info.Env(), st->model->config()));
    o.Set("numParams", (double)st->model->numParams());
    if (st->model->config().lora.rank > 0) o.Set("trainableParams", (double)st->model->host().numTrainable());
    if (std::string(st->model->device()) == "cpu") {  // host() is the live model there (a device copy on CUDA)
      const Model<float>& h = st->model->host();
      Napi::Object mem = Napi::Object::New(info.Env());
      mem.Set("weights", (double)(h.w.size() * sizeof(float)));
      mem.Set("gradients", (double)(h.g.size() * sizeof(float)));
      mem.Set("optimizer", (double)((h.m.size() + h.v.size()) * sizeof(float)));
      o.Set("memory", mem);
    }
    o.Set("step", (double)st->model->step());
    o.Set("device", st->model->device());
    o.Set("precision", st->model->precision());
    if (!st->deviceNote.empty()) o.Set("deviceNote", st->deviceNote);
    return o;
  }

  Napi::Value Generate(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto st = live(env);
    Napi::Object o = need_object(env, info[0], "generate request");
    GenRequest r;
    std::vector<int> flat = typed<int, Napi::Int32Array>(o, "tokens", true);
    std::vector<int> lens = typed<int, Napi::Int32Array>(o, "promptLens", true);
    size_t at = 0;
    for (int L : lens) {
      if (L < 1 || at + L > flat.size()) type_error(env, "promptLens do not match tokens");
      r.prompts.emplace_back(flat.begin() + at, flat.begin() + at + L);
      at += L;
    }
    if (at != flat.size()) type_error(env, "promptLens do not match tokens");
    r.n = int_in(o, "n", 1, 1, 1 << 16);
    r.maxTokens = int_in(o, "maxTokens", 16, 0, 1 << 20);
    r.sc.temperature = num(o, "temperature", 1.0);
    r.sc.topK = int_in(o, "topK", 0, 0, INT32_MAX);
    r.sc.topP = num(o, "topP", 1.0);
    r.seed = (uint64_t)num(o, "seed", 0);
    r.stop = typed<int, Napi::Int32Array>(o, "stop", false);
    Napi::Value uc = o.Get("useCache");
    if (!uc.IsUndefined()) r.useCache = uc.ToBoolean().Value();
    auto res = std::make_shared<GenResult>();
    auto secs = std::make_shared<double>(0);
    auto* w = new PromiseWorker(
        env,
        [st, r, res, secs] {
          std::lock_guard<std::mutex> lk(st->mu);
          const auto t0 = std::chrono::steady_clock::now();
          *res = st->model->generate(r);
          *secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        },
        [res, secs](Napi::Env env) -> Napi::Value {
          Napi::Object out = Napi::Object::New(env);
          Napi::Array toks = Napi::Array::New(env), lps = Napi::Array::New(env), slps = Napi::Array::New(env), fin = Napi::Array::New(env);
          for (size_t s = 0; s < res->tokens.size(); s++) {
            auto t = Napi::Int32Array::New(env, res->tokens[s].size());
            for (size_t i = 0; i < res->tokens[s].size(); i++) t[i] = res->tokens[s][i];
            toks.Set((uint32_t)s, t);
            lps.Set((uint32_t)s, to_f64(env, res->logprobs[s]));
            slps.Set((uint32_t)s, to_f64(env, res->sampleLogprobs[s]));
            fin.Set((uint32_t)s, res->finish[s]);
          }
          out.Set("tokens", toks);
          out.Set("logprobs", lps);
          out.Set("sampleLogprobs", slps);
          out.Set("finishReasons", fin);
          out.Set("generatedTokens", (double)res->generated);
          out.Set("seconds", *secs);
          return out;
        });
    st->cancel = false;  // on the JS thread, before queueing: an abort while the job waits is kept
    w->Queue();
    return w->Promise();
  }

  Napi::Value Score(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto st = live(env);
    auto b = std::make_shared<SeqBatch>(parse_batch(env, need_object(env, info[0], "batch")));
    auto lp = std::make_shared<std::vector<double>>(), ent = std::make_shared<std::vector<double>>();
    auto* w = new PromiseWorker(
        env,
        [st, b, lp, ent] {
          std::lock_guard<std::mutex> lk(st->mu);
          st->model->score(*b, lp.get(), ent.get());
        },
        [lp, ent](Napi::Env env) -> Napi::Value {
          Napi::Object out = Napi::Object::New(env);
          out.Set("logprobs", to_f64(env, *lp));
          out.Set("entropy", to_f64(env, *ent));
          return out;
        });
    st->cancel = false;
    w->Queue();
    return w->Promise();
  }

  Napi::Value TrainStep(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto st = live(env);
    auto b = std::make_shared<SeqBatch>(parse_batch(env, need_object(env, info[0], "batch")));
    Napi::Object o = need_object(env, info[1], "train options");
    LossConfig lc = parse_loss(env, o);
    OptimConfig oc = parse_optim(o);
    if (lc.kind == LossKind::GRPO && b->advantages.empty()) type_error(env, "grpo needs advantages");
    if (lc.klBeta != 0 && b->refLogprobs.empty()) type_error(env, "klBeta needs refLogprobs");
    auto stats = std::make_shared<StepStats>();
    auto* w = new PromiseWorker(
        env,
        [st, b, lc, oc, stats] {
          std::lock_guard<std::mutex> lk(st->mu);
          *stats = st->model->trainStep(*b, lc, oc);
        },
        [stats](Napi::Env env) -> Napi::Value {
          const StepStats& s = *stats;
          Napi::Object out = Napi::Object::New(env);
          out.Set("loss", s.loss);
          out.Set("pgLoss", s.pgLoss);
          out.Set("kl", s.kl);
          out.Set("entropy", s.entropy);
          out.Set("clipFrac", s.clipFrac);
          out.Set("ratioMean", s.ratioMean);
          out.Set("gradNorm", s.gradNorm);
          out.Set("lr", s.lr);
          out.Set("step", (double)s.step);
          out.Set("responseTokens", (double)s.responseTokens);
          out.Set("totalTokens", (double)s.totalTokens);
          out.Set("seconds", s.seconds);
          out.Set("tokensPerSecond", s.seconds > 0 ? s.totalTokens / s.seconds : 0.0);
          return out;
        });
    st->cancel = false;
    w->Queue();
    return w->Promise();
  }

  // gradients(batch, lossOptions): { loss, gradNorm, grads: { [param]: Float32Array } } without an update.
  Napi::Value Gradients(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto st = live(env);
    auto b = std::make_shared<SeqBatch>(parse_batch(env, need_object(env, info[0], "batch")));
    Napi::Object o = need_object(env, info[1], "loss options");
    LossConfig lc = parse_loss(env, o);
    if (lc.kind == LossKind::GRPO && b->advantages.empty()) type_error(env, "grpo needs advantages");
    if (lc.klBeta != 0 && b->refLogprobs.empty()) type_error(env, "klBeta needs refLogprobs");
    auto stats = std::make_shared<StepStats>();
    auto names = std::make_shared<std::vector<std::string>>();
    auto grads = std::make_shared<std::vector<std::vector<float>>>();
    auto* w = new PromiseWorker(
        env,
        [st, b, lc, stats, names, grads] {
          std::lock_guard<std::mutex> lk(st->mu);
          *stats = st->model->gradients(*b, lc);
          const Model<float>& h = st->model->host();
          for (const ParamInfo& p : h.params) {
            if (!h.trainable(p)) continue;
            names->push_back(p.name);
            const float* g = h.grad_of(p);
            grads->emplace_back(g, g + p.size);
          }
        },
        [stats, names, grads](Napi::Env env) -> Napi::Value {
          Napi::Object out = Napi::Object::New(env);
          out.Set("loss", stats->loss);
          out.Set("gradNorm", stats->gradNorm);
          Napi::Object gs = Napi::Object::New(env);
          for (size_t i = 0; i < names->size(); i++) {
            auto a = Napi::Float32Array::New(env, (*grads)[i].size());
            std::copy((*grads)[i].begin(), (*grads)[i].end(), a.Data());
            gs.Set((*names)[i], a);
          }
          out.Set("grads", gs);
          return out;
        });
    st->cancel = false;
    w->Queue();
    return w->Promise();
  }

  Napi::Value Save(const Napi::CallbackInfo& info) {
    return PathTask(info, "path", [](PolicyState& st, const std::string& path) { save_checkpoint(st.model->host(), path); });
  }

  Napi::Value Clone(const Napi::CallbackInfo& info) {
    auto st = live(info.Env());
    auto copy = std::make_shared<PolicyState>();
    try {
      std::lock_guard<std::mutex> lk(st->mu);
      copy->model = st->model->clone();
      copy->deviceNote = st->deviceNote;
    } catch (const std::exception& e) {
      throw Napi::Error::New(info.Env(), std::string("clone failed: ") + e.what());
    }
    copy->model->setCancelFlag(&copy->cancel);
    return Wrap(info.Env(), copy);
  }

  // merge(): a new policy (CPU) whose base weights have the adapters folded in, without adapters.
  Napi::Value Merge(const Napi::CallbackInfo& info) {
    auto st = live(info.Env());
    auto out = std::make_shared<PolicyState>();
    try {
      std::lock_guard<std::mutex> lk(st->mu);
      const Model<float>& h = st->model->host();
      if (h.cfg.lora.rank == 0) throw std::invalid_argument("this policy has no LoRA adapters to merge");
      out->model = std::make_unique<CpuBackend>(h.merged());
    } catch (const std::exception& e) {
      throw Napi::Error::New(info.Env(), std::string("merge failed: ") + e.what());
    }
    out->model->setCancelFlag(&out->cancel);
    return Wrap(info.Env(), out);
  }

  // saveAdapter(dir) / loadAdapter(dir): PEFT adapter directories.
  Napi::Value SaveAdapter(const Napi::CallbackInfo& info) {
    return PathTask(info, "dir", [](PolicyState& st, const std::string& dir) { save_peft_adapter(st.model->host(), dir); });
  }

  Napi::Value SaveHF(const Napi::CallbackInfo& info) {
    return PathTask(info, "dir", [](PolicyState& st, const std::string& dir) { save_hf(st.model->host(), dir); });
  }

  Napi::Value LoadAdapter(const Napi::CallbackInfo& info) {
    return PathTask(info, "dir", [](PolicyState& st, const std::string& dir) {
      Model<float>* m = st.model->mutableHost();
      if (!m) throw std::runtime_error("loading adapters needs the CPU backend");
      load_peft_adapter(*m, dir);
    });
  }

  Napi::Value Cancel(const Napi::CallbackInfo& info) {
    if (state_) state_->cancel = true;
    return info.Env().Undefined();
  }

  // Frees the weights once the calls already running finish.
  Napi::Value Dispose(const Napi::CallbackInfo& info) {
    if (state_) {
      auto st = state_;
      state_.reset();
      st->cancel = true;
      auto* w = new PromiseWorker(
          info.Env(), [st] { std::lock_guard<std::mutex> lk(st->mu); st->model.reset(); },
          [](Napi::Env env) -> Napi::Value { return env.Undefined(); });
      w->Queue();
      return w->Promise();
    }
    return info.Env().Undefined();
  }
};

Napi::FunctionReference* NativePolicy::ctor = nullptr;

Napi::Value LoadPolicy(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsString()) type_error(env, "path must be a string");
  std::string path = info[0].As<Napi::String>().Utf8Value();
  const DeviceRequest req = parse_device(env, info.Length() > 1 ? info[1] : env.Undefined());
  auto st = std::make_shared<PolicyState>();
  auto* w = new PromiseWorker(
      env,
      [st, path, req] {
        st->model = make_backend(load_checkpoint(path), req, &st->deviceNote);
        st->model->setCancelFlag(&st->cancel);
      },
      [st](Napi::Env env) -> Napi::Value { return NativePolicy::Wrap(env, st); });
  w->Queue();
  return w->Promise();
}

Napi::Value LoadPretrained(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsString()) type_error(env, "dir must be a string");
  std::string dir = info[0].As<Napi::String>().Utf8Value();
  const DeviceRequest req = parse_device(env, info.Length() > 1 ? info[1] : env.Undefined());
  // options.lora: fresh adapters over the frozen base; options.adapter: a PEFT directory whose config and weights are used
  LoraConfig lora;
  std::string adapter;
  uint64_t seed = 0;
  if (info.Length() > 1 && info[1].IsObject()) {
    Napi::Object o = info[1].As<Napi::Object>();
    lora = parse_lora(env, o.Get("lora"));
    seed = (uint64_t)num(o, "seed", 0);
    Napi::Value a = o.Get("adapter");
    if (!a.IsUndefined() && !a.IsNull()) {
      if (!a.IsString()) type_error(env, "adapter must be a directory path");
      adapter = a.As<Napi::String>().Utf8Value();
    }
  }
  auto st = std::make_shared<PolicyState>();
  auto* w = new PromiseWorker(
      env,
      [st, dir, req, lora, adapter, seed] {
        LoraConfig l = lora;
        if (!adapter.empty()) {
          l = read_peft_config(adapter);
          if (lora.rank > 0 && (lora.rank != l.rank || lora.targets != l.targets))
            throw std::invalid_argument("options.lora does not match " + adapter + "/adapter_config.json; give one of them");
        }
        auto host = load_hf_pretrained(dir, l, seed);
        if (!adapter.empty()) load_peft_adapter(*host, adapter);
        st->model = make_backend(std::move(host), req, &st->deviceNote);
        st->model->setCancelFlag(&st->cancel);
      },
      [st](Napi::Env env) -> Napi::Value { return NativePolicy::Wrap(env, st); });
  w->Queue();
  return w->Promise();
}

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
  try {
    GradCheckResult r = gradcheck(c, b, lc, seed, scale, stride);
    Napi::Object out = Napi::Object::New(env);
    out.Set("relErrF32", r.relErrF32);
    out.Set("relErrF64", r.relErrF64);
    out.Set("maxAbsErrF64", r.maxAbsErrF64);
    out.Set("gradNorm", r.gradNorm);
    out.Set("checked", (double)r.checked);
    return out;
  } catch (const std::exception& e) {
    throw Napi::Error::New(env, e.what());
  }
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
  if (kernel != "auto" && kernel != "own" && kernel != "blas") type_error(env, "kernel must be \"auto\", \"own\" or \"blas\"");
  if (kernel == "blas" && !blas_status().loaded) throw Napi::Error::New(env, "no BLAS loaded: " + blas_status().reason);
  const bool was = blas_status().enabled;
  if (kernel != "auto") blas_enable(kernel == "blas");
  struct Restore { bool on; ~Restore() { blas_enable(on); } } restore{was};
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
  const int N = int_in(o, "n", 4096, 1, 16384), C = int_in(o, "c", 4096, 1, 16384), OC = int_in(o, "oc", 4096, 1, 65536);
  const int reps = int_in(o, "reps", 10, 1, 100000);
  Napi::Value p = o.Get("precision");
  const bool bf16 = p.IsString() && p.As<Napi::String>().Utf8Value() == "bf16";
#ifdef ARCLIGHT_WITH_CUDA
  if (arclight_cuda_device_count() == 0) throw Napi::Error::New(env, std::string("no CUDA device (") + arclight::cuda::unavailable_reason() + ")");
  namespace cu = arclight::cuda;
  void* x = nullptr; void* w = nullptr; void* y = nullptr;
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
    for (int r = 0; r < reps; r++) cu::matmul_forward((float*)y, (const float*)x, w, cu::DType::F32, nullptr, N, C, OC, mm);
    cu::synchronize();
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    cu::device_free(x); cu::device_free(w); cu::device_free(y);
    return Napi::Number::New(env, 2.0 * N * C * OC * reps / s / 1e12);
  } catch (const std::exception& e) {
    cu::device_free(x); cu::device_free(w); cu::device_free(y);
    throw Napi::Error::New(env, e.what());
  }
#else
  (void)N; (void)C; (void)OC; (void)reps; (void)bf16;
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
  o.Set("cudaReason", devices > 0 ? std::string(arclight::cuda::device_description()) : std::string(arclight::cuda::unavailable_reason()));
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
  auto fill = [&](size_t n) { std::vector<float> v(n); for (auto& x : v) x = (float)rng.normal(); return v; };
  const auto inp = fill((size_t)N * C), w = fill((size_t)OC * C), bias = fill(OC), dout = fill((size_t)N * OC);
  const auto dinp0 = fill((size_t)N * C), dw0 = fill((size_t)OC * C), db0 = fill(OC);  // both paths accumulate with +=
  std::vector<float> out1((size_t)N * OC), out2 = out1, di1 = dinp0, di2 = dinp0, dw1 = dw0, dw2 = dw0, db1 = db0, db2 = db0;
  matmul_forward(out1.data(), inp.data(), w.data(), bias.data(), N, C, OC);
  matmul_forward_cpu(out2.data(), inp.data(), w.data(), bias.data(), N, C, OC);
  matmul_backward(di1.data(), dw1.data(), db1.data(), dout.data(), inp.data(), w.data(), N, C, OC);
  matmul_backward_cpu(di2.data(), dw2.data(), db2.data(), dout.data(), inp.data(), w.data(), N, C, OC);
  auto rel = [](const std::vector<float>& a, const std::vector<float>& b) {
    double mx = 0, ref = 0;
    for (size_t i = 0; i < a.size(); i++) { mx = std::max(mx, (double)std::fabs(a[i] - b[i])); ref = std::max(ref, (double)std::fabs(b[i])); }
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

Napi::Object InitModule(Napi::Env env, Napi::Object exports) {
  Napi::Function cls = NativePolicy::Init(env);
  NativePolicy::ctor = new Napi::FunctionReference(Napi::Persistent(cls));
  exports.Set("NativePolicy", cls);
  exports.Set("loadPolicy", Napi::Function::New(env, LoadPolicy));
  exports.Set("loadPretrained", Napi::Function::New(env, LoadPretrained));
  exports.Set("gradcheck", Napi::Function::New(env, GradCheck));
  exports.Set("groupAdvantages", Napi::Function::New(env, GroupAdvantages));
  exports.Set("benchMatmul", Napi::Function::New(env, BenchMatmul));
  exports.Set("backends", Napi::Function::New(env, Backends));
  exports.Set("setBlas", Napi::Function::New(env, SetBlas));
  exports.Set("matmulParity", Napi::Function::New(env, MatmulParity));
  exports.Set("benchCudaMatmul", Napi::Function::New(env, BenchCudaMatmul));
  return exports;
}

}  // namespace

NODE_API_MODULE(arclight, InitModule)
