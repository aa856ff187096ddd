#!/usr/bin/env bash
# Quickstart: installs what is missing (tmux), builds gaffer and gaffer-sim, and runs
# `gaffer demo`. Arguments go to `gaffer demo`, e.g. --attach, --keep, or
# --headless --json --exit-after 90.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v tmux >/dev/null 2>&1; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "demo: installing tmux with apt-get" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq tmux >/dev/null
  else
    echo "demo: tmux is missing. Install it first, for example:" >&2
    echo "  sudo apt-get install tmux    # Debian/Ubuntu" >&2
    echo "  sudo dnf install tmux        # Fedora" >&2
    echo "  brew install tmux            # macOS" >&2
    exit 4
  fi
fi
if ! command -v cargo >/dev/null 2>&1; then
  echo "demo: cargo is missing. Install Rust from https://rustup.rs, then run this again." >&2
  exit 4
fi
echo "demo: building gaffer and gaffer-sim (the first build takes a few minutes)" >&2
cargo build --quiet --locked --bin gaffer --bin gaffer-sim
exec target/debug/gaffer demo "$@"
