// The N-API module: a policy class and its loaders (native_policy.cpp), the tools around them
// (addon_tools.cpp). Argument marshalling lives in napi_marshal.h, the async-call plumbing in
// async_task.h, the choice of backend in backend_choice.h.
#include <napi.h>

#include "addon_exports.h"

namespace {

Napi::Object InitModule(Napi::Env env, Napi::Object exports) {
  arclight::napi::register_policy(env, exports);
  arclight::napi::register_tools(env, exports);
  return exports;
}

}  // namespace

NODE_API_MODULE(arclight, InitModule)
