// Frozen base weights stored as bf16 (the dtype Qwen2.5, Llama 3 and SmolLM2 ship in) instead of
// fp32: half the bytes, and exact for a bf16 checkpoint since bf16 -> fp32 is a 16-bit shift.
// GEMMs against such a weight widen it to fp32 in a scratch buffer (one tile of rows at a time on
// the BLAS path, see matmul_dispatch.cpp) and run the fp32 kernels on it, so activations,
// gradients and everything trained stay fp32.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace arclight {

// How a model holds its frozen base: fp32 (default), or bf16 for a LoRA base or an
// inference-only policy (full fine-tuning needs fp32 master weights).
enum class BaseStorage { FP32, BF16 };

inline float bf16_bits_to_f32(uint16_t b) {
  const uint32_t bits = uint32_t(b) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

// Round to nearest even (what torch's .to(torch.bfloat16) does); NaN stays a (quiet) NaN.
inline uint16_t f32_to_bf16_bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return uint16_t((u >> 16) | 0x40u);
  u += 0x7fffu + ((u >> 16) & 1u);
  return uint16_t(u >> 16);
}

inline void bf16_to_f32(float* dst, const uint16_t* src, size_t n) {
  for (size_t i = 0; i < n; i++) dst[i] = bf16_bits_to_f32(src[i]);
}

// out[N,OC] = inp[N,C] @ weight[OC,C]^T + bias (bias fp32, may be null), weight in bf16.
void matmul_forward_bf16(float* out, const float* inp, const uint16_t* weight, const float* bias, int N, int C, int OC);
// dinp[N,C] += dout[N,OC] @ weight[OC,C]: the input gradient through a frozen bf16 weight.
void matmul_backward_bf16(float* dinp, const float* dout, const uint16_t* weight, int N, int C, int OC);
// Floats of fp32 scratch one GEMM tile may use; 0 widens the whole matrix at once. ARCLIGHT_BF16_TILE
// overrides the default (for measuring, bench/native/pretrained-shapes.ts).
size_t bf16_tile_floats();

}  // namespace arclight
