// Policy checkpoints as safetensors: Arclight parameter names (param_names.h),
// fp32 weights, the model config in __metadata__. Optimizer state is not saved.
#pragma once
#include <memory>
#include <string>

#include "model.h"

namespace arclight {

void save_checkpoint(const Model<float>& model, const std::string& path);
std::unique_ptr<Model<float>> load_checkpoint(const std::string& path);

}  // namespace arclight
