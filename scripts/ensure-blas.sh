#!/usr/bin/env bash
# Installs Debian's OpenBLAS (libopenblas0-pthread) when no BLAS with cblas_sgemm
# is present. The native addon dlopens it at load time for its fp32 GEMMs
# (native/src/blas.cpp) and falls back to its own kernels without it, so a
# failure here is reported but never fatal.
set -uo pipefail
have() { /sbin/ldconfig -p 2>/dev/null | grep -qE "lib(openblas\.so\.0|blis\.so\.4)[[:space:]]" || [ -e /usr/lib/x86_64-linux-gnu/openblas-pthread/libopenblas.so.0 ]; }
if have; then exit 0; fi
echo "arclight: no OpenBLAS/BLIS found; installing Debian's libopenblas0-pthread (apt-get) so CPU training runs on a tuned sgemm..." >&2
SUDO=""
if [ "$(id -u)" != 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO=sudo; else
    echo "arclight: not root and no sudo; install libopenblas0-pthread yourself for ~3x faster CPU training (the addon works without it)." >&2
    exit 0
  fi
fi
export DEBIAN_FRONTEND=noninteractive
if ! $SUDO apt-get install -y -qq --no-install-recommends libopenblas0-pthread >/dev/null 2>&1; then
  $SUDO apt-get update -qq >/dev/null 2>&1 || true
  $SUDO apt-get install -y -qq --no-install-recommends libopenblas0-pthread >/dev/null 2>&1 || true
fi
if have; then echo "arclight: OpenBLAS installed." >&2; else
  echo "arclight: could not install libopenblas0-pthread; the native addon uses its own (slower) GEMM." >&2
fi
exit 0
