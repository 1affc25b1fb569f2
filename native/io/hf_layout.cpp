// GPT-2, Qwen2 and Llama Hugging Face layouts -> Arclight names. The name table and
// shape conventions live in native/src/param_names.h; this file only moves,
// transposes and concatenates tensors to match it.
#include "hf_layout.h"

#include <fstream>
#include <set>
#include <sstream>

#include "../src/param_names.h"
#include "json.h"

namespace arclight::io {

namespace {

[[noreturn]] void fail(const std::string& where, const std::string& what) {
  throw HfLayoutError("hf layout: " + where + ": " + what);
}

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(path, "cannot open");
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string shape_str(const std::vector<int64_t>& s) {
  std::string out = "[";
  for (size_t k = 0; k < s.size(); ++k) out += (k ? ", " : "") + std::to_string(s[k]);
  return out + "]";
}

// ----------------------------------------------------------------------------
// config.json

class ConfigReader {
 public:
  ConfigReader(const json::Value& root, std::string where) : root_(root), where_(std::move(where)) {}

  bool has(const char* key) const {
    const json::Value* v = root_.find(key);
    return v && v->kind != json::Kind::Null;
  }

  int64_t integer(const char* key) const {
    const json::Value* v = root_.find(key);
    if (!v || v->kind == json::Kind::Null) fail(where_, std::string("missing \"") + key + "\"");
    if (v->kind != json::Kind::Int || v->i <= 0)
      fail(where_, std::string("\"") + key + "\" must be a positive integer");
    return v->i;
  }

  int64_t integer_or(const char* key, int64_t dflt) const { return has(key) ? integer(key) : dflt; }

  double number_or(const char* key, double dflt) const {
    if (!has(key)) return dflt;
    const json::Value* v = root_.find(key);
    if (!v->is_number() || !(v->as_double() > 0))
      fail(where_, std::string("\"") + key + "\" must be a positive number");
    return v->as_double();
  }

  bool boolean_or(const char* key, bool dflt) const {
    if (!has(key)) return dflt;
    const json::Value* v = root_.find(key);
    if (v->kind != json::Kind::Bool) fail(where_, std::string("\"") + key + "\" must be true or false");
    return v->b;
  }

  double nonneg_or(const char* key, double dflt) const {
    if (!has(key)) return dflt;
    const json::Value* v = root_.find(key);
    if (!v->is_number() || !(v->as_double() >= 0)) fail(where_, std::string("\"") + key + "\" must be a number >= 0");
    return v->as_double();
  }

  const json::Value* object_or_null(const char* key) const {
    if (!has(key)) return nullptr;
    const json::Value* v = root_.find(key);
    if (v->kind != json::Kind::Object) fail(where_, std::string("\"") + key + "\" must be an object or null");
    return v;
  }

  std::string string_or(const char* key, const std::string& dflt) const {
    if (!has(key)) return dflt;
    const json::Value* v = root_.find(key);
    if (v->kind != json::Kind::String) fail(where_, std::string("\"") + key + "\" must be a string");
    return v->s;
  }

 private:
  const json::Value& root_;
  std::string where_;
};

}  // namespace

HfConfig parse_hf_config(const std::string& text, const std::string& where) {
  json::Value root;
  try {
    root = json::parse(text);
  } catch (const json::ParseError& e) { fail(where, e.what()); }
  if (root.kind != json::Kind::Object) fail(where, "expected a JSON object");
  ConfigReader r(root, where);
  std::string model_type = r.string_or("model_type", "");
  HfConfig c;
  if (model_type == "gpt2" || (model_type.empty() && r.has("n_layer"))) {
    c.family = "gpt2";
    c.layers = r.integer("n_layer");
    c.heads = r.integer("n_head");
    c.kv_heads = c.heads;
    c.d_model = r.integer("n_embd");
    c.ctx = r.has("n_positions") ? r.integer("n_positions") : r.integer("n_ctx");
    c.vocab = r.integer("vocab_size");
    c.ffn = r.integer_or("n_inner", 4 * c.d_model);
    c.norm_eps = r.number_or("layer_norm_epsilon", 1e-5);
    c.tie_embeddings = r.boolean_or("tie_word_embeddings", true);
    if (!c.tie_embeddings) fail(where, "GPT-2 with an untied lm_head is not supported (Arclight's GPT-2 ties it)");
    if (r.boolean_or("scale_attn_by_inverse_layer_idx", false) || r.boolean_or("reorder_and_upcast_attn", false))
      fail(where,
           "scale_attn_by_inverse_layer_idx / reorder_and_upcast_attn are not supported (standard GPT-2 attention "
           "only)");
    if (r.string_or("activation_function", "gelu_new") != "gelu_new")
      fail(where, "activation_function must be gelu_new (GELU-tanh) for Arclight's GPT-2");
  } else if (model_type == "qwen2" || model_type == "llama" || (model_type.empty() && r.has("num_hidden_layers"))) {
    // Qwen2 and Llama share the block (RMSNorm, RoPE, GQA, SwiGLU); Qwen2 adds q/k/v biases.
    const bool llama = model_type == "llama";
    c.family = llama ? "llama" : "qwen2";
    c.layers = r.integer("num_hidden_layers");
    c.heads = r.integer("num_attention_heads");
    c.kv_heads = r.integer_or("num_key_value_heads", c.heads);
    c.d_model = r.integer("hidden_size");
    c.ffn = r.integer("intermediate_size");
    c.vocab = r.integer("vocab_size");
    c.ctx = r.integer("max_position_embeddings");
    c.norm_eps = r.number_or("rms_norm_eps", 1e-6);
    c.rope_theta = r.number_or("rope_theta", 10000.0);
    c.tie_embeddings = r.boolean_or("tie_word_embeddings", false);
    const std::string fam = llama ? "Llama" : "Qwen2";
    const std::string act = r.string_or("hidden_act", "silu");
    if (act != "silu") fail(where, "hidden_act \"" + act + "\" is not supported (Arclight's " + fam + " uses silu)");
    // Keys whose values change the math: refused rather than run approximately.
    if (r.has("head_dim") && r.integer("head_dim") * c.heads != c.d_model)
      fail(where, "head_dim " + std::to_string(r.integer("head_dim")) +
                      " differs from hidden_size / num_attention_heads (not supported)");
    if (r.nonneg_or("attention_dropout", 0) != 0)
      fail(where, "attention_dropout > 0 is not supported (Arclight trains without dropout)");
    if (llama) {
      if (r.boolean_or("attention_bias", false))
        fail(where, "attention_bias = true is not supported (Llama without q/k/v/o biases only)");
      if (r.boolean_or("mlp_bias", false))
        fail(where, "mlp_bias = true is not supported (Llama without MLP biases only)");
    } else {
      if (r.boolean_or("use_sliding_window", false))
        fail(where, "use_sliding_window = true is not supported (full causal attention only)");
    }
    if (const json::Value* rs = r.object_or_null("rope_scaling")) {
      ConfigReader s(*rs, where + ": rope_scaling");
      const std::string type = s.string_or("rope_type", s.string_or("type", ""));
      // Loading a scaled-RoPE model as plain RoPE would run but give wrong logits.
      if (!llama || type != "llama3")
        fail(where, "rope_scaling of type \"" + type + "\" is not supported (" +
                        (llama ? "Llama supports rope_type \"llama3\"" : "Qwen2 uses plain RoPE") + ")");
      c.rope_factor = s.number_or("factor", 0);
      if (!(c.rope_factor >= 1)) fail(where, "rope_scaling.factor must be >= 1");
      c.rope_low_freq_factor = s.number_or("low_freq_factor", 0);
      c.rope_high_freq_factor = s.number_or("high_freq_factor", 0);
      c.rope_original_ctx = s.integer("original_max_position_embeddings");
      if (!s.has("low_freq_factor") || !s.has("high_freq_factor") ||
          !(c.rope_high_freq_factor > c.rope_low_freq_factor))
        fail(where, "rope_scaling needs low_freq_factor < high_freq_factor");
    }
  } else {
    fail(where, "unsupported model_type \"" + model_type + "\" (Arclight loads gpt2, qwen2 and llama)");
  }
  if (c.d_model % c.heads != 0)
    fail(where,
         "hidden size " + std::to_string(c.d_model) + " is not divisible by " + std::to_string(c.heads) + " heads");
  if (c.heads % c.kv_heads != 0)
    fail(where,
         std::to_string(c.heads) + " heads are not a multiple of " + std::to_string(c.kv_heads) + " key/value heads");
  return c;
}

HfConfig load_hf_config(const std::string& path) { return parse_hf_config(read_text(path), path); }

// ----------------------------------------------------------------------------
// weights

namespace {

class Source {
 public:
  Source(std::map<std::string, TensorF32> t, std::string prefix) : t_(std::move(t)), prefix_(std::move(prefix)) {}

  TensorF32 take(const std::string& name, const std::vector<int64_t>& shape) {
    auto it = t_.find(prefix_ + name);
    if (it == t_.end()) fail("weights", "missing tensor \"" + prefix_ + name + "\"");
    if (it->second.shape != shape)
      fail("weights", "tensor \"" + prefix_ + name + "\" has shape " + shape_str(it->second.shape) +
                          ", config expects " + shape_str(shape));
    TensorF32 out = std::move(it->second);
    t_.erase(it);
    return out;
  }

  void drop(const std::string& full_name) { t_.erase(full_name); }
  bool has(const std::string& full_name) const { return t_.count(full_name) != 0; }
  const std::map<std::string, TensorF32>& rest() const { return t_; }

 private:
  std::map<std::string, TensorF32> t_;
  std::string prefix_;
};

// Conv1D stores [in, out]; Arclight's linears are [out, in].
TensorF32 transposed(const TensorF32& t) {
  int64_t rows = t.shape[0], cols = t.shape[1];
  TensorF32 out;
  out.shape = {cols, rows};
  out.data.resize(t.data.size());
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) out.data[size_t(c * rows + r)] = t.data[size_t(r * cols + c)];
  return out;
}

// Concatenates along dim 0 (rows), which for row-major tensors is appending.
TensorF32 cat_rows(std::initializer_list<const TensorF32*> parts) {
  TensorF32 out;
  out.shape = (*parts.begin())->shape;
  out.shape[0] = 0;
  for (const TensorF32* p : parts) {
    out.shape[0] += p->shape[0];
    out.data.insert(out.data.end(), p->data.begin(), p->data.end());
  }
  return out;
}

void check_leftovers(const Source& src) {
  if (src.rest().empty()) return;
  std::string names;
  int shown = 0;
  for (const auto& kv : src.rest()) {
    if (shown++ == 5) {
      names += ", ...";
      break;
    }
    names += (names.empty() ? "" : ", ") + kv.first;
  }
  fail("weights", std::to_string(src.rest().size()) + " tensor(s) not used by the config: " + names);
}

std::map<std::string, TensorF32> map_gpt2(std::map<std::string, TensorF32> hf, const HfConfig& c) {
  // GPT2LMHeadModel saves "transformer.*" plus a tied lm_head; GPT2Model saves bare names.
  std::string prefix = hf.count("transformer.wte.weight") ? "transformer." : "";
  Source src(std::move(hf), prefix);
  const int64_t C = c.d_model, F = c.ffn, V = c.vocab, T = c.ctx;
  std::map<std::string, TensorF32> out;
  out[names::kWte] = src.take("wte.weight", {V, C});
  out[names::kWpe] = src.take("wpe.weight", {T, C});
  for (int i = 0; i < int(c.layers); ++i) {
    std::string h = "h." + std::to_string(i) + ".";
    out[names::layer(i, names::kLn1Weight)] = src.take(h + "ln_1.weight", {C});
    out[names::layer(i, names::kLn1Bias)] = src.take(h + "ln_1.bias", {C});
    out[names::layer(i, names::kQkvWeight)] = transposed(src.take(h + "attn.c_attn.weight", {C, 3 * C}));
    out[names::layer(i, names::kQkvBias)] = src.take(h + "attn.c_attn.bias", {3 * C});
    out[names::layer(i, names::kAttnProjWeight)] = transposed(src.take(h + "attn.c_proj.weight", {C, C}));
    out[names::layer(i, names::kAttnProjBias)] = src.take(h + "attn.c_proj.bias", {C});
    out[names::layer(i, names::kLn2Weight)] = src.take(h + "ln_2.weight", {C});
    out[names::layer(i, names::kLn2Bias)] = src.take(h + "ln_2.bias", {C});
    out[names::layer(i, names::kFcWeight)] = transposed(src.take(h + "mlp.c_fc.weight", {C, F}));
    out[names::layer(i, names::kFcBias)] = src.take(h + "mlp.c_fc.bias", {F});
    out[names::layer(i, names::kMlpProjWeight)] = transposed(src.take(h + "mlp.c_proj.weight", {F, C}));
    out[names::layer(i, names::kMlpProjBias)] = src.take(h + "mlp.c_proj.bias", {C});
    // Causal-mask buffers that older transformers versions saved with the weights.
    src.drop(prefix + h + "attn.bias");
    src.drop(prefix + h + "attn.masked_bias");
  }
  out[names::kLnfWeight] = src.take("ln_f.weight", {C});
  out[names::kLnfBias] = src.take("ln_f.bias", {C});
  src.drop("lm_head.weight");  // tied to wte
  check_leftovers(src);
  return out;
}

// Qwen2 and Llama: the same names, Llama without the q/k/v biases.
std::map<std::string, TensorF32> map_qwen2(std::map<std::string, TensorF32> hf, const HfConfig& c) {
  const bool bias = c.family == "qwen2";
  Source src(std::move(hf), "");
  const int64_t C = c.d_model, F = c.ffn, V = c.vocab, D = c.d_model / c.heads;
  const int64_t Q = c.heads * D, KV = c.kv_heads * D;
  std::map<std::string, TensorF32> out;
  out[names::kWte] = src.take("model.embed_tokens.weight", {V, C});
  for (int i = 0; i < int(c.layers); ++i) {
    std::string p = "model.layers." + std::to_string(i) + ".";
    out[names::layer(i, names::kLn1Weight)] = src.take(p + "input_layernorm.weight", {C});
    TensorF32 q = src.take(p + "self_attn.q_proj.weight", {Q, C});
    TensorF32 k = src.take(p + "self_attn.k_proj.weight", {KV, C});
    TensorF32 v = src.take(p + "self_attn.v_proj.weight", {KV, C});
    out[names::layer(i, names::kQkvWeight)] = cat_rows({&q, &k, &v});
    if (bias) {
      TensorF32 qb = src.take(p + "self_attn.q_proj.bias", {Q});
      TensorF32 kb = src.take(p + "self_attn.k_proj.bias", {KV});
      TensorF32 vb = src.take(p + "self_attn.v_proj.bias", {KV});
      out[names::layer(i, names::kQkvBias)] = cat_rows({&qb, &kb, &vb});
    }
    out[names::layer(i, names::kAttnProjWeight)] = src.take(p + "self_attn.o_proj.weight", {C, Q});
    out[names::layer(i, names::kLn2Weight)] = src.take(p + "post_attention_layernorm.weight", {C});
    TensorF32 gate = src.take(p + "mlp.gate_proj.weight", {F, C});
    TensorF32 up = src.take(p + "mlp.up_proj.weight", {F, C});
    out[names::layer(i, names::kGateUpWeight)] = cat_rows({&gate, &up});
    out[names::layer(i, names::kMlpProjWeight)] = src.take(p + "mlp.down_proj.weight", {C, F});
    src.drop(p + "self_attn.rotary_emb.inv_freq");  // recomputed from rope_theta
  }
  out[names::kLnfWeight] = src.take("model.norm.weight", {C});
  if (c.tie_embeddings) {
    src.drop("lm_head.weight");  // some tied exports still carry a copy
  } else {
    out[names::kLmHead] = src.take("lm_head.weight", {V, C});
  }
  check_leftovers(src);
  return out;
}

}  // namespace

std::map<std::string, TensorF32> map_hf_weights(std::map<std::string, TensorF32> hf, const HfConfig& cfg) {
  if (cfg.layers <= 0 || cfg.d_model <= 0 || cfg.heads <= 0 || cfg.kv_heads <= 0 || cfg.vocab <= 0 || cfg.ctx <= 0 ||
      cfg.ffn <= 0 || cfg.d_model % cfg.heads != 0 || cfg.heads % cfg.kv_heads != 0)
    fail("config",
         "layers, d_model, heads, kv_heads, ffn, vocab and ctx must be positive and heads must divide evenly");
  if (cfg.family == "gpt2") return map_gpt2(std::move(hf), cfg);
  if (cfg.family == "qwen2" || cfg.family == "llama") return map_qwen2(std::move(hf), cfg);
  fail("config", "unknown family \"" + cfg.family + "\"");
}

std::map<std::string, TensorF32> load_hf_checkpoint(const std::string& dir, HfConfig* cfg_out) {
  HfConfig cfg = load_hf_config(dir + "/config.json");
  std::map<std::string, TensorF32> all;
  std::ifstream single(dir + "/model.safetensors");
  if (single.good()) {
    single.close();
    all = read_safetensors(dir + "/model.safetensors");
  } else {
    std::string index_path = dir + "/model.safetensors.index.json";
    std::ifstream probe(index_path);
    if (!probe.good()) fail(dir, "neither model.safetensors nor model.safetensors.index.json exists");
    probe.close();
    json::Value index;
    try {
      index = json::parse(read_text(index_path));
    } catch (const json::ParseError& e) { fail(index_path, e.what()); }
    const json::Value* map = index.kind == json::Kind::Object ? index.find("weight_map") : nullptr;
    if (!map || map->kind != json::Kind::Object) fail(index_path, "missing \"weight_map\" object");
    std::set<std::string> shards;
    for (const auto& kv : map->members) {
      if (kv.second.kind != json::Kind::String || kv.second.s.empty() || kv.second.s.find('/') != std::string::npos)
        fail(index_path, "weight_map value for \"" + kv.first + "\" must be a shard file name in the same folder");
      shards.insert(kv.second.s);
    }
    for (const auto& shard : shards) {
      for (auto& kv : read_safetensors(dir + "/" + shard)) {
        if (all.count(kv.first)) fail(index_path, "tensor \"" + kv.first + "\" appears in more than one shard");
        all.emplace(kv.first, std::move(kv.second));
      }
    }
  }
  auto out = map_hf_weights(std::move(all), cfg);
  if (cfg_out) *cfg_out = cfg;
  return out;
}

}  // namespace arclight::io
