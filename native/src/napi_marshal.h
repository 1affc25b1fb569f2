// JS values <-> the trainer's structs for the N-API binding. The TypeScript layer (src/native)
// validates first; these checks are the backstop, and every failure is a JS TypeError.
#pragma once
#include <napi.h>

#include <string>
#include <vector>

#include "model.h"

namespace arclight {
namespace napi {

[[noreturn]] void type_error(Napi::Env env, const std::string& m);
Napi::Object need_object(Napi::Env env, const Napi::Value& v, const char* what);
// o[key] as a finite number, dflt when absent.
double num(Napi::Object o, const char* key, double dflt);
int int_in(Napi::Object o, const char* key, int dflt, int lo, int hi);
// o[key] as a string, dflt when absent.
std::string str(Napi::Object o, const char* key, const std::string& dflt);

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
  if (ta.TypedArrayType() != arr.TypedArrayType())
    type_error(o.Env(), std::string(key) + " has the wrong typed array type");
  std::vector<T> out(arr.ElementLength());
  for (size_t i = 0; i < out.size(); i++) out[i] = (T)arr[i];
  return out;
}

// Where a policy runs, as asked: device "auto" | "cpu" | "cuda", precision "fp32" | "bf16".
struct DeviceRequest {
  std::string device = "auto", precision = "fp32";
};
DeviceRequest parse_device(Napi::Env env, const Napi::Value& v);
// { rank, alpha?, dropout?, targets: string[] } (PEFT names); undefined/null = no adapters.
LoraConfig parse_lora(Napi::Env env, const Napi::Value& v);
ModelConfig parse_config(Napi::Env env, Napi::Object o);
SeqBatch parse_batch(Napi::Env env, Napi::Object o);
LossConfig parse_loss(Napi::Env env, Napi::Object o);
OptimConfig parse_optim(Napi::Object o);
GenRequest parse_generate(Napi::Env env, Napi::Object o);
// An adapter name (`options.adapter`): "default" when absent; 1-64 characters of [A-Za-z0-9_.:/-].
std::string parse_adapter(Napi::Env env, const Napi::Value& v);

Napi::Float64Array to_f64(Napi::Env env, const std::vector<double>& v);
Napi::Object config_object(Napi::Env env, const ModelConfig& c);
Napi::Object stats_object(Napi::Env env, const StepStats& s);
Napi::Object generation_object(Napi::Env env, const GenResult& r, double seconds);

}  // namespace napi
}  // namespace arclight
