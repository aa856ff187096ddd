#!/usr/bin/env bash
# Installs the real agent CLIs pinned in agents.lock (Claude Code, Codex CLI, Gemini CLI) from
# the npm registry, each into its own prefix under ${XDG_CACHE_HOME:-~/.cache}/gaffer/agents/,
# never globally. A machine installs each version once; later runs only check. Needs node >= 20
# and npm. Exit codes: 0 installed (or already there), 4 npm/node missing or the registry
# cannot be reached.
#   scripts/install-agents.sh          install what is missing
#   scripts/install-agents.sh --list   print kind, version and executable path of each
set -euo pipefail
cd "$(dirname "$0")/.."

CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/gaffer/agents"
mode="${1:-install}"

entries() { sed -e 's/#.*//' agents.lock | awk 'NF == 4 { print $1, $2, $3, $4 }'; }

if [ "$mode" = "--list" ]; then
  entries | while read -r kind pkg ver bin; do
    exe="$CACHE/$kind-$ver/node_modules/.bin/$bin"
    if [ -x "$exe" ]; then echo "$kind $ver $exe"; else echo "$kind $ver (not installed)"; fi
  done
  exit 0
fi

if ! command -v npm >/dev/null 2>&1 || ! command -v node >/dev/null 2>&1; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "gaffer: installing nodejs and npm with apt-get" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null && apt-get install -y -qq nodejs npm >/dev/null
  else
    echo "gaffer: the real agent CLIs need node (>= 20) and npm; install them first" >&2
    exit 4
  fi
fi

mkdir -p "$CACHE"
entries | while read -r kind pkg ver bin; do
  prefix="$CACHE/$kind-$ver"
  exe="$prefix/node_modules/.bin/$bin"
  if [ -x "$exe" ]; then
    continue
  fi
  echo "gaffer: installing $pkg@$ver into $prefix" >&2
  start=$(date +%s)
  tmp="$prefix.partial.$$"
  rm -rf "$tmp"
  mkdir -p "$tmp"
  # Exact version, its own prefix; no audit or funding calls. Claude Code >= 2.1.198 declares
  # node >= 22 but runs on 20: npm only warns (EBADENGINE) for an exact pin.
  if ! npm install --prefix "$tmp" --no-audit --no-fund --no-save --loglevel=error \
      "$pkg@$ver" >"$tmp.log" 2>&1; then
    echo "gaffer: npm could not install $pkg@$ver (is the npm registry reachable?):" >&2
    tail -5 "$tmp.log" >&2
    rm -rf "$tmp" "$tmp.log"
    exit 4
  fi
  rm -f "$tmp.log"
  rm -rf "$prefix"
  mv "$tmp" "$prefix"
  if ! "$exe" --version >/dev/null 2>&1; then
    echo "gaffer: $exe does not run after install" >&2
    exit 4
  fi
  echo "gaffer: $pkg@$ver installed in $(( $(date +%s) - start )) s" >&2
done
