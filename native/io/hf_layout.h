// Hugging Face checkpoint layouts (GPT-2, Qwen2, Llama) mapped onto Arclight's own
// parameter names and layouts (native/src/param_names.h).
#pragma once

#include <cstdint>
#include <map>
#include <stdexcept>
#include <string>

#include "safetensors.h"

namespace arclight::io {

struct HfLayoutError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// The model shape a HF config.json describes, in Arclight's terms.
struct HfConfig {
  std::string family;  // "gpt2" | "qwen2" | "llama"
  int64_t layers = 0;
  int64_t d_model = 0;
  int64_t heads = 0;
  int64_t kv_heads = 0;  // == heads for GPT-2
  int64_t ffn = 0;       // GPT-2: n_inner or 4*n_embd; Qwen2: intermediate_size
  int64_t vocab = 0;
  int64_t ctx = 0;  // n_positions | max_position_embeddings
  double norm_eps = 1e-5;
  double rope_theta = 10000.0;  // Qwen2, Llama
  bool tie_embeddings = true;
  // Llama 3 rope_scaling (rope_type "llama3"); factor 0 = plain RoPE.
  double rope_factor = 0, rope_low_freq_factor = 1, rope_high_freq_factor = 4;
  int64_t rope_original_ctx = 8192;
};

// Reads config.json: GPT-2 keys (n_layer, n_head, n_embd, n_positions,
// vocab_size, n_inner, layer_norm_epsilon) or Qwen2 / Llama keys (num_hidden_layers,
// num_attention_heads, num_key_value_heads, hidden_size, intermediate_size,
// rope_theta, tie_word_embeddings, rms_norm_eps, vocab_size,
// max_position_embeddings; Llama also rope_scaling of rope_type "llama3").
// The family comes from model_type, else from which keys are present. Throws
// HfLayoutError on missing or inconsistent keys, and on keys whose values
// change the math in ways Arclight does not implement (named in the message:
// attention_bias, mlp_bias, head_dim, hidden_act, other rope_scaling types,
// use_sliding_window, attention_dropout, ...), so nothing is approximated.
HfConfig load_hf_config(const std::string& path_to_config_json);
HfConfig parse_hf_config(const std::string& json_text, const std::string& where = "config.json");

// Maps HF tensor names to Arclight names: transposes GPT-2's Conv1D weights
// ([in, out] -> [out, in]), concatenates Qwen2's q/k/v and gate/up
// projections, accepts GPT-2's optional "transformer." prefix, and ignores
// buffers that are not parameters (attn.bias masks, rotary inv_freq, a tied
// lm_head). Every expected tensor must be present with the config's shape;
// any unrecognised tensor is an error, so a wrong config is never half loaded.
std::map<std::string, TensorF32> map_hf_weights(std::map<std::string, TensorF32> hf, const HfConfig& cfg);

// Loads a local HF model directory: config.json plus model.safetensors, or
// the shards listed in model.safetensors.index.json.
std::map<std::string, TensorF32> load_hf_checkpoint(const std::string& dir, HfConfig* cfg_out = nullptr);

}  // namespace arclight::io
