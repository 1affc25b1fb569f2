#!/usr/bin/env bash
# Installs what the notebook browser test needs, only when it is missing:
# Debian's classic Notebook (jupyter-notebook) and Chromium (driven headless by puppeteer-core).
set -euo pipefail
need=()
[ -x /usr/bin/chromium ] || need+=(chromium)
/usr/bin/python3 -c 'import notebook.notebookapp' >/dev/null 2>&1 || need+=(jupyter-notebook)
if [ ${#need[@]} -eq 0 ]; then exit 0; fi
source "$(dirname "$0")/lib/apt.sh"
apt_install "the notebook browser test" "${need[@]}"
