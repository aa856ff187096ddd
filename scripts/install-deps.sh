#!/usr/bin/env bash
# Installs the system packages gaffer's tests and demo need, only when they are missing.
# As root it uses apt-get; otherwise it says what to install and fails.
set -euo pipefail

need=()
command -v tmux >/dev/null 2>&1 || need+=(tmux)
# The real Agent Mail server (scripts/agentmail.sh) runs in a Python venv and needs curl and git.
command -v python3 >/dev/null 2>&1 || need+=(python3)
python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || need+=(python3-venv)
command -v curl >/dev/null 2>&1 || need+=(curl)
command -v git >/dev/null 2>&1 || need+=(git)
# The real agent CLIs run in a loopback-only network namespace (unshare, ip) and need node/npm.
command -v unshare >/dev/null 2>&1 || need+=(util-linux)
command -v ip >/dev/null 2>&1 || need+=(iproute2)
command -v npm >/dev/null 2>&1 || need+=(npm)
# The fuzz targets (scripts/fuzz.sh) compile libFuzzer from C++.
command -v c++ >/dev/null 2>&1 || need+=(g++)
# The cockpit's real-browser test (crates/gaffer/tests/cockpit_browser.rs) drives headless
# Chromium, Debian's package, through the DevTools protocol; a font for its screenshots.
command -v chromium >/dev/null 2>&1 || need+=(chromium)
[ -e /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || need+=(fonts-dejavu-core)
# The desktop notification test (crates/gaffer-notify/tests/desktop_bus.rs): the real
# notify-send, a private D-Bus session bus and monitor, and the dunst daemon on a virtual display.
command -v notify-send >/dev/null 2>&1 || need+=(libnotify-bin)
command -v dbus-daemon >/dev/null 2>&1 || need+=(dbus-daemon)
command -v dbus-monitor >/dev/null 2>&1 || need+=(dbus-bin)
command -v dunst >/dev/null 2>&1 || need+=(dunst)
command -v Xvfb >/dev/null 2>&1 || need+=(xvfb)
# The simulated hosts of the SSH tests (gaffer_testkit::hosts) each run Debian's sshd, with
# their own config, inside a network namespace; the machine's own ssh service is not wanted.
sshd_missing=0
[ -x /usr/sbin/sshd ] || { need+=(openssh-server); sshd_missing=1; }

if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi

if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "gaffer: installing ${need[*]} with apt-get" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq "${need[@]}" >/dev/null
  # Installing openssh-server may start the machine's ssh service; the tests only run their own.
  if [ "$sshd_missing" = 1 ] && command -v systemctl >/dev/null 2>&1; then
    systemctl disable --now ssh.service ssh.socket >/dev/null 2>&1 || true
  fi
else
  echo "gaffer: missing ${need[*]}. Install it first, for example:" >&2
  echo "  sudo apt-get install ${need[*]}    # Debian/Ubuntu" >&2
  echo "  brew install ${need[*]}            # macOS" >&2
  exit 4
fi
