#!/usr/bin/env bash
# Builds Arclight's CUDA backend with nvcc (the host parts with g++): build/libarclight_cuda.a (the kernels
# behind cuda_backend.h and the whole model behind cuda_model.h, for the addon to link), build/test_kernels
# (kernel parity), build/test_model (full-model parity against the CPU backend) and build/test_model_host
# (the same test linked against test/host_backend.cpp, a host emulation of the launchers: no GPU needed).
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

cxx="${CXX:-g++}"
omp=(-fopenmp)  # the CPU backend's headers use OpenMP; a compiler without it still builds (serially)
echo 'int main(){return 0;}' | "$cxx" -x c++ -fopenmp - -o /dev/null 2>/dev/null || omp=(-Wno-unknown-pragmas)
if [ "$what" != test ] || [ ! -f "$out/libarclight_cuda.a" ]; then
  "$nvcc" "${flags[@]}" "${gencode[@]}" -c "$here/cuda_backend.cu" -o "$out/cuda_backend.o"
  # The model holds no device code: the host compiler builds it against cuda_backend.h alone.
  "$cxx" -std=c++17 -O2 -fPIC -Wall -Wextra "${werror[@]}" "${omp[@]}" -c "$here/cuda_model.cpp" -o "$out/cuda_model.o"
  rm -f "$out/libarclight_cuda.a"
  ar rcs "$out/libarclight_cuda.a" "$out/cuda_backend.o" "$out/cuda_model.o"
fi
if [ "$what" != lib ]; then
  # The tests hold no device code: g++ compiles them, which also proves that cuda_backend.h and
  # cuda_model.h are plain C++, and links them the way the addon does (libarclight_cuda.a + cudart_static).
  cuda_home="${CUDA_HOME:-/usr/local/cuda}"
  link=("$out/libarclight_cuda.a" -L"$cuda_home/lib64" -lcudart_static -ldl -lrt -lpthread "${omp[@]}")
  "$cxx" -x c++ -std=c++17 -O2 -Wall -Wextra "${werror[@]}" "${omp[@]}" -c "$here/test/test_kernels.cu" \
    -o "$out/test_kernels.o"
  "$cxx" "$out/test_kernels.o" "${link[@]}" -o "$out/test_kernels"
  # test_model runs the CPU backend itself (Model<float>), so it links its dispatched matmul, the bf16-weight
  # GEMMs (Model's baseWeights "bf16") and the BLAS loader they may call too.
  "$cxx" -std=c++17 -O2 -Wall -Wextra "${werror[@]}" "${omp[@]}" -c "$here/../src/matmul_dispatch.cpp" -o "$out/matmul_dispatch.o"
  "$cxx" -std=c++17 -O2 -Wall -Wextra "${werror[@]}" "${omp[@]}" -c "$here/../src/matmul_bf16.cpp" -o "$out/matmul_bf16.o"
  "$cxx" -std=c++17 -O2 -Wall -Wextra "${werror[@]}" "${omp[@]}" -c "$here/../src/blas.cpp" -o "$out/blas.o"
  "$cxx" -std=c++17 -O2 -Wall -Wextra "${werror[@]}" "${omp[@]}" -c "$here/test/test_model.cpp" -o "$out/test_model.o"
  "$cxx" "$out/test_model.o" "$out/matmul_dispatch.o" "$out/matmul_bf16.o" "$out/blas.o" "${link[@]}" -o "$out/test_model"
  # The same test against a host emulation of cuda_backend.h: CudaModel's own logic, checked without a GPU.
  "$cxx" -std=c++17 -O2 -Wall -Wextra "${werror[@]}" "${omp[@]}" -c "$here/test/host_backend.cpp" -o "$out/host_backend.o"
  "$cxx" "$out/test_model.o" "$out/cuda_model.o" "$out/host_backend.o" "$out/matmul_dispatch.o" "$out/matmul_bf16.o" "$out/blas.o" -ldl "${omp[@]}" -o "$out/test_model_host"
fi
echo "build.sh: built $what into $out (sm: $archs)"
