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
std::unique_ptr<Model<float>> load_hf_pretrained(const std::string& dir);

}  // namespace arclight
