#!/usr/bin/env bash
# Installs Debian's clang-format when missing: `npm run lint` checks native/
# against .clang-format with it (CI runs the lint).
set -uo pipefail
if command -v clang-format >/dev/null 2>&1; then exit 0; fi
source "$(dirname "$0")/lib/apt.sh"
apt_install "the C++ format check (npm run lint)" clang-format || exit 1
command -v clang-format >/dev/null 2>&1
