#!/usr/bin/env bash
# Installs Debian's OpenBLAS, OpenMP build (libopenblas0-openmp), when missing.
# The native addon dlopens it at load time for its fp32 GEMMs (native/src/blas.cpp)
# and falls back to its own kernels without it, so a failure here is reported but
# never fatal. The OpenMP build shares libgomp's thread pool with the addon's own
# loops; the pthreads build (libopenblas0-pthread) also works but its spinning
# threads compete with OpenMP's (about 3x slower training steps on 2 cores).
set -uo pipefail
have() { [ -e /usr/lib/x86_64-linux-gnu/openblas-openmp/libopenblas.so.0 ]; }
if have; then exit 0; fi
source "$(dirname "$0")/lib/apt.sh"
apt_install "CPU training on a tuned sgemm (optional)" libopenblas0-openmp || true
have || echo "arclight: no OpenBLAS; the native addon uses its own (slower) GEMM or another BLAS it finds." >&2
exit 0
