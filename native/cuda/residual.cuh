// The residual stream's add, a[i] += b[i], forward and (as the same add of gradients) backward.
// Kept apart so the block code reads as a sequence of named steps.
#pragma once

#include "cuda_common.cuh"

namespace arclight {
namespace cuda {

__global__ void add_inplace_kernel(float* a, const float* b, long long n) {
  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x)
    a[i] += b[i];
}

// ----------------------------------------------------------------------------
// launchers

inline void add_inplace_impl(float* a, const float* b, long long n) {
  if (n <= 0) return;
  add_inplace_kernel<<<elementwise_blocks(n, kElementwiseThreads), kElementwiseThreads>>>(a, b, n);
  CUDA_CHECK_LAUNCH("add_inplace_kernel");
}

}  // namespace cuda
}  // namespace arclight
