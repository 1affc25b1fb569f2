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
echo "arclight: OpenBLAS (OpenMP build) missing; installing Debian's libopenblas0-openmp (apt-get) so CPU training runs on a tuned sgemm..." >&2
SUDO=""
if [ "$(id -u)" != 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO=sudo; else
    echo "arclight: not root and no sudo; install libopenblas0-openmp yourself for faster CPU training (the addon works without it)." >&2
    exit 0
  fi
fi
export DEBIAN_FRONTEND=noninteractive
if ! $SUDO apt-get install -y -qq --no-install-recommends libopenblas0-openmp >/dev/null 2>&1; then
  $SUDO apt-get update -qq >/dev/null 2>&1 || true
  $SUDO apt-get install -y -qq --no-install-recommends libopenblas0-openmp >/dev/null 2>&1 || true
fi
if have; then echo "arclight: OpenBLAS installed." >&2; else
  echo "arclight: could not install libopenblas0-openmp; the native addon uses its own (slower) GEMM or another BLAS it finds." >&2
fi
exit 0
