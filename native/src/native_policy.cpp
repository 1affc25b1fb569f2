// N-API face of a policy: the NativePolicy class (info, generate, score, trainStep, gradients,
// adapters, save/load, clone, cancel, dispose) and the two loaders. Long calls go through
// policy_task (async_task.h); arguments through napi_marshal.h.
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>

#include "addon_exports.h"
#include "async_task.h"
#include "backend_choice.h"
#include "checkpoint.h"
#include "napi_marshal.h"

namespace arclight {
namespace napi {

namespace {

// options.adapter of the call's argument `i` (an options object or undefined).
std::string adapter_of(const Napi::CallbackInfo& info, size_t i) {
  Napi::Env env = info.Env();
  if (info.Length() <= i || info[i].IsUndefined() || info[i].IsNull()) return "default";
  return parse_adapter(env, need_object(env, info[i], "options").Get("adapter"));
}

std::string string_arg(const Napi::CallbackInfo& info, size_t i, const char* what) {
  if (info.Length() <= i || !info[i].IsString()) type_error(info.Env(), std::string(what) + " must be a string");
  return info[i].As<Napi::String>().Utf8Value();
}

class NativePolicy : public Napi::ObjectWrap<NativePolicy> {
 public:
  static Napi::FunctionReference* ctor;

  static Napi::Function Init(Napi::Env env) {
    return DefineClass(
        env, "NativePolicy",
        {InstanceMethod("info", &NativePolicy::Info), InstanceMethod("generate", &NativePolicy::Generate),
         InstanceMethod("score", &NativePolicy::Score), InstanceMethod("trainStep", &NativePolicy::TrainStep),
         InstanceMethod("gradients", &NativePolicy::Gradients), InstanceMethod("merge", &NativePolicy::Merge),
         InstanceMethod("saveAdapter", &NativePolicy::SaveAdapter),
         InstanceMethod("loadAdapter", &NativePolicy::LoadAdapter),
         InstanceMethod("removeAdapter", &NativePolicy::RemoveAdapter), InstanceMethod("saveHF", &NativePolicy::SaveHF),
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
    ModelConfig c = parse_config(env, need_object(env, info[0], "config"));
    const double seed = info.Length() > 1 && info[1].IsNumber() ? info[1].As<Napi::Number>().DoubleValue() : 0;
    const DeviceRequest req = parse_device(env, info.Length() > 2 ? info[2] : env.Undefined());
    state_ = std::make_shared<PolicyState>();
    try {
      auto host = std::make_unique<Model<float>>(c);
      host->init((uint64_t)seed);
      state_->model = make_backend(std::move(host), req, &state_->deviceNote);
    } catch (const std::bad_alloc&) {
      throw Napi::Error::New(env, "not enough memory for this model config");
    } catch (const std::exception& e) { throw Napi::Error::New(env, e.what()); }
    state_->model->setCancelFlag(&state_->cancel);
  }

  static Napi::Object Wrap(Napi::Env env, std::shared_ptr<PolicyState> st) {
    st->model->setCancelFlag(&st->cancel);
    auto ext =
        Napi::External<std::shared_ptr<PolicyState>>::New(env, new std::shared_ptr<PolicyState>(std::move(st)),
                                                          [](Napi::Env, std::shared_ptr<PolicyState>* p) { delete p; });
    return ctor->New({ext});
  }

 private:
  std::shared_ptr<PolicyState> state_;

  std::shared_ptr<PolicyState> live(Napi::Env env) {
    if (!state_ || !state_->model) throw Napi::Error::New(env, "policy was disposed");
    return state_;
  }

  // A synchronous call under the policy's lock; C++ errors become JS errors prefixed with `what`.
  template <class Fn>
  auto locked(Napi::Env env, const char* what, Fn fn) -> decltype(fn(std::declval<PolicyState&>())) {
    auto st = live(env);
    try {
      std::lock_guard<std::mutex> lk(st->mu);
      return fn(*st);
    } catch (const Napi::Error&) { throw; } catch (const std::exception& e) {
      throw Napi::Error::New(env, std::string(what) + e.what());
    }
  }

  Napi::Value Info(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return locked(env, "", [&](PolicyState& st) -> Napi::Value {
      Backend& b = *st.model;
      Napi::Object o = Napi::Object::New(env);
      o.Set("config", config_object(env, b.config()));
      o.Set("numParams", (double)b.numParams());
      if (b.config().lora.rank > 0) o.Set("trainableParams", (double)b.host().numTrainable());
      if (std::string(b.device()) == "cpu") {  // host() is the live model there (a device copy on CUDA)
        const Model<float>& h = b.host();
        Napi::Object mem = Napi::Object::New(env);
        const double f32 = (double)(h.weightBytesF32() + h.parked_weight_bytes()), bf16 = (double)h.weightBytesBf16();
        mem.Set("weights", f32 + bf16);
        Napi::Object byDtype = Napi::Object::New(env);
        byDtype.Set("fp32", f32);
        byDtype.Set("bf16", bf16);
        mem.Set("weightsByDtype", byDtype);
        mem.Set("gradients", (double)(h.g.size() * sizeof(float)));
        mem.Set("optimizer", (double)((h.m.size() + h.v.size()) * sizeof(float) + h.parked_optimizer_bytes()));
        o.Set("memory", mem);
        if (h.cfg.lora.rank > 0) {  // { name: optimizer steps taken } of every named adapter
          Napi::Object steps = Napi::Object::New(env);
          steps.Set(h.activeAdapter, (double)h.step);
          for (const auto& kv : h.parked) steps.Set(kv.first, (double)kv.second.step);
          o.Set("adapters", steps);
        }
      }
      o.Set("step", (double)b.step());
      o.Set("device", b.device());
      o.Set("precision", b.precision());
      if (!st.deviceNote.empty()) o.Set("deviceNote", st.deviceNote);
      return o;
    });
  }

  Napi::Value Generate(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto st = live(env);
    Napi::Object o = need_object(env, info[0], "generate request");
    const GenRequest r = parse_generate(env, o);
    auto res = std::make_shared<GenResult>();
    auto secs = std::make_shared<double>(0);
    return policy_task(
        env, st, parse_adapter(env, o.Get("adapter")),
        [r, res, secs](Backend& b) {
          const auto t0 = std::chrono::steady_clock::now();
          *res = b.generate(r);
          *secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        },
        [res, secs](Napi::Env env) -> Napi::Value { return generation_object(env, *res, *secs); });
  }

  // score(batch, { adapter? })
  Napi::Value Score(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto st = live(env);
    auto b = std::make_shared<SeqBatch>(parse_batch(env, need_object(env, info[0], "batch")));
    auto lp = std::make_shared<std::vector<double>>(), ent = std::make_shared<std::vector<double>>();
    return policy_task(
        env, st, adapter_of(info, 1), [b, lp, ent](Backend& m) { m.score(*b, lp.get(), ent.get()); },
        [lp, ent](Napi::Env env) -> Napi::Value {
          Napi::Object out = Napi::Object::New(env);
          out.Set("logprobs", to_f64(env, *lp));
          out.Set("entropy", to_f64(env, *ent));
          return out;
        });
  }

  // The batch and loss of trainStep / gradients, checked against each other.
  static std::pair<std::shared_ptr<SeqBatch>, LossConfig> loss_batch(Napi::Env env, const Napi::CallbackInfo& info) {
    auto b = std::make_shared<SeqBatch>(parse_batch(env, need_object(env, info[0], "batch")));
    LossConfig lc = parse_loss(env, need_object(env, info[1], "train options"));
    if (lc.kind == LossKind::GRPO && b->advantages.empty()) type_error(env, "grpo needs advantages");
    if (lc.klBeta != 0 && b->refLogprobs.empty()) type_error(env, "klBeta needs refLogprobs");
    return {b, lc};
  }

  // trainStep(batch, { loss and optimizer options, adapter? })
  Napi::Value TrainStep(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto st = live(env);
    auto [b, lc] = loss_batch(env, info);
    const OptimConfig oc = parse_optim(info[1].As<Napi::Object>());
    auto stats = std::make_shared<StepStats>();
    return policy_task(
        env, st, adapter_of(info, 1), [b = b, lc = lc, oc, stats](Backend& m) { *stats = m.trainStep(*b, lc, oc); },
        [stats](Napi::Env env) -> Napi::Value { return stats_object(env, *stats); });
  }

  // gradients(batch, { loss options, adapter? }): { loss, gradNorm, grads: { [param]: Float32Array } } without an
  // update.
  Napi::Value Gradients(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto st = live(env);
    auto [b, lc] = loss_batch(env, info);
    auto stats = std::make_shared<StepStats>();
    auto names = std::make_shared<std::vector<std::string>>();
    auto grads = std::make_shared<std::vector<std::vector<float>>>();
    return policy_task(
        env, st, adapter_of(info, 1),
        [b = b, lc = lc, stats, names, grads](Backend& m) {
          *stats = m.gradients(*b, lc);
          const Model<float>& h = m.host();
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
  }

  // save(path): weights, config, step, AdamW moments and every named adapter (checkpoint.h).
  Napi::Value Save(const Napi::CallbackInfo& info) {
    const std::string path = string_arg(info, 0, "path");
    return policy_task(info.Env(), live(info.Env()), "", [path](Backend& m) { save_checkpoint(m.host(), path); });
  }

  // saveHF(dir, { adapter? }): a Hugging Face directory with that adapter merged in.
  Napi::Value SaveHF(const Napi::CallbackInfo& info) {
    const std::string dir = string_arg(info, 0, "dir");
    return policy_task(info.Env(), live(info.Env()), adapter_of(info, 1),
                       [dir](Backend& m) { save_hf(m.host(), dir); });
  }

  // saveAdapter(dir, { adapter? }) / loadAdapter(dir, { adapter? }): PEFT adapter directories.
  Napi::Value SaveAdapter(const Napi::CallbackInfo& info) {
    const std::string dir = string_arg(info, 0, "dir");
    return policy_task(info.Env(), live(info.Env()), adapter_of(info, 1),
                       [dir](Backend& m) { save_peft_adapter(m.host(), dir); });
  }

  Napi::Value LoadAdapter(const Napi::CallbackInfo& info) {
    const std::string dir = string_arg(info, 0, "dir");
    return policy_task(info.Env(), live(info.Env()), adapter_of(info, 1), [dir](Backend& b) {
      Model<float>* m = b.mutableHost();
      if (!m) throw std::runtime_error("loading adapters needs the CPU backend");
      load_peft_adapter(*m, dir);
    });
  }

  // removeAdapter(name): drops a named adapter that is not "default"; the next call selects its own.
  Napi::Value RemoveAdapter(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const std::string name = parse_adapter(env, info.Length() > 0 ? info[0] : env.Undefined());
    if (name == "default") type_error(env, "the default adapter cannot be removed");
    return locked(env, "removeAdapter: ", [&](PolicyState& st) -> Napi::Value {
      Model<float>* m = st.model->mutableHost();
      if (!m) throw std::invalid_argument("this policy has no named adapters");
      if (m->activeAdapter == name) m->use_adapter("default");
      m->remove_adapter(name);
      return env.Undefined();
    });
  }

  Napi::Value Clone(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto copy = std::make_shared<PolicyState>();
    locked(env, "clone failed: ", [&](PolicyState& st) {
      copy->model = st.model->clone();
      copy->deviceNote = st.deviceNote;
    });
    return Wrap(env, copy);
  }

  // merge({ adapter? }): a new policy (CPU) whose base weights have that adapter folded in, without adapters.
  Napi::Value Merge(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const std::string adapter = adapter_of(info, 0);
    auto out = std::make_shared<PolicyState>();
    locked(env, "merge failed: ", [&](PolicyState& st) {
      st.model->useAdapter(adapter);
      const Model<float>& h = st.model->host();
      if (h.cfg.lora.rank == 0) throw std::invalid_argument("this policy has no LoRA adapters to merge");
      out->model = std::make_unique<CpuBackend>(h.merged());
    });
    return Wrap(env, out);
  }

  Napi::Value Cancel(const Napi::CallbackInfo& info) {
    if (state_) state_->cancel = true;
    return info.Env().Undefined();
  }

  // Frees the weights once the calls already running finish.
  Napi::Value Dispose(const Napi::CallbackInfo& info) {
    if (!state_) return info.Env().Undefined();
    auto st = state_;
    state_.reset();
    st->cancel = true;
    return queue_task(info.Env(), [st] {
      std::lock_guard<std::mutex> lk(st->mu);
      st->model.reset();
    });
  }
};

Napi::FunctionReference* NativePolicy::ctor = nullptr;

// Builds the host model on the pool, then puts it on the backend the options ask for.
Napi::Value load_task(Napi::Env env, const DeviceRequest& req, std::function<std::unique_ptr<Model<float>>()> make) {
  auto st = std::make_shared<PolicyState>();
  return queue_task(
      env, [st, req, make] { st->model = make_backend(make(), req, &st->deviceNote); },
      [st](Napi::Env env) -> Napi::Value { return NativePolicy::Wrap(env, st); });
}

// loadPolicy(path, { device, precision })
Napi::Value LoadPolicy(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const std::string path = string_arg(info, 0, "path");
  return load_task(env, parse_device(env, info.Length() > 1 ? info[1] : env.Undefined()),
                   [path] { return load_checkpoint(path); });
}

// loadPretrained(dir, { device, precision, lora?, adapter?, seed?, baseWeights? }): options.lora = fresh
// adapters over the frozen base; options.adapter = a PEFT directory whose config and weights are used;
// baseWeights "bf16" = the frozen base (every weight without adapters) held as bf16 (bf16_weights.h).
Napi::Value LoadPretrained(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const std::string dir = string_arg(info, 0, "dir");
  const Napi::Value opts = info.Length() > 1 ? info[1] : env.Undefined();
  const DeviceRequest req = parse_device(env, opts);
  LoraConfig lora;
  std::string adapter;
  uint64_t seed = 0;
  BaseStorage storage = BaseStorage::FP32;
  if (opts.IsObject()) {
    Napi::Object o = opts.As<Napi::Object>();
    lora = parse_lora(env, o.Get("lora"));
    seed = (uint64_t)num(o, "seed", 0);
    adapter = str(o, "adapter", "");
    const std::string bw = str(o, "baseWeights", "fp32");
    if (bw != "fp32" && bw != "bf16") type_error(env, "baseWeights must be \"fp32\" or \"bf16\"");
    storage = bw == "bf16" ? BaseStorage::BF16 : BaseStorage::FP32;
  }
  return load_task(env, req, [dir, lora, adapter, seed, storage] {
    LoraConfig l = lora;
    if (!adapter.empty()) {
      l = read_peft_config(adapter);
      if (lora.rank > 0 && (lora.rank != l.rank || lora.targets != l.targets))
        throw std::invalid_argument("options.lora does not match " + adapter +
                                    "/adapter_config.json; give one of them");
    }
    auto host = load_hf_pretrained(dir, l, seed, storage);
    if (!adapter.empty()) load_peft_adapter(*host, adapter);
    return host;
  });
}

}  // namespace

void register_policy(Napi::Env env, Napi::Object exports) {
  Napi::Function cls = NativePolicy::Init(env);
  NativePolicy::ctor = new Napi::FunctionReference(Napi::Persistent(cls));
  exports.Set("NativePolicy", cls);
  exports.Set("loadPolicy", Napi::Function::New(env, LoadPolicy));
  exports.Set("loadPretrained", Napi::Function::New(env, LoadPretrained));
}

}  // namespace napi
}  // namespace arclight
