// Arclight parameter names and layouts: the contract between the model
// (native/src/model.h), checkpoints, and the HF layout mappers (native/io/hf_layout.h).
#pragma once
#include <string>

// Every linear weight is stored [out_features, in_features] row-major
// (PyTorch nn.Linear convention), so Qwen2's HF weights copy straight in and
// GPT-2's Conv1D weights ([in, out]) are transposed on load.
//
// Shapes, with C = dModel, H = heads, KV = kvHeads, D = C / H (head dim),
// F = ffn hidden size (GPT-2: 4*C), V = vocab, T = ctx, L = layers, i = 0..L-1:
//
//   name                        shape             families  HF source
//   wte                         [V, C]            both      transformer.wte.weight | model.embed_tokens.weight
//   wpe                         [T, C]            gpt2      transformer.wpe.weight
//   h.{i}.ln1.weight            [C]               both      h.{i}.ln_1.weight | model.layers.{i}.input_layernorm.weight
//   h.{i}.ln1.bias              [C]               gpt2      h.{i}.ln_1.bias
//   h.{i}.attn.qkv.weight       [(H+2*KV)*D, C]   both      gpt2: c_attn.weight^T ; qwen2: cat(q_proj, k_proj, v_proj)
//   along dim 0 h.{i}.attn.qkv.bias         [(H+2*KV)*D]      both      gpt2: c_attn.bias ; qwen2: cat(q_proj.bias,
//   k_proj.bias, v_proj.bias) h.{i}.attn.proj.weight      [C, H*D]          both      gpt2: attn.c_proj.weight^T ;
//   qwen2: self_attn.o_proj.weight h.{i}.attn.proj.bias        [C]               gpt2      attn.c_proj.bias   (Qwen2's
//   o_proj has no bias) h.{i}.ln2.weight            [C]               both      ln_2.weight |
//   post_attention_layernorm.weight h.{i}.ln2.bias              [C]               gpt2      ln_2.bias
//   h.{i}.mlp.fc.weight         [F, C]            gpt2      mlp.c_fc.weight^T
//   h.{i}.mlp.fc.bias           [F]               gpt2      mlp.c_fc.bias
//   h.{i}.mlp.gate_up.weight    [2*F, C]          qwen2     cat(mlp.gate_proj.weight, mlp.up_proj.weight) along dim 0
//   (gate rows first) h.{i}.mlp.proj.weight       [C, F]            both      gpt2: mlp.c_proj.weight^T ; qwen2:
//   mlp.down_proj.weight h.{i}.mlp.proj.bias         [C]               gpt2      mlp.c_proj.bias lnf.weight [C] both
//   transformer.ln_f.weight | model.norm.weight lnf.bias                    [C]               gpt2
//   transformer.ln_f.bias lm_head.weight              [V, C]            qwen2 untied only (tieEmbeddings=false):
//   lm_head.weight
//
// Q/K/V rows inside qkv: the first H*D rows are Q (head-major: head h owns rows
// h*D..h*D+D-1), then KV*D rows of K, then KV*D rows of V. Qwen2's RoPE uses the
// HF "rotate_half" convention (pairs (j, j+D/2) within a head), so HF q/k
// weights need no permutation.
//
// Checkpoint __metadata__ keys (all values are strings):
//   arclight.format = "1", arclight.family = "gpt2" | "qwen2", arclight.layers,
//   arclight.dModel, arclight.heads, arclight.kvHeads, arclight.vocab,
//   arclight.ctx, arclight.ffn, arclight.normEps, arclight.ropeTheta,
//   arclight.tieEmbeddings = "true" | "false"

namespace arclight::names {

inline std::string layer(int i, const char* rest) { return "h." + std::to_string(i) + "." + rest; }

inline constexpr const char* kWte = "wte";
inline constexpr const char* kWpe = "wpe";
inline constexpr const char* kLnfWeight = "lnf.weight";
inline constexpr const char* kLnfBias = "lnf.bias";
inline constexpr const char* kLmHead = "lm_head.weight";

inline constexpr const char* kLn1Weight = "ln1.weight";
inline constexpr const char* kLn1Bias = "ln1.bias";
inline constexpr const char* kQkvWeight = "attn.qkv.weight";
inline constexpr const char* kQkvBias = "attn.qkv.bias";
inline constexpr const char* kAttnProjWeight = "attn.proj.weight";
inline constexpr const char* kAttnProjBias = "attn.proj.bias";
inline constexpr const char* kLn2Weight = "ln2.weight";
inline constexpr const char* kLn2Bias = "ln2.bias";
inline constexpr const char* kFcWeight = "mlp.fc.weight";
inline constexpr const char* kFcBias = "mlp.fc.bias";
inline constexpr const char* kGateUpWeight = "mlp.gate_up.weight";
inline constexpr const char* kMlpProjWeight = "mlp.proj.weight";
inline constexpr const char* kMlpProjBias = "mlp.proj.bias";

}  // namespace arclight::names
