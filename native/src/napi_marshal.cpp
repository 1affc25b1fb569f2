// JS values <-> the trainer's structs (see napi_marshal.h).
#include "napi_marshal.h"

#include <cmath>

namespace arclight {
namespace napi {

void type_error(Napi::Env env, const std::string& m) { throw Napi::TypeError::New(env, m); }

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
    type_error(o.Env(),
               std::string(key) + " must be an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
  return (int)d;
}

std::string str(Napi::Object o, const char* key, const std::string& dflt) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined() || v.IsNull()) return dflt;
  if (!v.IsString()) type_error(o.Env(), std::string(key) + " must be a string");
  return v.As<Napi::String>().Utf8Value();
}

DeviceRequest parse_device(Napi::Env env, const Napi::Value& v) {
  DeviceRequest r;
  if (v.IsUndefined() || v.IsNull()) return r;
  Napi::Object o = need_object(env, v, "options");
  r.device = str(o, "device", r.device);
  if (r.device != "auto" && r.device != "cpu" && r.device != "cuda")
    type_error(env, "device must be \"auto\", \"cpu\" or \"cuda\"");
  r.precision = str(o, "precision", r.precision);
  if (r.precision != "fp32" && r.precision != "bf16") type_error(env, "precision must be \"fp32\" or \"bf16\"");
  return r;
}

LoraConfig parse_lora(Napi::Env env, const Napi::Value& v) {
  LoraConfig l;
  if (v.IsUndefined() || v.IsNull()) return l;
  Napi::Object o = need_object(env, v, "lora");
  l.rank = int_in(o, "rank", 0, 1, 4096);
  l.alpha = num(o, "alpha", 8.0);  // PEFT defaults: lora_alpha 8, dropout 0
  l.dropout = num(o, "dropout", 0.0);
  Napi::Value t = o.Get("targets");
  if (!t.IsArray())
    type_error(env,
               "lora.targets must be an array of module names (q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, "
               "down_proj)");
  Napi::Array arr = t.As<Napi::Array>();
  for (uint32_t i = 0; i < arr.Length(); i++) {
    Napi::Value x = arr.Get(i);
    const int idx = x.IsString() ? lora_target_index(x.As<Napi::String>().Utf8Value()) : -1;
    if (idx < 0)
      type_error(env, "lora.targets[" + std::to_string(i) +
                          "] must be one of q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj");
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
  } catch (const std::exception& e) { type_error(env, e.what()); }
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
  try {
    b.check();
  } catch (const std::exception& e) { type_error(env, e.what()); }
  b.finalize();
  return b;
}

LossConfig parse_loss(Napi::Env env, Napi::Object o) {
  LossConfig l;
  const std::string kind = str(o, "loss", "grpo");
  if (kind == "sft")
    l.kind = LossKind::SFT;
  else if (kind == "grpo")
    l.kind = LossKind::GRPO;
  else
    type_error(env, "loss must be \"grpo\" or \"sft\"");
  l.epsLow = num(o, "clipLow", l.epsLow);
  l.epsHigh = num(o, "clipHigh", l.epsHigh);
  l.klBeta = num(o, "klBeta", 0);
  l.entropyCoef = num(o, "entropyCoef", 0);
  l.normLength = num(o, "normLength", 0);
  const std::string agg = str(o, "aggregation", "token-mean");
  if (agg == "token-mean")
    l.agg = Aggregation::TokenMean;
  else if (agg == "seq-mean-token-mean")
    l.agg = Aggregation::SeqMeanTokenMean;
  else if (agg == "seq-mean-token-sum-norm")
    l.agg = Aggregation::SeqMeanTokenSumNorm;
  else
    type_error(env, "aggregation must be token-mean, seq-mean-token-mean or seq-mean-token-sum-norm");
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

GenRequest parse_generate(Napi::Env env, Napi::Object o) {
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
  return r;
}

std::string parse_adapter(Napi::Env env, const Napi::Value& v) {
  if (v.IsUndefined() || v.IsNull()) return "default";
  if (!v.IsString()) type_error(env, "adapter must be a string");
  const std::string s = v.As<Napi::String>().Utf8Value();
  bool ok = !s.empty() && s.size() <= 64;
  for (char c : s)
    ok = ok && (std::isalnum((unsigned char)c) || c == '_' || c == '.' || c == ':' || c == '/' || c == '-');
  if (!ok) type_error(env, "adapter name must be 1-64 characters of letters, digits, _ . : / -");
  return s;
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

Napi::Object stats_object(Napi::Env env, const StepStats& s) {
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
}

Napi::Object generation_object(Napi::Env env, const GenResult& r, double seconds) {
  Napi::Object out = Napi::Object::New(env);
  Napi::Array toks = Napi::Array::New(env), lps = Napi::Array::New(env), slps = Napi::Array::New(env),
              fin = Napi::Array::New(env);
  for (size_t s = 0; s < r.tokens.size(); s++) {
    auto t = Napi::Int32Array::New(env, r.tokens[s].size());
    for (size_t i = 0; i < r.tokens[s].size(); i++) t[i] = r.tokens[s][i];
    toks.Set((uint32_t)s, t);
    lps.Set((uint32_t)s, to_f64(env, r.logprobs[s]));
    slps.Set((uint32_t)s, to_f64(env, r.sampleLogprobs[s]));
    fin.Set((uint32_t)s, r.finish[s]);
  }
  out.Set("tokens", toks);
  out.Set("logprobs", lps);
  out.Set("sampleLogprobs", slps);
  out.Set("finishReasons", fin);
  out.Set("generatedTokens", (double)r.generated);
  out.Set("seconds", seconds);
  return out;
}

}  // namespace napi
}  // namespace arclight
