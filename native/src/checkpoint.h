// Policy checkpoints as safetensors: Arclight parameter names (param_names.h),
// fp32 weights, the model config in __metadata__, and once the policy has
// taken a step its AdamW moments as optim.m.<name> / optim.v.<name> with
// arclight.optim = "adamw" (the step count is arclight.step). A checkpoint
// without them loads with a fresh optimizer.
#pragma once
#include <memory>
#include <string>

#include "model.h"

namespace arclight {

void save_checkpoint(const Model<float>& model, const std::string& path);
std::unique_ptr<Model<float>> load_checkpoint(const std::string& path);
// A local Hugging Face GPT-2 or Qwen2 directory (config.json + model.safetensors
// or its shards), mapped by native/io/hf_layout.h.
// With lora.rank > 0 the base is frozen and fresh adapters (PEFT init from `seed`) are added.
// BaseStorage::BF16 holds the frozen base (every weight without LoRA) as bf16 (bf16_weights.h).
std::unique_ptr<Model<float>> load_hf_pretrained(const std::string& dir, const LoraConfig& lora = {}, uint64_t seed = 0,
                                                 BaseStorage storage = BaseStorage::FP32);

// Writes a Hugging Face directory's config.json and model.safetensors (F32) in the family's names
// and layouts (GPT2LMHeadModel, Qwen2ForCausalLM, LlamaForCausalLM), the inverse of
// load_hf_pretrained; LoRA adapters are merged into the written weights.
void save_hf(const Model<float>& model, const std::string& dir);

// PEFT adapter directories: adapter_model.safetensors (base_model.model.model.layers.<i>.
// self_attn.q_proj.lora_A.weight [rank, in], ...lora_B.weight [out, rank]) + adapter_config.json.
void save_peft_adapter(const Model<float>& model, const std::string& dir);
// Reads an adapter directory's config (rank, lora_alpha, lora_dropout, target_modules).
LoraConfig read_peft_config(const std::string& dir);
// Copies an adapter directory's tensors into the model's adapters; its config must match the model's.
void load_peft_adapter(Model<float>& model, const std::string& dir);

}  // namespace arclight
