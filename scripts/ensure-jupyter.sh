#!/usr/bin/env bash
# Installs the Debian packages the kernel tests and headless notebook runs need,
# only when they are missing (PyPI is not reachable here; apt is).
set -euo pipefail
# Debian packages live under the system python, not a pyenv one that may be first on PATH.
PY=/usr/bin/python3
need=()
[ -x /usr/bin/jupyter ] || need+=(jupyter)
"$PY" -c 'import jupyter_server' >/dev/null 2>&1 || need+=(jupyter_server)
"$PY" -c 'import nbclient, nbconvert, jupyter_client' >/dev/null 2>&1 || need+=(nbclient)
"$PY" -c 'import jupyter_kernel_test' >/dev/null 2>&1 || need+=(jupyter_kernel_test)
if [ ${#need[@]} -eq 0 ]; then exit 0; fi
source "$(dirname "$0")/lib/apt.sh"
apt_install "the kernel tests and headless notebook runs (missing ${need[*]})" \
  jupyter-core python3-jupyter-server python3-jupyter-client python3-nbclient \
  python3-nbconvert python3-jupyter-kernel-test python3-ipykernel
