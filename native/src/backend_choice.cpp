// Backend choice (see backend_choice.h): "cpu"; "cuda" when the addon has CUDA and a device answers;
// "auto" = cuda when possible, else cpu. No device, an addon built without nvcc, or a device that
// failed to take the model all run on the CPU with a note.
#ifdef ARCLIGHT_WITH_CUDA
#include "cuda_backend.h"
#include "cuda_model.h"
#endif
#include "backend_choice.h"

namespace arclight {

std::unique_ptr<Backend> make_backend(std::unique_ptr<Model<float>> host, const napi::DeviceRequest& req,
                                      std::string* note) {
  note->clear();
  const bool bf16 = req.precision == "bf16";
  if (host->baseBf16()) {  // the CUDA backend uploads fp32 weights only
    if (req.device == "cuda")
      throw std::invalid_argument("baseWeights \"bf16\" runs on the CPU backend only; use device \"cpu\" or \"auto\"");
#ifdef ARCLIGHT_WITH_CUDA
    if (req.device != "cpu" && arclight_cuda_device_count() > 0)
      *note = "baseWeights \"bf16\" runs on the CPU backend only; using the CPU backend";
#endif
    return std::make_unique<CpuBackend>(std::move(host));
  }
  if (req.device != "cpu") {
#ifdef ARCLIGHT_WITH_CUDA
    if (arclight_cuda_device_count() > 0) {
      try {
        return std::make_unique<cuda::CudaModel>(*host, bf16 ? cuda::MathMode::BF16 : cuda::MathMode::FP32);
      } catch (const std::exception& e) {
        *note = std::string("device \"") + req.device + "\" could not take the model (" + e.what() +
                "); using the CPU backend";
      }
    } else if (req.device == "cuda") {
      *note = std::string("device \"cuda\" requested but there is no CUDA device (") + cuda::unavailable_reason() +
              "); using the CPU backend";
    }
#else
    if (req.device == "cuda")
      *note = "device \"cuda\" requested but the addon was built without nvcc; using the CPU backend";
#endif
  }
  if (bf16 && note->empty()) *note = "precision \"bf16\" applies to the CUDA backend; the CPU backend runs fp32";
  return std::make_unique<CpuBackend>(std::move(host));
}

}  // namespace arclight
