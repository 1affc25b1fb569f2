#!/usr/bin/env bash
# Installs Debian's python3-torch (CPU PyTorch) when missing: the native
# reference tests (test/native-reference.test.ts) compare Arclight's logprobs
# and gradients with test/reference/*.py. Without it those tests skip with a
# message, so a failure here is reported but never fatal.
set -uo pipefail
PY=/usr/bin/python3
if "$PY" -c 'import torch' >/dev/null 2>&1; then exit 0; fi
echo "arclight: PyTorch missing; installing Debian's python3-torch (apt-get, CPU only) for the native reference tests..." >&2
SUDO=""
if [ "$(id -u)" != 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO=sudo; else
    echo "arclight: not root and no sudo; install python3-torch yourself, or the native reference tests skip." >&2
    exit 0
  fi
fi
export DEBIAN_FRONTEND=noninteractive
if ! $SUDO apt-get install -y -qq --no-install-recommends python3-torch >/dev/null 2>&1; then
  $SUDO apt-get update -qq >/dev/null 2>&1 || true
  $SUDO apt-get install -y -qq --no-install-recommends python3-torch >/dev/null 2>&1 || true
fi
if "$PY" -c 'import torch' >/dev/null 2>&1; then echo "arclight: python3-torch installed." >&2; else
  echo "arclight: could not install python3-torch; the native reference tests will skip." >&2
fi
exit 0
