#!/usr/bin/env bash
# Coverage-guided fuzzing of gaffer's parsers of outside input, on the stable toolchain.
#
# The targets (fuzz/fuzz_targets/*.rs) are libFuzzer binaries built with libfuzzer-sys. Rust's
# stable compiler already has the SanitizerCoverage pass libFuzzer needs (`-Cpasses=sancov-module`
# and its `-Cllvm-args`), so no nightly, no RUSTC_BOOTSTRAP and no cargo-fuzz are needed; the
# libFuzzer runtime is compiled from C++ by libfuzzer-sys (g++ or clang).
#
#   scripts/fuzz.sh list                       the targets
#   scripts/fuzz.sh build                      build every target
#   scripts/fuzz.sh run TARGET [SECONDS] [libFuzzer flags...]
#                                              fuzz one target (default 60 s), then print its figures
#   scripts/fuzz.sh ci [SECONDS]               build, then fuzz each target SECONDS (default 20);
#                                              fails on the first crash
#   scripts/fuzz.sh repro TARGET FILE...       run a target once on saved inputs (a crash file)
#
# Working corpus: fuzz/corpus/TARGET (kept between runs, not committed); seeds are read from the
# repository's fixtures (see seeds() below) and fuzz/seeds/TARGET. A crash is written to
# fuzz/artifacts/TARGET/crash-<sha1> (the input that crashed; replay it with `repro`), and the
# run's log to fuzz/logs/TARGET.log. GAFFER_FUZZ_NO_BUILD=1 runs the binaries already built.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
fuzz=$root/fuzz

TARGETS=(detect glob beads_jsonl ledger_events mail_reply control_line config hook_payload)

host=$(rustc -vV | sed -n 's/^host: //p')
bin_dir=${CARGO_TARGET_DIR:-$fuzz/target}/$host/release

# SanitizerCoverage as cargo-fuzz sets it up (inline 8-bit counters, PC table, comparison
# tracing, stack depth); `--cfg fuzzing` for code that wants to know. `--target` keeps the flags
# off build scripts and proc-macros, which must link without libFuzzer.
export RUSTFLAGS="-Cpasses=sancov-module \
-Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters \
-Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares \
-Cllvm-args=-sanitizer-coverage-stack-depth \
--cfg fuzzing"

build() {
  [ "${GAFFER_FUZZ_NO_BUILD:-}" = "1" ] && return 0
  local args=()
  for t in "$@"; do args+=(--bin "$t"); done
  cargo build --manifest-path "$fuzz/Cargo.toml" --release --locked --target "$host" "${args[@]}"
}

# The read-only seed directories of a target: the repository's own fixtures.
seeds() {
  local dirs=()
  [ -d "$fuzz/seeds/$1" ] && dirs+=("$fuzz/seeds/$1")
  case $1 in
    detect) dirs+=("$root/crates/gaffer-core/tests/screens") ;;
    beads_jsonl) dirs+=("$root/crates/gaffer-beads/tests/fixtures") ;;
    config) dirs+=("$root/crates/gaffer-core/rules") ;;
  esac
  printf '%s\n' "${dirs[@]}"
}

known() {
  local t
  for t in "${TARGETS[@]}"; do [ "$t" = "$1" ] && return 0; done
  echo "fuzz.sh: unknown target $1 (one of: ${TARGETS[*]})" >&2
  exit 2
}

# Runs one target for $2 seconds; prints a one-line summary; fails on a crash.
run() {
  local target=$1 secs=$2; shift 2
  known "$target"
  mkdir -p "$fuzz/corpus/$target" "$fuzz/artifacts/$target" "$fuzz/logs"
  local log=$fuzz/logs/$target.log
  local -a seed_dirs
  mapfile -t seed_dirs < <(seeds "$target")
  local rc=0 start=$SECONDS
  "$bin_dir/$target" -max_total_time="$secs" -print_final_stats=1 -rss_limit_mb=2048 \
    -timeout=10 -artifact_prefix="$fuzz/artifacts/$target/" "$@" \
    "$fuzz/corpus/$target" "${seed_dirs[@]}" >"$log" 2>&1 || rc=$?
  local took=$((SECONDS - start)) runs rate rss cov ft corpus
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  rss=$(sed -n 's/^stat::peak_rss_mb: *//p' "$log" | tail -1)
  cov=$(grep -oE 'cov: [0-9]+' "$log" | tail -1 | cut -d' ' -f2)
  ft=$(grep -oE 'ft: [0-9]+' "$log" | tail -1 | cut -d' ' -f2)
  corpus=$(grep -oE 'corp: [0-9]+' "$log" | tail -1 | cut -d' ' -f2)
  echo "fuzz $target: ${runs:-?} executions in $took s (${rate:-?}/s), coverage ${cov:-?} edges (${ft:-?} features), corpus ${corpus:-?} inputs, peak RSS ${rss:-?} MB"
  if [ "$rc" -ne 0 ]; then
    echo "fuzz $target: CRASH (libFuzzer exit $rc); the log's end:" >&2
    tail -40 "$log" >&2
    echo "fuzz $target: saved inputs: $(ls "$fuzz/artifacts/$target" | tr '\n' ' ')" >&2
    echo "fuzz $target: replay with scripts/fuzz.sh repro $target fuzz/artifacts/$target/<file>" >&2
    return 1
  fi
}

cmd=${1:-}
case $cmd in
  list) printf '%s\n' "${TARGETS[@]}" ;;
  build) build "${TARGETS[@]}" ;;
  run)
    [ $# -ge 2 ] || { echo "usage: scripts/fuzz.sh run TARGET [SECONDS] [libFuzzer flags...]" >&2; exit 2; }
    target=$2; secs=${3:-60}; shift $(( $# >= 3 ? 3 : 2 ))
    known "$target"
    build "$target"
    run "$target" "$secs" "$@"
    ;;
  ci)
    secs=${2:-20}
    build "${TARGETS[@]}"
    passed=0 failed=0
    for t in "${TARGETS[@]}"; do
      if run "$t" "$secs"; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
    done
    echo "fuzz: $passed passed, $failed failed"
    [ "$failed" -eq 0 ]
    ;;
  repro)
    [ $# -ge 3 ] || { echo "usage: scripts/fuzz.sh repro TARGET FILE..." >&2; exit 2; }
    target=$2; shift 2
    known "$target"
    build "$target"
    "$bin_dir/$target" "$@"
    ;;
  *)
    sed -n '2,/^set /p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'
    [ -z "$cmd" ] || exit 2
    ;;
esac
