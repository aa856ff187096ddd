#!/usr/bin/env bash
# The full test suite: installs what is missing, then runs every test of the workspace.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/install-br.sh
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
cargo test --workspace --all-targets --locked
