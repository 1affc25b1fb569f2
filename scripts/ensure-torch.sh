#!/usr/bin/env bash
# Installs Debian's python3-torch (CPU PyTorch) when missing: the native
# reference tests (test/native-reference.test.ts) compare Arclight's logprobs
# and gradients with test/reference/*.py. Without it those tests skip with a
# message, so a failure here is reported but never fatal.
set -uo pipefail
PY=/usr/bin/python3
if "$PY" -c 'import torch' >/dev/null 2>&1; then exit 0; fi
source "$(dirname "$0")/lib/apt.sh"
apt_install "the native reference tests (optional)" python3-torch || true
"$PY" -c 'import torch' >/dev/null 2>&1 || echo "arclight: no PyTorch; the native reference tests will skip and say why." >&2
exit 0
