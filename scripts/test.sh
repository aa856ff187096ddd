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
# This includes the cockpit's real-browser test (crates/gaffer/tests/cockpit_browser.rs: headless
# Chromium, which install-deps.sh installs in about 45 s, against gaffer serve and gaffer run;
# about 30 s).
cargo test --workspace --all-targets --locked --no-fail-fast
# (Agents on several machines, README: the line above also runs the simulated-host tests, each
# in its own network namespace with a real sshd: gaffer-tmux's ssh_live.rs (4 tests, ~3 s each,
# in parallel), gaffer-coordinator's hosts_live.rs (3 tests in parallel, ~11 s: a pass that
# does not wait for a partitioned host), gaffer's hosts_cli.rs (3 tests in parallel, ~27 s:
# `gaffer run` over a partitioned host, healed, and past the grace), gaffer's hosts_home.rs (3
# tests in parallel, ~13 s: agents' reports coming home over the host's connection, queued
# through a partition, spawn --host), gaffer's hosts_scenarios.rs (3 tests in parallel, ~12 s:
# sshd restarted, 100 ms added, a passphrase key through ssh-agent), hosts_demo.rs (3 hosts x 4
# agents to completion, ~14 s), the ssh_transport bench's tiny round (~15 s) and the hosts_scale
# bench's --quick round (4 hosts x 4 agents, ~15 s; the full 8 x 16 run is by hand,
# docs/hosts-scale.md); openssh-server comes from install-deps.sh.)
# (Notifications, README "Notifications": gaffer-notify's delivery tests on a loopback HTTP
# listener and real scripts take ~3 s, crates/gaffer/tests/notify_live.rs 27 to 45 s (machine load) with a 24 s
# `gaffer run` over flapping sim agents; the new crate adds ~7 s of build on a loaded 2-core machine.)
# (https webhooks and the desktop channel: gaffer-notify's tls.rs, a real rustls server with a CA
# the test makes, runs in 0.1 s; desktop_bus.rs, the real notify-send and dunst on Xvfb and a
# private D-Bus bus, in 0.5 s, and notify_live.rs's `gaffer notify test` through it in 0.5 s;
# install-deps.sh's xvfb, dunst, libnotify-bin and dbus packages took 10 s to install. rustls,
# ring and rcgen add to the build: ring's C and assembly, rustls and webpki are compiled once
# per profile. One decider per project: coordinator_live.rs's serve-beside-run test, 16 s.)
# The fleet benchmark's short run (160 beads, 8 agents, the 5 strategies and the reference
# baseline, gaffer with restarts and take-backs; built by the line above, runs in debug in 35 to
# 70 s on a busy 2-core machine): it fails on any decision gaffer's simulated executor does not
# carry out (the bench exits non-zero), any double assignment, prompt to a not-ready agent or
# missed conflict, and when the default strategy's throughput ratio against the baseline falls
# below FLEET_MIN_RATIO (default 1.05: the short run gives 1.07 on its seed 16, 1.10 to 1.42 on
# seeds 1 to 3; the full run's 1.33 is in README "Fleet benchmark").
fleet_out=$(cargo test -p gaffer-coordinator --bench fleet --locked -- --quick)
echo "$fleet_out" | grep '^fleet'
echo "$fleet_out" | awk -v min="${FLEET_MIN_RATIO:-1.05}" '
  /^fleet: (double assignments|prompts to a not-ready agent|conflicts missed)=/ {
    split($0, a, "="); split(a[2], b, " ");
    if (b[1] + 0 != 0) { print "test.sh: fleet counter not zero: " $0 > "/dev/stderr"; bad = 1 }
  }
  /^fleet: beads per agent-hour / && / strategy=balanced$/ {
    seen = 1;
    for (i = 1; i <= NF; i++) if ($i ~ /^ratio=/) r = substr($i, 7) + 0;
    if (r < min) { print "test.sh: fleet ratio " r " below " min > "/dev/stderr"; bad = 1 }
  }
  END { if (!seen) { print "test.sh: no fleet ratio line" > "/dev/stderr"; bad = 1 } exit bad }'
# The soak and fault run (hardening issue): 64 sim agents, 2,000 beads, every fault once, and
# the fleet figures from its ledger: 212 s of run (setup 22 s, 180 s, report), after the release
# build of gaffer and gaffer-sim (6.5 + 3.7 minutes measured at a load of 20 on a shared 2-core
# machine; the demo then reuses them).
cargo bench -p gaffer --bench soak --locked -- --minutes 3
# The agent-latency benchmark's smoke run (issue 12, item 5): 2 turns of the real Claude Code
# with and without gaffer's hooks, side by side, about 60 s; it fails when the hook path missed a
# state change or a turn was lost. The full run (20 turns on each CLI) is by hand: docs/hooks.md.
cargo bench -p gaffer --bench agent_latency --locked -- --smoke
# A short coverage-guided run of every fuzz target (fuzz/, README "Fuzzing"): builds them
# (stable toolchain, libFuzzer from C++), then fuzzes each for GAFFER_FUZZ_SECS (default 10) and
# fails on a crash. About 4 to 5 minutes on a 2-core machine: the build is 320 s of CPU time,
# the runs 8 x ~12 s (README "Fuzzing"); GAFFER_FUZZ_SECS=0
# skips it.
if [ "${GAFFER_FUZZ_SECS:-10}" != "0" ]; then
  scripts/fuzz.sh ci "${GAFFER_FUZZ_SECS:-10}"
fi
