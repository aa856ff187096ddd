#!/bin/bash
# An idle fleet like the soak's drained phase (docs/soak.md, "The coordinator's CPU in a long
# idle phase"): 64 gaffer-sim agents at 95% context (no work is given above 90%), compaction off
# (COMPACT=true turns it on), a 2,000-bead br project (GARBAGE=n appends the soak's malformed
# lines n times), `gaffer run --auto-assign` polling every second; prints the coordinator's CPU
# per window (WINDOWS windows of WIN seconds, default 3 of 120), then (PROFILE=1, the default)
# `strace -c` and `perf record` of it into the run's directory. Needs tmux, br, bc, python3 and
# (for the profile) strace and perf; the release binaries (`cargo build --release -p gaffer
# -p gaffer-sim`), or G_BIN / SIM_BIN. Run two at once (LABEL=a / LABEL=b with two G_BIN) to
# compare builds side by side. Everything it starts is stopped at the end.
set -u
T=${T:-$(cd "$(dirname "$0")/.." && pwd)/target/release}
mkdir -p /tmp/idleprof
ROOT=$(mktemp -d /tmp/idleprof/run-XXXX)
P=$ROOT/proj
SOCK=idleprof-$$
mkdir -p $P/.beads $P/.gaffer
cd $P && git init -q && br init --prefix sk --json >/dev/null 2>&1
python3 - > $P/.beads/issues.jsonl <<'PY'
import json
for i in range(1,2001):
    m=i%40; f=i%6
    print(json.dumps({"id":f"sk-{i}","title":f"Task {i}: update src/mod{m}/file{f}.rs","description":f"Edit src/mod{m}/file{f}.rs.","status":"open","priority":i%4,"issue_type":"task","created_at":"2026-01-01T00:00:00Z","updated_at":"2026-01-01T00:00:00Z","dependencies":[]}))
PY
(cd $P && RUST_LOG=error br sync --import-only --json >/dev/null 2>&1)
# The soak's malformed-lines fault, GARBAGE times (each: a cut line, a line of text, a 2 MiB line).
for g in $(seq 1 ${GARBAGE:-0}); do
  python3 -c "
import sys
f=open('$P/.beads/issues.jsonl','a')
f.write('{\"id\": \"sk-broken\", \"title\": \n')
f.write('not json at all \x1b[2J\n')
f.write('{\"id\":\"sk-big\",\"title\":\"' + 'x'*(2<<20) + '\"}\n')
"
done
ls -la $P/.beads/issues.jsonl
cat > $P/.gaffer/config.toml <<CFG
[tmux]
socket_name = "$SOCK"
session = "soak"

[coordinator]
poll_interval = "1s"
idle_threshold = 2.0
digest_interval = "30s"
auto_assign = true
send_digests = false
conflict_notify = true
compact_idle = ${COMPACT:-false}

[beads]
timeout = "10s"
CFG
kinds=(cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cod cod cod cod cod cod cod cod cod cod cod cod cod cod cod cod gmi gmi gmi gmi gmi gmi gmi gmi gmi gmi gmi gmi gmi gmi gmi gmi)
last=""
for i in $(seq 0 63); do
  k=${kinds[$i]}
  cmd="${SIM_BIN:-$T/gaffer-sim} --agent $k --work-secs 30 --context-left 5"
  if [ $i -eq 0 ]; then
    id=$(tmux -L $SOCK new-session -d -s soak -x 200 -y 48 -c $P -P -F '#{pane_id}' "$cmd")
  elif [ $((i % 4)) -eq 0 ]; then
    id=$(tmux -L $SOCK new-window -t =soak: -c $P -P -F '#{pane_id}' "$cmd")
  else
    id=$(tmux -L $SOCK split-window -t $last -c $P -P -F '#{pane_id}' "$cmd")
    tmux -L $SOCK select-layout -t $last tiled >/dev/null
  fi
  last=$id
  tmux -L $SOCK set-option -p -t $id allow-set-title off 2>/dev/null
  tmux -L $SOCK select-pane -t $id -T "soak__${k}_$i"
  tmux -L $SOCK set-option -p -t $id @gaffer_title "soak__${k}_$i"
done
sleep 2
cd $P
GAFFER_LOG=warn nice -n 19 ${G_BIN:-$T/gaffer} --json --project $P run > $ROOT/events.jsonl 2> $ROOT/coord.log &
G=$!
trap 'kill $G 2>/dev/null; tmux -L $SOCK kill-server 2>/dev/null' EXIT
echo "gaffer pid $G root $ROOT"
tck=$(getconf CLK_TCK)
cpu() { awk '{print $14+$15}' /proc/$G/stat; }
sleep 20
for w in $(seq 1 ${WINDOWS:-3}); do
  a=$(cpu); t0=$(date +%s.%N); sleep ${WIN:-120}; b=$(cpu); t1=$(date +%s.%N)
  echo "${LABEL:-} window $w ($((w*${WIN:-120}))s): cpu $(echo "scale=2; 100*($b-$a)/$tck/($t1-$t0)" | bc -l)% of a core, rss $(awk '/VmRSS/{print $2}' /proc/$G/status) kB, load $(cut -d' ' -f1 /proc/loadavg)"
done
[ "${PROFILE:-1}" = 1 ] || { kill $G; tmux -L $SOCK kill-server; echo done $ROOT; exit 0; }
strace -c -f -p $G -o $ROOT/strace.txt & S=$!; sleep 30; kill -INT $S; wait $S 2>/dev/null
perf record -F 499 -g -p $G -o $ROOT/perf.data -- sleep 30 >/dev/null 2>&1
perf report -i $ROOT/perf.data --no-children --percent-limit 1.5 --stdio 2>/dev/null | grep -v "^$" | head -120 > $ROOT/perf.txt
perf report -i $ROOT/perf.data --no-children --sort comm,dso --stdio 2>/dev/null | grep -v "^#" | grep -v "^$" | head -20 > $ROOT/perf-dso.txt
grep -c . $ROOT/events.jsonl > $ROOT/events.count
kill $G; sleep 2; kill -9 $G 2>/dev/null
tmux -L $SOCK kill-server
echo done $ROOT
