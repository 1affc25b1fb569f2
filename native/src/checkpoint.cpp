// Policy checkpoints: Model<float> <-> safetensors through native/io.
#include "checkpoint.h"

#include <fstream>
#include <sstream>

#include "../io/hf_layout.h"
#include "../io/json.h"
#include "../io/safetensors.h"

namespace arclight {

namespace {

std::string fmt(double x) {
  std::ostringstream s;
  s.precision(17);
  s << x;
  return s.str();
}

const std::string& need(const std::map<std::string, std::string>& meta, const std::string& key,
                        const std::string& path) {
  auto it = meta.find(key);
  if (it == meta.end())
    throw std::runtime_error(path + ": not an Arclight checkpoint (metadata key " + key + " missing)");
  return it->second;
}

int to_int(const std::string& s, const std::string& key) {
  try {
    size_t used = 0;
    const long v = std::stol(s, &used);
    if (used != s.size() || v < INT32_MIN || v > INT32_MAX) throw std::invalid_argument(s);
    return (int)v;
  } catch (const std::exception&) {
    throw std::runtime_error("checkpoint metadata " + key + " is not an integer: \"" + s + "\"");
  }
}

double to_double(const std::string& s, const std::string& key) {
  try {
    size_t used = 0;
    const double v = std::stod(s, &used);
    if (used != s.size()) throw std::invalid_argument(s);
    return v;
  } catch (const std::exception&) {
    throw std::runtime_error("checkpoint metadata " + key + " is not a number: \"" + s + "\"");
  }
}

// AdamW moments of parameter p are stored as optim.m.<p> and optim.v.<p>.
const std::string kOptimM = "optim.m.", kOptimV = "optim.v.";
// Named adapters other than the active one are stored as adapters.<name>.<param> (and their moments
// as adapters.<name>.optim.m.<param>), listed in arclight.adapters.
const std::string kAdapters = "adapters.";

bool is_optim(const std::string& name) { return name.compare(0, 6, "optim.") == 0; }
bool is_parked(const std::string& name) { return name.compare(0, kAdapters.size(), kAdapters) == 0; }

// Copies tensor prefix+p.name of every parameter from offset `from` on into dst, which is laid out
// like the weights minus the first `from` elements (the weights: from = 0; optimizer moments: the
// trainable tail).
void fill(std::vector<float>& dst, const Model<float>& model, const std::map<std::string, io::TensorF32>& tensors,
          const std::string& prefix, const std::string& path, size_t from = 0, bool baseOnly = false) {
  for (const ParamInfo& p : model.params) {
    if (p.offset < from || (baseOnly && Model<float>::is_lora(p))) continue;
    auto it = tensors.find(prefix + p.name);
    if (it == tensors.end()) throw std::runtime_error(path + ": tensor " + prefix + p.name + " missing");
    if (it->second.shape != p.shape)
      throw std::runtime_error(path + ": tensor " + prefix + p.name + " has the wrong shape");
    std::copy(it->second.data.begin(), it->second.data.end(), dst.begin() + (p.offset - from));
  }
}

// The weights, through Model::set_param so a bf16-stored base is filled too.
void fill_weights(Model<float>& model, const std::map<std::string, io::TensorF32>& tensors, const std::string& path,
                  bool baseOnly = false) {
  for (const ParamInfo& p : model.params) {
    if (baseOnly && Model<float>::is_lora(p)) continue;
    auto it = tensors.find(p.name);
    if (it == tensors.end()) throw std::runtime_error(path + ": tensor " + p.name + " missing");
    if (it->second.shape != p.shape) throw std::runtime_error(path + ": tensor " + p.name + " has the wrong shape");
    model.set_param(p, it->second.data.data());
  }
  size_t weights = 0, expected = 0;
  for (auto& kv : tensors) weights += is_optim(kv.first) || is_parked(kv.first) ? 0 : 1;
  for (const ParamInfo& p : model.params) expected += baseOnly && Model<float>::is_lora(p) ? 0 : 1;
  if (weights != expected) throw std::runtime_error(path + ": unexpected extra tensors for this config");
}

std::string lora_targets_str(const LoraConfig& l) {
  std::string s;
  for (int t = 0; t < kLoraTargets; t++)
    if (l.has(t)) s += (s.empty() ? "" : ",") + std::string(lora_target_name(t));
  return s;
}

unsigned parse_lora_targets(const std::string& s, const std::string& where) {
  unsigned mask = 0;
  size_t at = 0;
  while (at <= s.size()) {
    const size_t comma = s.find(',', at);
    const std::string name = s.substr(at, comma == std::string::npos ? std::string::npos : comma - at);
    const int t = lora_target_index(name);
    if (t < 0) throw std::runtime_error(where + ": unknown LoRA target \"" + name + "\"");
    mask |= 1u << t;
    if (comma == std::string::npos) break;
    at = comma + 1;
  }
  return mask;
}

// The named adapters a checkpoint holds besides its active one (arclight.adapters), each with its
// step count and, when it has trained, its AdamW moments.
void load_parked_adapters(Model<float>& model, const std::map<std::string, io::TensorF32>& tensors,
                          std::map<std::string, std::string>& meta, const std::string& path) {
  auto act = meta.find("arclight.adapter");
  if (act != meta.end()) model.activeAdapter = act->second;
  auto list = meta.find("arclight.adapters");
  size_t expected = 0;
  if (list != meta.end() && !list->second.empty()) {
    if (model.cfg.lora.rank == 0) throw std::runtime_error(path + ": named adapters without LoRA metadata");
    const size_t base = model.trainableBase(), n = model.numTrainable();
    size_t tail = 0;  // adapter tensors per adapter
    for (const ParamInfo& p : model.params) tail += p.offset >= base ? 1 : 0;
    std::stringstream names(list->second);
    std::string name;
    while (std::getline(names, name, ',')) {
      if (name.empty() || name == model.activeAdapter || model.parked.count(name))
        throw std::runtime_error(path + ": bad adapter list \"" + list->second + "\"");
      Model<float>::AdapterState a;
      const std::string pre = kAdapters + name + ".";
      a.w.assign(n, 0.0f);
      fill(a.w, model, tensors, pre, path, base);
      expected += tail;
      if (tensors.count(pre + kOptimM + model.params.back().name)) {
        a.m.assign(n, 0.0f);
        a.v.assign(n, 0.0f);
        fill(a.m, model, tensors, pre + kOptimM, path, base);
        fill(a.v, model, tensors, pre + kOptimV, path, base);
        expected += 2 * tail;
      }
      a.step = to_int(need(meta, "arclight.adapterStep." + name, path), "adapterStep");
      model.parked[name] = std::move(a);
    }
  }
  size_t found = 0;
  for (auto& kv : tensors) found += is_parked(kv.first) ? 1 : 0;
  if (found != expected) throw std::runtime_error(path + ": adapters.* tensors do not match arclight.adapters");
}

}  // namespace

void save_checkpoint(const Model<float>& model, const std::string& path) {
  const ModelConfig& c = model.cfg;
  const size_t base = model.trainableBase();
  const bool optim =
      model.m.size() == model.numTrainable() && model.v.size() == model.numTrainable() && model.numTrainable() > 0;
  const size_t P = model.params.size();
  std::vector<io::TensorF32> store(optim ? 3 * P : P);
  std::vector<std::pair<std::string, const io::TensorF32*>> list;
  auto put = [&](size_t slot, const std::string& name, const std::vector<float>& src, const ParamInfo& p, size_t from) {
    store[slot].shape = p.shape;
    store[slot].data.assign(src.begin() + (p.offset - from), src.begin() + (p.offset - from) + p.size);
    list.emplace_back(name, &store[slot]);
  };
  for (size_t i = 0; i < P; i++) {
    const ParamInfo& p = model.params[i];
    store[i].shape = p.shape;
    store[i].data = model.param_values(p);
    list.emplace_back(p.name, &store[i]);
    if (optim && p.offset >= base) {  // moments exist for trained parameters only
      put(P + i, kOptimM + p.name, model.m, p, base);
      put(2 * P + i, kOptimV + p.name, model.v, p, base);
    }
  }
  // Parked named adapters: adapters.<name>.<param>, with their moments under adapters.<name>.optim.m./v.
  std::vector<io::TensorF32> parkedStore;
  parkedStore.reserve(model.parked.size() * 3 * P);
  std::string names;
  for (const auto& kv : model.parked) {
    const auto& a = kv.second;
    const std::string pre = kAdapters + kv.first + ".";
    const bool aOptim = a.m.size() == model.numTrainable() && a.v.size() == model.numTrainable();
    for (const ParamInfo& p : model.params) {
      if (p.offset < base) continue;
      auto add = [&](const std::string& name, const std::vector<float>& src) {
        parkedStore.emplace_back();
        parkedStore.back().shape = p.shape;
        parkedStore.back().data.assign(src.begin() + (p.offset - base), src.begin() + (p.offset - base) + p.size);
        list.emplace_back(name, &parkedStore.back());
      };
      add(pre + p.name, a.w);
      if (aOptim) {
        add(pre + kOptimM + p.name, a.m);
        add(pre + kOptimV + p.name, a.v);
      }
    }
    names += (names.empty() ? "" : ",") + kv.first;
  }
  std::map<std::string, std::string> meta = {
      {"format", "pt"},
      {"arclight.format", "1"},
      {"arclight.family", c.family},
      {"arclight.layers", std::to_string(c.layers)},
      {"arclight.dModel", std::to_string(c.dModel)},
      {"arclight.heads", std::to_string(c.heads)},
      {"arclight.kvHeads", std::to_string(c.kvHeads)},
      {"arclight.vocab", std::to_string(c.vocab)},
      {"arclight.ctx", std::to_string(c.ctx)},
      {"arclight.ffn", std::to_string(c.ffn)},
      {"arclight.normEps", fmt(c.normEps)},
      {"arclight.ropeTheta", fmt(c.ropeTheta)},
      {"arclight.tieEmbeddings", c.tieEmbeddings ? "true" : "false"},
      {"arclight.step", std::to_string(model.step)},
  };
  if (optim) meta["arclight.optim"] = "adamw";
  if (c.lora.rank > 0) meta["arclight.adapter"] = model.activeAdapter;
  if (!names.empty()) {
    meta["arclight.adapters"] = names;
    for (const auto& kv : model.parked) meta["arclight.adapterStep." + kv.first] = std::to_string(kv.second.step);
  }
  if (c.lora.rank > 0) {  // adapters (h.<i>.lora.<target>.A/B) over a frozen base
    meta["arclight.loraRank"] = std::to_string(c.lora.rank);
    meta["arclight.loraAlpha"] = fmt(c.lora.alpha);
    meta["arclight.loraDropout"] = fmt(c.lora.dropout);
    meta["arclight.loraTargets"] = lora_targets_str(c.lora);
  }
  if (c.ropeScaled()) {  // Llama 3 rope_scaling; absent means plain RoPE
    meta["arclight.ropeFactor"] = fmt(c.ropeFactor);
    meta["arclight.ropeLowFreqFactor"] = fmt(c.ropeLowFreqFactor);
    meta["arclight.ropeHighFreqFactor"] = fmt(c.ropeHighFreqFactor);
    meta["arclight.ropeOriginalCtx"] = std::to_string(c.ropeOriginalCtx);
  }
  io::write_safetensors(path, list, meta);
}

std::unique_ptr<Model<float>> load_checkpoint(const std::string& path) {
  std::map<std::string, std::string> meta;
  auto tensors = io::read_safetensors(path, &meta);
  ModelConfig c;
  c.family = need(meta, "arclight.family", path);
  c.layers = to_int(need(meta, "arclight.layers", path), "layers");
  c.dModel = to_int(need(meta, "arclight.dModel", path), "dModel");
  c.heads = to_int(need(meta, "arclight.heads", path), "heads");
  c.kvHeads = to_int(need(meta, "arclight.kvHeads", path), "kvHeads");
  c.vocab = to_int(need(meta, "arclight.vocab", path), "vocab");
  c.ctx = to_int(need(meta, "arclight.ctx", path), "ctx");
  c.ffn = to_int(need(meta, "arclight.ffn", path), "ffn");
  c.normEps = to_double(need(meta, "arclight.normEps", path), "normEps");
  c.ropeTheta = to_double(need(meta, "arclight.ropeTheta", path), "ropeTheta");
  c.tieEmbeddings = need(meta, "arclight.tieEmbeddings", path) == "true";
  if (meta.count("arclight.ropeFactor")) {
    c.ropeFactor = to_double(meta["arclight.ropeFactor"], "ropeFactor");
    c.ropeLowFreqFactor = to_double(need(meta, "arclight.ropeLowFreqFactor", path), "ropeLowFreqFactor");
    c.ropeHighFreqFactor = to_double(need(meta, "arclight.ropeHighFreqFactor", path), "ropeHighFreqFactor");
    c.ropeOriginalCtx = to_int(need(meta, "arclight.ropeOriginalCtx", path), "ropeOriginalCtx");
  }
  if (meta.count("arclight.loraRank")) {
    c.lora.rank = to_int(meta["arclight.loraRank"], "loraRank");
    c.lora.alpha = to_double(need(meta, "arclight.loraAlpha", path), "loraAlpha");
    c.lora.dropout = to_double(need(meta, "arclight.loraDropout", path), "loraDropout");
    c.lora.targets = parse_lora_targets(need(meta, "arclight.loraTargets", path), path);
  }
  auto model = std::make_unique<Model<float>>(c);  // validates the config
  fill_weights(*model, tensors, path);
  auto st = meta.find("arclight.step");
  if (st != meta.end()) model->step = to_int(st->second, "step");
  auto opt = meta.find("arclight.optim");
  if (opt != meta.end()) {
    if (opt->second != "adamw") throw std::runtime_error(path + ": unknown optimizer state \"" + opt->second + "\"");
    model->m.assign(model->numTrainable(), 0.0f);
    model->v.assign(model->numTrainable(), 0.0f);
    fill(model->m, *model, tensors, kOptimM, path, model->trainableBase());
    fill(model->v, *model, tensors, kOptimV, path, model->trainableBase());
  } else {
    for (auto& kv : tensors)
      if (is_optim(kv.first))
        throw std::runtime_error(path + ": tensor " + kv.first + " without arclight.optim metadata");
  }
  load_parked_adapters(*model, tensors, meta, path);
  return model;
}

std::unique_ptr<Model<float>> load_hf_pretrained(const std::string& dir, const LoraConfig& lora, uint64_t seed,
                                                 BaseStorage storage) {
  io::HfConfig hc;
  auto tensors = io::load_hf_checkpoint(dir, &hc);
  ModelConfig c;
  c.family = hc.family;
  c.layers = (int)hc.layers;
  c.dModel = (int)hc.d_model;
  c.heads = (int)hc.heads;
  c.kvHeads = (int)hc.kv_heads;
  c.vocab = (int)hc.vocab;
  c.ctx = (int)hc.ctx;
  c.ffn = (int)hc.ffn;
  c.normEps = hc.norm_eps;
  c.ropeTheta = hc.rope_theta;
  c.tieEmbeddings = hc.tie_embeddings;
  c.ropeFactor = hc.rope_factor;
  c.ropeLowFreqFactor = hc.rope_low_freq_factor;
  c.ropeHighFreqFactor = hc.rope_high_freq_factor;
  c.ropeOriginalCtx = (int)hc.rope_original_ctx;
  c.lora = lora;
  auto model = std::make_unique<Model<float>>(c, storage);
  fill_weights(*model, tensors, dir, lora.rank > 0);
  if (lora.rank > 0) model->init_lora(seed);
  return model;
}

// ---------------------------------------------------------------------------
// PEFT adapters

namespace {

std::string peft_name(int layer, int t, char which) {
  const bool attn = t <= kLoraO;
  return "base_model.model.model.layers." + std::to_string(layer) + (attn ? ".self_attn." : ".mlp.") +
         lora_target_name(t) + ".lora_" + std::string(1, which) + ".weight";
}

std::string arclight_name(int layer, int t, char which) {
  return names::layer(layer, "lora.") + lora_target_name(t) + (which == 'A' ? ".A" : ".B");
}

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error(path + ": cannot open");
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

void save_peft_adapter(const Model<float>& model, const std::string& dir) {
  const ModelConfig& c = model.cfg;
  if (c.lora.rank == 0) throw std::invalid_argument("this policy has no LoRA adapter to save");
  std::vector<io::TensorF32> store;
  std::vector<std::pair<std::string, std::string>> names;  // peft name, arclight name
  for (int l = 0; l < c.layers; l++)
    for (int t = 0; t < kLoraTargets; t++)
      if (c.lora.has(t))
        for (char which : {'A', 'B'}) names.emplace_back(peft_name(l, t, which), arclight_name(l, t, which));
  store.resize(names.size());
  std::vector<std::pair<std::string, const io::TensorF32*>> list;
  for (size_t i = 0; i < names.size(); i++) {
    const ParamInfo* p = model.find(names[i].second);
    if (!p) throw std::logic_error("adapter parameter " + names[i].second + " missing");
    store[i].shape = p->shape;
    store[i].data = model.param_values(*p);
    list.emplace_back(names[i].first, &store[i]);
  }
  io::write_safetensors(dir + "/adapter_model.safetensors", list, {{"format", "pt"}});
  std::string cfg =
      "{\n  \"peft_type\": \"LORA\",\n  \"task_type\": \"CAUSAL_LM\",\n  \"r\": " + std::to_string(c.lora.rank) +
      ",\n  \"lora_alpha\": " + fmt(c.lora.alpha) + ",\n  \"lora_dropout\": " + fmt(c.lora.dropout) +
      ",\n  \"target_modules\": [";
  bool first = true;
  for (int t = 0; t < kLoraTargets; t++)
    if (c.lora.has(t)) {
      cfg += std::string(first ? "" : ", ") + "\"" + lora_target_name(t) + "\"";
      first = false;
    }
  cfg +=
      "],\n  \"bias\": \"none\",\n  \"fan_in_fan_out\": false,\n  \"use_rslora\": false,\n  \"use_dora\": false,\n"
      "  \"init_lora_weights\": true,\n  \"inference_mode\": true,\n  \"modules_to_save\": null,\n  "
      "\"base_model_name_or_path\": null\n}\n";
  std::ofstream out(dir + "/adapter_config.json", std::ios::binary | std::ios::trunc);
  if (!out) throw std::runtime_error(dir + "/adapter_config.json: cannot write");
  out << cfg;
  if (!out.flush()) throw std::runtime_error(dir + "/adapter_config.json: write failed");
}

LoraConfig read_peft_config(const std::string& dir) {
  const std::string path = dir + "/adapter_config.json";
  io::json::Value v;
  try {
    v = io::json::parse(slurp(path));
  } catch (const io::json::ParseError& e) { throw std::runtime_error(path + ": " + e.what()); }
  auto bad = [&](const std::string& m) { throw std::runtime_error(path + ": " + m); };
  if (v.kind != io::json::Kind::Object) bad("expected a JSON object");
  auto str = [&](const char* k) -> std::string {
    const io::json::Value* x = v.find(k);
    return x && x->kind == io::json::Kind::String ? x->s : "";
  };
  auto truthy = [&](const char* k) {
    const io::json::Value* x = v.find(k);
    return x && x->kind == io::json::Kind::Bool && x->b;
  };
  if (str("peft_type") != "LORA") bad("peft_type must be \"LORA\"");
  // Variants that change the math are refused rather than loaded as plain LoRA.
  for (const char* k : {"use_rslora", "use_dora", "fan_in_fan_out"})
    if (truthy(k)) bad(std::string(k) + " = true is not supported");
  if (const io::json::Value* b = v.find("bias"); b && !(b->kind == io::json::Kind::String && b->s == "none"))
    bad("bias must be \"none\"");
  for (const char* k : {"modules_to_save", "rank_pattern", "alpha_pattern", "layers_to_transform"}) {
    const io::json::Value* x = v.find(k);
    const bool empty = !x || x->kind == io::json::Kind::Null ||
                       (x->kind == io::json::Kind::Object && x->members.empty()) ||
                       (x->kind == io::json::Kind::Array && x->items.empty());
    if (!empty) bad(std::string(k) + " is not supported");
  }
  LoraConfig l;
  const io::json::Value* r = v.find("r");
  if (!r || r->kind != io::json::Kind::Int || r->i < 1 || r->i > 4096) bad("r must be an integer in [1, 4096]");
  l.rank = (int)r->i;
  const io::json::Value* a = v.find("lora_alpha");
  l.alpha = a && a->is_number() ? a->as_double() : 8.0;  // PEFT's default
  const io::json::Value* d = v.find("lora_dropout");
  l.dropout = d && d->is_number() ? d->as_double() : 0.0;
  const io::json::Value* t = v.find("target_modules");
  if (!t || t->kind != io::json::Kind::Array || t->items.empty())
    bad("target_modules must be a non-empty list of module names");
  for (const auto& it : t->items) {
    const int idx = it.kind == io::json::Kind::String ? lora_target_index(it.s) : -1;
    if (idx < 0)
      bad("unsupported target module " +
          (it.kind == io::json::Kind::String ? "\"" + it.s + "\"" : std::string("(not a string)")) +
          " (q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj)");
    l.targets |= 1u << idx;
  }
  return l;
}

void load_peft_adapter(Model<float>& model, const std::string& dir) {
  const LoraConfig want = read_peft_config(dir);
  const LoraConfig& have = model.cfg.lora;
  if (have.rank == 0)
    throw std::invalid_argument("this policy has no LoRA adapters; create it with a lora config (or the adapter's)");
  if (want.rank != have.rank || want.targets != have.targets || want.alpha != have.alpha)
    throw std::invalid_argument(dir + ": adapter (r " + std::to_string(want.rank) + ", alpha " + fmt(want.alpha) +
                                ", targets " + lora_targets_str(want) +
                                ") does not match this policy's LoRA config (r " + std::to_string(have.rank) +
                                ", alpha " + fmt(have.alpha) + ", targets " + lora_targets_str(have) + ")");
  auto tensors = io::read_safetensors(dir + "/adapter_model.safetensors");
  size_t used = 0;
  std::vector<float> next = model.w;  // all or nothing
  for (int l = 0; l < model.cfg.layers; l++)
    for (int t = 0; t < kLoraTargets; t++) {
      if (!have.has(t)) continue;
      for (char which : {'A', 'B'}) {
        std::string pn = peft_name(l, t, which);
        auto it = tensors.find(pn);
        if (it == tensors.end()) {  // PEFT writes the adapter name into keys when it is not "default"
          const std::string alt = pn.substr(0, pn.size() - 7) + ".default.weight";
          it = tensors.find(alt);
        }
        if (it == tensors.end())
          throw std::runtime_error(dir + "/adapter_model.safetensors: tensor " + pn + " missing");
        const ParamInfo* p = model.find(arclight_name(l, t, which));
        if (it->second.shape != p->shape)
          throw std::runtime_error(dir + "/adapter_model.safetensors: tensor " + pn + " has the wrong shape");
        std::copy(it->second.data.begin(), it->second.data.end(), next.begin() + (p->offset - model.wFrom()));
        used++;
      }
    }
  if (used != tensors.size())
    throw std::runtime_error(dir + "/adapter_model.safetensors: " + std::to_string(tensors.size() - used) +
                             " tensor(s) not used by this policy");
  model.w.swap(next);
  model.m.clear();  // a loaded adapter starts a fresh optimizer
  model.v.clear();
}

// ---------------------------------------------------------------------------
// Hugging Face export

namespace {

io::TensorF32 slice_rows(const Model<float>& m, const std::string& name, int64_t row0, int64_t rows) {
  const ParamInfo* p = m.find(name);
  if (!p) throw std::logic_error("parameter " + name + " missing");
  const int64_t width = p->shape.size() > 1 ? p->shape[1] : 1;
  io::TensorF32 t;
  t.shape = p->shape.size() > 1 ? std::vector<int64_t>{rows, width} : std::vector<int64_t>{rows};
  const std::vector<float> all = m.param_values(*p);
  t.data.assign(all.begin() + (size_t)(row0 * width), all.begin() + (size_t)((row0 + rows) * width));
  return t;
}

io::TensorF32 whole(const Model<float>& m, const std::string& name) {
  const ParamInfo* p = m.find(name);
  if (!p) throw std::logic_error("parameter " + name + " missing");
  return slice_rows(m, name, 0, p->shape[0]);
}

io::TensorF32 transposed(const io::TensorF32& t) {
  io::TensorF32 o;
  const int64_t r = t.shape[0], c = t.shape[1];
  o.shape = {c, r};
  o.data.resize(t.data.size());
  for (int64_t i = 0; i < r; i++)
    for (int64_t j = 0; j < c; j++) o.data[(size_t)(j * r + i)] = t.data[(size_t)(i * c + j)];
  return o;
}

}  // namespace

void save_hf(const Model<float>& model, const std::string& dir) {
  if (model.cfg.lora.rank > 0) return save_hf(*model.merged(), dir);
  const ModelConfig& c = model.cfg;
  std::map<std::string, io::TensorF32> out;
  namespace n = names;
  const int64_t HD = (int64_t)c.heads * c.headDim(), KVD = c.kvDim(), F = c.ffnDim();
  std::string cfg;
  if (c.family == "gpt2") {
    out["transformer.wte.weight"] = whole(model, n::kWte);
    out["transformer.wpe.weight"] = whole(model, n::kWpe);
    for (int i = 0; i < c.layers; i++) {
      const std::string h = "transformer.h." + std::to_string(i) + ".";
      out[h + "ln_1.weight"] = whole(model, n::layer(i, n::kLn1Weight));
      out[h + "ln_1.bias"] = whole(model, n::layer(i, n::kLn1Bias));
      out[h + "attn.c_attn.weight"] = transposed(whole(model, n::layer(i, n::kQkvWeight)));
      out[h + "attn.c_attn.bias"] = whole(model, n::layer(i, n::kQkvBias));
      out[h + "attn.c_proj.weight"] = transposed(whole(model, n::layer(i, n::kAttnProjWeight)));
      out[h + "attn.c_proj.bias"] = whole(model, n::layer(i, n::kAttnProjBias));
      out[h + "ln_2.weight"] = whole(model, n::layer(i, n::kLn2Weight));
      out[h + "ln_2.bias"] = whole(model, n::layer(i, n::kLn2Bias));
      out[h + "mlp.c_fc.weight"] = transposed(whole(model, n::layer(i, n::kFcWeight)));
      out[h + "mlp.c_fc.bias"] = whole(model, n::layer(i, n::kFcBias));
      out[h + "mlp.c_proj.weight"] = transposed(whole(model, n::layer(i, n::kMlpProjWeight)));
      out[h + "mlp.c_proj.bias"] = whole(model, n::layer(i, n::kMlpProjBias));
    }
    out["transformer.ln_f.weight"] = whole(model, n::kLnfWeight);
    out["transformer.ln_f.bias"] = whole(model, n::kLnfBias);
    cfg = "{\n  \"architectures\": [\"GPT2LMHeadModel\"],\n  \"model_type\": \"gpt2\",\n  \"n_layer\": " +
          std::to_string(c.layers) + ",\n  \"n_head\": " + std::to_string(c.heads) +
          ",\n  \"n_embd\": " + std::to_string(c.dModel) + ",\n  \"n_positions\": " + std::to_string(c.ctx) +
          ",\n  \"n_ctx\": " + std::to_string(c.ctx) + ",\n  \"n_inner\": " + std::to_string(F) +
          ",\n  \"vocab_size\": " + std::to_string(c.vocab) + ",\n  \"layer_norm_epsilon\": " + fmt(c.normEps) +
          ",\n  \"activation_function\": \"gelu_new\",\n  \"resid_pdrop\": 0.0,\n  \"embd_pdrop\": 0.0,\n  "
          "\"attn_pdrop\": 0.0,\n"
          "  \"tie_word_embeddings\": true,\n  \"torch_dtype\": \"float32\"\n}\n";
  } else {
    const bool qwen = c.family == "qwen2";
    out["model.embed_tokens.weight"] = whole(model, n::kWte);
    for (int i = 0; i < c.layers; i++) {
      const std::string p = "model.layers." + std::to_string(i) + ".";
      const std::string qkv = n::layer(i, n::kQkvWeight), qkvb = n::layer(i, n::kQkvBias),
                        gu = n::layer(i, n::kGateUpWeight);
      out[p + "input_layernorm.weight"] = whole(model, n::layer(i, n::kLn1Weight));
      out[p + "self_attn.q_proj.weight"] = slice_rows(model, qkv, 0, HD);
      out[p + "self_attn.k_proj.weight"] = slice_rows(model, qkv, HD, KVD);
      out[p + "self_attn.v_proj.weight"] = slice_rows(model, qkv, HD + KVD, KVD);
      if (qwen) {
        out[p + "self_attn.q_proj.bias"] = slice_rows(model, qkvb, 0, HD);
        out[p + "self_attn.k_proj.bias"] = slice_rows(model, qkvb, HD, KVD);
        out[p + "self_attn.v_proj.bias"] = slice_rows(model, qkvb, HD + KVD, KVD);
      }
      out[p + "self_attn.o_proj.weight"] = whole(model, n::layer(i, n::kAttnProjWeight));
      out[p + "post_attention_layernorm.weight"] = whole(model, n::layer(i, n::kLn2Weight));
      out[p + "mlp.gate_proj.weight"] = slice_rows(model, gu, 0, F);
      out[p + "mlp.up_proj.weight"] = slice_rows(model, gu, F, F);
      out[p + "mlp.down_proj.weight"] = whole(model, n::layer(i, n::kMlpProjWeight));
    }
    out["model.norm.weight"] = whole(model, n::kLnfWeight);
    if (!c.tieEmbeddings) out["lm_head.weight"] = whole(model, n::kLmHead);
    std::string rope = "null";
    if (c.ropeScaled())
      rope = "{\"rope_type\": \"llama3\", \"factor\": " + fmt(c.ropeFactor) +
             ", \"low_freq_factor\": " + fmt(c.ropeLowFreqFactor) +
             ", \"high_freq_factor\": " + fmt(c.ropeHighFreqFactor) +
             ", \"original_max_position_embeddings\": " + std::to_string(c.ropeOriginalCtx) + "}";
    cfg =
        std::string("{\n  \"architectures\": [\"") + (qwen ? "Qwen2ForCausalLM" : "LlamaForCausalLM") +
        "\"],\n  \"model_type\": \"" + c.family + "\",\n  \"num_hidden_layers\": " + std::to_string(c.layers) +
        ",\n  \"hidden_size\": " + std::to_string(c.dModel) +
        ",\n  \"num_attention_heads\": " + std::to_string(c.heads) +
        ",\n  \"num_key_value_heads\": " + std::to_string(c.kvHeads) +
        ",\n  \"intermediate_size\": " + std::to_string(F) + ",\n  \"vocab_size\": " + std::to_string(c.vocab) +
        ",\n  \"max_position_embeddings\": " + std::to_string(c.ctx) + ",\n  \"rms_norm_eps\": " + fmt(c.normEps) +
        ",\n  \"rope_theta\": " + fmt(c.ropeTheta) + ",\n  \"rope_scaling\": " + rope +
        ",\n  \"hidden_act\": \"silu\",\n" + "  \"tie_word_embeddings\": " + (c.tieEmbeddings ? "true" : "false") +
        ",\n  \"attention_dropout\": 0.0,\n" +
        (qwen ? "  \"use_sliding_window\": false,\n"
              : "  \"attention_bias\": false,\n  \"mlp_bias\": false,\n  \"head_dim\": " + std::to_string(c.headDim()) +
                    ",\n") +
        "  \"torch_dtype\": \"float32\"\n}\n";
  }
  std::vector<std::pair<std::string, const io::TensorF32*>> list;
  for (auto& kv : out) list.emplace_back(kv.first, &kv.second);
  io::write_safetensors(dir + "/model.safetensors", list, {{"format", "pt"}});
  std::ofstream f(dir + "/config.json", std::ios::binary | std::ios::trunc);
  if (!f) throw std::runtime_error(dir + "/config.json: cannot write");
  f << cfg;
  if (!f.flush()) throw std::runtime_error(dir + "/config.json: write failed");
}

}  // namespace arclight
