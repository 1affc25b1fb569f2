// Policy checkpoints: Model<float> <-> safetensors through native/io.
#include "checkpoint.h"

#include <sstream>

#include "../io/hf_layout.h"
#include "../io/safetensors.h"

namespace arclight {

namespace {

std::string fmt(double x) {
  std::ostringstream s;
  s.precision(17);
  s << x;
  return s.str();
}

const std::string& need(const std::map<std::string, std::string>& meta, const std::string& key, const std::string& path) {
  auto it = meta.find(key);
  if (it == meta.end()) throw std::runtime_error(path + ": not an Arclight checkpoint (metadata key " + key + " missing)");
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

bool is_optim(const std::string& name) { return name.compare(0, 6, "optim.") == 0; }

// Copies tensor prefix+p.name of every parameter into dst (laid out like the weights).
void fill(std::vector<float>& dst, const Model<float>& model, const std::map<std::string, io::TensorF32>& tensors, const std::string& prefix,
          const std::string& path) {
  for (const ParamInfo& p : model.params) {
    auto it = tensors.find(prefix + p.name);
    if (it == tensors.end()) throw std::runtime_error(path + ": tensor " + prefix + p.name + " missing");
    if (it->second.shape != p.shape) throw std::runtime_error(path + ": tensor " + prefix + p.name + " has the wrong shape");
    std::copy(it->second.data.begin(), it->second.data.end(), dst.begin() + p.offset);
  }
}

void fill_weights(Model<float>& model, const std::map<std::string, io::TensorF32>& tensors, const std::string& path) {
  fill(model.w, model, tensors, "", path);
  size_t weights = 0;
  for (auto& kv : tensors) weights += is_optim(kv.first) ? 0 : 1;
  if (weights != model.params.size()) throw std::runtime_error(path + ": unexpected extra tensors for this config");
}

}  // namespace

void save_checkpoint(const Model<float>& model, const std::string& path) {
  const ModelConfig& c = model.cfg;
  const bool optim = model.m.size() == model.numParams() && model.v.size() == model.numParams();
  const size_t P = model.params.size();
  std::vector<io::TensorF32> store(optim ? 3 * P : P);
  std::vector<std::pair<std::string, const io::TensorF32*>> list;
  auto put = [&](size_t slot, const std::string& name, const std::vector<float>& src, const ParamInfo& p) {
    store[slot].shape = p.shape;
    store[slot].data.assign(src.begin() + p.offset, src.begin() + p.offset + p.size);
    list.emplace_back(name, &store[slot]);
  };
  for (size_t i = 0; i < P; i++) {
    const ParamInfo& p = model.params[i];
    put(i, p.name, model.w, p);
    if (optim) {
      put(P + i, kOptimM + p.name, model.m, p);
      put(2 * P + i, kOptimV + p.name, model.v, p);
    }
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
  auto model = std::make_unique<Model<float>>(c);  // validates the config
  fill_weights(*model, tensors, path);
  auto st = meta.find("arclight.step");
  if (st != meta.end()) model->step = to_int(st->second, "step");
  auto opt = meta.find("arclight.optim");
  if (opt != meta.end()) {
    if (opt->second != "adamw") throw std::runtime_error(path + ": unknown optimizer state \"" + opt->second + "\"");
    model->m.assign(model->numParams(), 0.0f);
    model->v.assign(model->numParams(), 0.0f);
    fill(model->m, *model, tensors, kOptimM, path);
    fill(model->v, *model, tensors, kOptimV, path);
  } else {
    for (auto& kv : tensors)
      if (is_optim(kv.first)) throw std::runtime_error(path + ": tensor " + kv.first + " without arclight.optim metadata");
  }
  return model;
}

std::unique_ptr<Model<float>> load_hf_pretrained(const std::string& dir) {
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
  auto model = std::make_unique<Model<float>>(c);
  fill_weights(*model, tensors, dir);
  return model;
}

}  // namespace arclight
