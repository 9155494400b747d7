#!/usr/bin/env bash
# Runs the interop suite against a built switchboard binary.
#   SWITCHBOARD_BIN   server binary (default: <repo>/.build/debug/switchboard)
#   PYTHON            interpreter used to create the venv (default: python3)
#   extra arguments are passed to pytest, e.g. Tests/Interop/run.sh -k rpc -x
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
venv="${SWITCHBOARD_INTEROP_VENV:-$repo/.venv-interop}"
python="${PYTHON:-python3}"

if [ ! -x "$venv/bin/python" ]; then
  "$python" -m venv "$venv"
fi

# Reinstall only when requirements.txt changed (keeps repeated runs offline).
stamp="$venv/.requirements.sha256"
want="$(sha256sum "$here/requirements.txt" | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  "$venv/bin/python" -m pip install -q --disable-pip-version-check -r "$here/requirements.txt"
  echo "$want" > "$stamp"
fi

# The browser test (test_sse_browser.py) drives Debian's headless Chromium through Debian's chromedriver.
if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
  echo "run.sh: installing chromium and chromium-driver (Debian) for the browser test" >&2
  sudo=""
  if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium chromium-driver >/dev/null
fi

# The TLS tests make their own CA with the openssl command line.
if ! command -v openssl >/dev/null 2>&1; then
  echo "run.sh: installing openssl (Debian) for the TLS tests" >&2
  sudo=""
  if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq openssl >/dev/null
fi

# The AMQP tests also drive Debian's amqp-tools (amqp-publish, amqp-consume).
if ! command -v amqp-publish >/dev/null 2>&1; then
  echo "run.sh: installing amqp-tools (Debian) for the AMQP tests" >&2
  sudo=""
  if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq amqp-tools >/dev/null
fi

# The load-balancer test runs docs/examples/nginx-three-instances.conf in Debian's nginx (its stream module
# for the TCP protocols). RUNLEVEL=1: the package's service is not started (the test runs its own nginx).
if ! command -v nginx >/dev/null 2>&1 && [ ! -x /usr/sbin/nginx ] || [ ! -f /usr/lib/nginx/modules/ngx_stream_module.so ]; then
  echo "run.sh: installing nginx and libnginx-mod-stream (Debian) for the load-balancer test" >&2
  sudo=""
  if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
  $sudo apt-get update -qq
  RUNLEVEL=1 DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq nginx libnginx-mod-stream >/dev/null
fi

bin="${SWITCHBOARD_BIN:-$repo/.build/debug/switchboard}"
case "$bin" in /*) ;; *) bin="$PWD/$bin" ;; esac
if [ ! -x "$bin" ]; then
  echo "run.sh: server binary not found or not executable: $bin (build it or set SWITCHBOARD_BIN)" >&2
  exit 2
fi
export SWITCHBOARD_BIN="$bin"

# Files run in parallel, each file whole on one worker (`--dist loadfile`: a file's tests share its servers
# and run in their order), SWITCHBOARD_INTEROP_WORKERS at a time (default 3: most tests wait on sockets and
# timers, not on a core). Files marked `serial` (pytestmark: they measure memory, descriptors or a
# bystander's latency, or open many connections) run after them, one at a time, with the machine left to
# them: on a machine loaded by other builds the slow-consumer file's memory bound failed in 2 of 5 runs (a
# 12 MB flood grew the server's RSS by 86–92 MB, 40 MB in the others). Every process of the run claims its
# ports in one directory (interop.free_port). SWITCHBOARD_INTEROP_WORKERS=1: one process, every file in turn.
workers="${SWITCHBOARD_INTEROP_WORKERS:-3}"
SWITCHBOARD_INTEROP_PORTS="$(mktemp -d -t switchboard-interop-ports.XXXXXX)"
export SWITCHBOARD_INTEROP_PORTS
trap 'rm -rf "$SWITCHBOARD_INTEROP_PORTS"' EXIT

cd "$repo"
status=0
serial=5
if [ "$workers" -gt 1 ]; then
  "$venv/bin/python" -m pytest -q -n "$workers" --dist loadfile -m "not serial" Tests/Interop "$@" || status=$?
  echo "== interop: the files marked serial, one at a time"
  serial=0
  "$venv/bin/python" -m pytest -q -m serial Tests/Interop "$@" || serial=$?
else
  "$venv/bin/python" -m pytest -q Tests/Interop "$@" || status=$?
fi
# 5 is pytest's "no test selected" (a -k that names tests of one kind only): a failure only when both are.
if [ "$status" = 5 ] && [ "$serial" != 5 ]; then status=0; fi
if [ "$serial" != 0 ] && [ "$serial" != 5 ]; then status="$serial"; fi
exit "$status"
