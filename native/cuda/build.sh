#!/usr/bin/env bash
# Builds Arclight's CUDA backend with nvcc (the test with g++): build/libarclight_cuda.a (the kernels behind
# cuda_backend.h, for the addon to link) and build/test_kernels (the standalone parity test).
#
#   native/cuda/build.sh [lib|test|all]      default: all
#   ARCLIGHT_CUDA_ARCHS="80 90a"             GPU targets (sm_XX); fewer compile faster
#   ARCLIGHT_CUDA_BUILD=dir                  output folder (default native/cuda/build)
#   NVCC=/path/to/nvcc                       default: nvcc on PATH, else /usr/local/cuda/bin/nvcc
#   ARCLIGHT_CUDA_WERROR=1                   warnings fail the build (the tests set it; an install
#                                            with another nvcc version should not fail on a new warning)
#
# cudart is linked statically so the programs start on machines without a GPU and say so.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
what="${1:-all}"
case "$what" in lib|test|all) ;; *) echo "usage: $0 [lib|test|all]" >&2; exit 2 ;; esac
out="${ARCLIGHT_CUDA_BUILD:-$here/build}"
archs="${ARCLIGHT_CUDA_ARCHS:-80 90a}"
nvcc="${NVCC:-$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)}"
if [ ! -x "$nvcc" ]; then echo "build.sh: nvcc not found (set NVCC or PATH)" >&2; exit 3; fi
mkdir -p "$out"

gencode=()
for a in $archs; do gencode+=(-gencode "arch=compute_${a},code=sm_${a}"); done
# -fPIC: the archive ends up inside a shared object (the node addon).
# ARCLIGHT_CUDA_THREADS=N compiles the gencode targets in parallel (worth it on an idle machine).
flags=(-O3 -std=c++17 --threads "${ARCLIGHT_CUDA_THREADS:-1}" -Xcompiler -Wall,-Wextra,-fPIC)
werror=()
if [ "${ARCLIGHT_CUDA_WERROR:-0}" = 1 ]; then flags+=(--Werror all-warnings); werror=(-Werror); fi

if [ "$what" != test ] || [ ! -f "$out/libarclight_cuda.a" ]; then
  "$nvcc" "${flags[@]}" "${gencode[@]}" -c "$here/cuda_backend.cu" -o "$out/cuda_backend.o"
  rm -f "$out/libarclight_cuda.a"
  ar rcs "$out/libarclight_cuda.a" "$out/cuda_backend.o"
fi
if [ "$what" != lib ]; then
  # The test holds no device code: g++ compiles it, which also proves that cuda_backend.h is plain
  # C++, and links it the way the addon will (libarclight_cuda.a + cudart_static).
  cuda_home="${CUDA_HOME:-/usr/local/cuda}"
  omp=(-fopenmp)  # only speeds up the CPU references; a compiler without it still builds the test
  echo 'int main(){return 0;}' | "${CXX:-g++}" -x c++ -fopenmp - -o /dev/null 2>/dev/null || omp=(-Wno-unknown-pragmas)
  "${CXX:-g++}" -x c++ -std=c++17 -O2 -Wall -Wextra "${werror[@]}" "${omp[@]}" -c "$here/test/test_kernels.cu" \
    -o "$out/test_kernels.o"
  "${CXX:-g++}" "$out/test_kernels.o" "$out/libarclight_cuda.a" -L"$cuda_home/lib64" -lcudart_static \
    -ldl -lrt -lpthread "${omp[@]}" -o "$out/test_kernels"
fi
echo "build.sh: built $what into $out (sm: $archs)"
