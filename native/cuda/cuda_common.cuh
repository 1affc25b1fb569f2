// Shared CUDA helpers for Arclight's kernels: error checks that throw, device query, reductions.
// Every .cuh here includes this first; only cuda_backend.cu includes the .cuh files.
#pragma once

#include <cuda_runtime.h>
#include <cuda_bf16.h>
#include <cstdint>
#include <stdexcept>
#include <string>

namespace arclight {
namespace cuda {

// Thrown instead of exit(): the addon runs inside a notebook's process, which must survive
// a failed launch or an out-of-memory and report it to JavaScript.
class CudaError : public std::runtime_error {
 public:
  CudaError(cudaError_t code, const char* what_failed, const char* file, int line)
      : std::runtime_error(std::string("CUDA error: ") + cudaGetErrorName(code) + " (" + cudaGetErrorString(code) +
                           ") in " + what_failed + " at " + file + ":" + std::to_string(line)),
        code_(code) {}
  cudaError_t code() const noexcept { return code_; }

 private:
  cudaError_t code_;
};

inline void check(cudaError_t code, const char* what_failed, const char* file, int line) {
  if (code != cudaSuccess) {
    // Clears a non-sticky error so the next call starts clean; a sticky one (an illegal address)
    // keeps failing every later call, and the backend must then be abandoned for the CPU one.
    (void)cudaGetLastError();
    throw CudaError(code, what_failed, file, line);
  }
}

#define CUDA_CHECK(call) ::arclight::cuda::check((call), #call, __FILE__, __LINE__)
// After every launch: catches bad configurations at once, where they are easy to attribute.
#define CUDA_CHECK_LAUNCH(name) ::arclight::cuda::check(cudaGetLastError(), name, __FILE__, __LINE__)

inline int ceil_div(int a, int b) { return (a + b - 1) / b; }
inline long long ceil_div_ll(long long a, long long b) { return (a + b - 1) / b; }

constexpr int kElementwiseThreads = 256;

// Grid sizes for elementwise kernels: enough blocks to fill any current GPU, the rest by grid-stride.
inline int elementwise_blocks(long long n, int block) {
  long long b = ceil_div_ll(n, block);
  return static_cast<int>(b < 65535 ? (b > 0 ? b : 1) : 65535);
}

// ----------------------------------------------------------------------------
// device-side reductions

__device__ __forceinline__ float warp_sum(float v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

__device__ __forceinline__ float warp_max(float v) {
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

// Block-wide sum; every thread gets the result. `shared` must hold 32 floats. blockDim.x % 32 == 0.
__device__ __forceinline__ float block_sum(float v, float* shared) {
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, warps = blockDim.x / 32;
  v = warp_sum(v);
  __syncthreads();  // shared may still be read by a previous call
  if (lane == 0) shared[warp] = v;
  __syncthreads();
  v = lane < warps ? shared[lane] : 0.0f;
  return warp_sum(v);
}

__device__ __forceinline__ float to_float(float v) { return v; }
__device__ __forceinline__ float to_float(__nv_bfloat16 v) { return __bfloat162float(v); }

}  // namespace cuda
}  // namespace arclight

namespace arclight {
namespace cuda {

// Number of usable devices, 0 when there is no driver or no GPU. Never throws: with cudart
// linked statically this is the first CUDA call a GPU-less machine makes, and it must only say no.
inline int device_count_or_zero(std::string* reason) noexcept {
  int n = 0;
  cudaError_t e = cudaGetDeviceCount(&n);
  if (e != cudaSuccess) {
    (void)cudaGetLastError();
    if (reason) *reason = std::string(cudaGetErrorName(e)) + ": " + cudaGetErrorString(e);
    return 0;
  }
  if (n == 0 && reason) *reason = "the driver reports zero devices";
  return n;
}

}  // namespace cuda
}  // namespace arclight

namespace arclight {
namespace cuda {

// ----------------------------------------------------------------------------
// Column sums over rows, the shape of every parameter gradient of a per-row op (bias, norm
// weights): out0[c] += sum_n f(n,c).x, out1[c] += sum_n f(n,c).y (out1 may be null).
// A warp covers 32 adjacent columns so reads coalesce; blocks along y split the rows and meet
// with one atomicAdd per column each, which keeps it fast for tall inputs without scratch.

constexpr int kColSumRows = 8;

template <typename F>
__global__ void column_sum2_kernel(float* out0, float* out1, int N, int C, F f) {
  __shared__ float s0[kColSumRows][33];
  __shared__ float s1[kColSumRows][33];
  const int c = blockIdx.x * 32 + threadIdx.x;
  float a0 = 0.0f, a1 = 0.0f;
  if (c < C) {
    for (int n = blockIdx.y * kColSumRows + threadIdx.y; n < N; n += gridDim.y * kColSumRows) {
      float2 v = f(n, c);
      a0 += v.x;
      a1 += v.y;
    }
  }
  s0[threadIdx.y][threadIdx.x] = a0;
  s1[threadIdx.y][threadIdx.x] = a1;
  __syncthreads();
  if (threadIdx.y == 0 && c < C) {
    for (int r = 1; r < kColSumRows; r++) {
      a0 += s0[r][threadIdx.x];
      a1 += s1[r][threadIdx.x];
    }
    atomicAdd(out0 + c, a0);
    if (out1) atomicAdd(out1 + c, a1);
  }
}

template <typename F>
void column_sum2(float* out0, float* out1, int N, int C, F f) {
  if (N <= 0 || C <= 0) return;
  int row_blocks = ceil_div(N, kColSumRows * 16);
  if (row_blocks > 64) row_blocks = 64;
  dim3 grid(ceil_div(C, 32), row_blocks);
  column_sum2_kernel<<<grid, dim3(32, kColSumRows)>>>(out0, out1, N, C, f);
  CUDA_CHECK_LAUNCH("column_sum2_kernel");
}

}  // namespace cuda
}  // namespace arclight
