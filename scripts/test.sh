#!/usr/bin/env bash
# The full test suite: installs what is missing, then runs every test of the workspace.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
# The real Agent Mail server's venv (cached per machine) for the contract and fault tests.
# In CI a failure is fatal; locally those tests then skip with a message.
if ! scripts/agentmail.sh install; then
  if [ "${CI:-}" = "true" ]; then
    echo "test.sh: cannot install the Agent Mail server (needed in CI)" >&2
    exit 1
  fi
  echo "test.sh: Agent Mail server not installed; its tests will skip" >&2
fi
# The pinned real agent CLIs (agents.lock), cached per machine, for the live real-agent tests.
if ! scripts/install-agents.sh; then
  if [ "${CI:-}" = "true" ]; then
    echo "test.sh: cannot install the real agent CLIs (needed in CI)" >&2
    exit 1
  fi
  echo "test.sh: real agent CLIs not installed; their tests will fail with the remedy" >&2
fi
scripts/install-br.sh
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
cargo test --workspace --all-targets --locked
# The soak and fault run (hardening issue): 64 sim agents, 2,000 beads, every fault once, about
# 4 minutes; it builds the release binaries the demo then reuses.
cargo bench -p gaffer --bench soak --locked -- --minutes 3
