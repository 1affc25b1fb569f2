#!/usr/bin/env bash
# Installs what the notebook browser test needs, only when it is missing:
# Debian's classic Notebook (jupyter-notebook) and Chromium (driven headless by puppeteer-core).
set -euo pipefail
need=()
[ -x /usr/bin/chromium ] || need+=(chromium)
/usr/bin/python3 -c 'import notebook.notebookapp' >/dev/null 2>&1 || need+=(jupyter-notebook)
if [ ${#need[@]} -eq 0 ]; then exit 0; fi
echo "arclight: the browser test needs ${need[*]}; installing Debian's packages (apt-get)..." >&2
SUDO=""
if [ "$(id -u)" != 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO=sudo; else
    echo "arclight: run as root or install: chromium jupyter-notebook" >&2
    exit 1
  fi
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
echo "arclight: browser test packages installed." >&2
