// Safetensors checkpoints: read (F32/F16/BF16/F64 -> fp32) and write (F32).
// Format: u64 little-endian header size N, N bytes of JSON header, data.
#pragma once

#include <cstdint>
#include <map>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace arclight::io {

struct TensorF32 {
  std::vector<int64_t> shape;
  std::vector<float> data;
};

struct SafetensorsError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Largest header accepted when reading; the Rust reference uses the same cap.
constexpr uint64_t kMaxSafetensorsHeader = 100ull * 1000 * 1000;

// Reads every tensor as fp32 (F16 and BF16 exactly, F64 by rounding). Throws
// SafetensorsError naming the file and the problem on any malformed input:
// oversized or truncated header, invalid JSON, unknown dtype, bad shape or
// offsets, overlapping or non-contiguous data, truncated data.
std::map<std::string, TensorF32> read_safetensors(const std::string& path,
                                                  std::map<std::string, std::string>* metadata = nullptr);

// Writes F32 tensors sorted by name, packed with no holes (every F32 tensor
// starts 4-byte aligned inside a data section that starts 8-byte aligned,
// because the header is space-padded to a multiple of 8). Writes to a
// temporary file in the same directory and renames it, so readers never see
// a partial checkpoint.
void write_safetensors(const std::string& path, const std::vector<std::pair<std::string, const TensorF32*>>& tensors,
                       const std::map<std::string, std::string>& metadata);

// Element count of a shape; throws SafetensorsError on a negative dim or
// int64 overflow.
int64_t shape_numel(const std::vector<int64_t>& shape);

// Exact conversions (subnormals, infinities and NaN payloads kept).
float f16_to_f32(uint16_t h);
float bf16_to_f32(uint16_t b);

}  // namespace arclight::io
