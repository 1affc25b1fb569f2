# Sourced by the ensure-*.sh scripts: installs Debian packages with apt-get,
# as root or through sudo, refreshing the package lists first (a fresh
# machine has none, and an old list can name versions the mirror dropped).
# usage: apt_install "what needs them" PKG... ; non-zero when it could not.
apt_install() {
  local what="$1"; shift
  local sudo=""
  if [ "$(id -u)" != 0 ]; then
    if command -v sudo >/dev/null 2>&1; then sudo=sudo; else
      echo "arclight: $what: not root and no sudo; install Debian's: $*" >&2
      return 1
    fi
  fi
  echo "arclight: $what: installing Debian's $* (apt-get)..." >&2
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq >/dev/null 2>&1 || echo "arclight: apt-get update failed; trying the lists this machine has" >&2
  if ! $sudo apt-get install -y -qq --no-install-recommends "$@" >/dev/null; then
    echo "arclight: $what: apt-get could not install $*" >&2
    return 1
  fi
  echo "arclight: $what: installed $*." >&2
}
