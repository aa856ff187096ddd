#!/usr/bin/env bash
# Installs the system packages gaffer's tests and demo need, only when they are missing.
# As root it uses apt-get; otherwise it says what to install and fails.
set -euo pipefail

need=()
command -v tmux >/dev/null 2>&1 || need+=(tmux)

if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi

if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "gaffer: installing ${need[*]} with apt-get" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq "${need[@]}" >/dev/null
else
  echo "gaffer: missing ${need[*]}. Install it first, for example:" >&2
  echo "  sudo apt-get install ${need[*]}    # Debian/Ubuntu" >&2
  echo "  brew install ${need[*]}            # macOS" >&2
  exit 4
fi
