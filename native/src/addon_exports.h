// What each part of the N-API binding adds to the module's exports (binding.cpp calls them).
#pragma once
#include <napi.h>

namespace arclight {
namespace napi {

// NativePolicy, loadPolicy, loadPretrained (native_policy.cpp).
void register_policy(Napi::Env env, Napi::Object exports);
// groupAdvantages, backends, setBlas, and the test hooks and benchmarks: gradcheck, matmulParity,
// benchMatmul, benchCudaMatmul (addon_tools.cpp).
void register_tools(Napi::Env env, Napi::Object exports);

}  // namespace napi
}  // namespace arclight
