// Which backend runs a policy: the CPU, or a CUDA device when the addon has one and it can take
// the model. A request that cannot be met runs on the CPU with a note for JS, never a throw.
#pragma once
#include <memory>
#include <string>

#include "backend.h"
#include "napi_marshal.h"

namespace arclight {

// `note` says why the backend is not the one asked for ("" when it is).
std::unique_ptr<Backend> make_backend(std::unique_ptr<Model<float>> host, const napi::DeviceRequest& req,
                                      std::string* note);

}  // namespace arclight
