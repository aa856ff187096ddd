#!/usr/bin/env bash
# Installs the pinned beads_rust CLI (`br` 0.7.6) into the cargo home, only when `br` is not on PATH.
# The crate needs nightly features and pins a build-dependency with a newer MSRV, so the stable
# compiler is told to accept both (RUSTC_BOOTSTRAP=1, --ignore-rust-version). A faster release
# profile than upstream's is used. Takes ~11-13 min on 2 cores; a machine builds it only once.
set -euo pipefail

BR_VERSION="0.7.6"
CARGO_HOME_DIR="${CARGO_HOME:-$HOME/.cargo}"
export PATH="$CARGO_HOME_DIR/bin:$PATH"

if command -v br >/dev/null 2>&1; then
  echo "gaffer: br already installed: $(command -v br) ($(br --version 2>/dev/null || echo unknown))" >&2
  exit 0
fi

if ! command -v cargo >/dev/null 2>&1; then
  echo "gaffer: cargo is required to build br" >&2
  exit 4
fi

echo "gaffer: building br (beads_rust $BR_VERSION) into $CARGO_HOME_DIR/bin; this takes ~12 min on 2 cores" >&2
start=$(date +%s)
(
  while sleep 60; do
    echo "gaffer: still building br... $(( ($(date +%s) - start) / 60 )) min" >&2
  done
) &
ticker=$!
trap 'kill "$ticker" 2>/dev/null || true' EXIT

RUSTC_BOOTSTRAP=1 \
CARGO_PROFILE_RELEASE_LTO=false \
CARGO_PROFILE_RELEASE_OPT_LEVEL=1 \
CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 \
  cargo install "beads_rust@$BR_VERSION" --locked --ignore-rust-version --no-default-features \
    --root "$CARGO_HOME_DIR" --quiet

echo "gaffer: br built in $(( $(date +%s) - start )) s: $("$CARGO_HOME_DIR/bin/br" --version)" >&2
