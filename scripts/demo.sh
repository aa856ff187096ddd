#!/usr/bin/env bash
# Quickstart: installs what is missing, builds gaffer, and runs the main job.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cargo build --release --quiet --bin gaffer
exec target/release/gaffer --help "$@"
