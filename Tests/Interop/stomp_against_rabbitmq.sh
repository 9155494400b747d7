#!/usr/bin/env bash
# Runs the STOMP interop tests (test_stomp_*.py) against RabbitMQ 3.10's STOMP and Web-STOMP plugins, the
# reference they follow: stomp_rabbitmq.py starts a private broker on free loopback ports and stands in for
# the `server` fixture; tests marked switchboard_only are skipped. Needs Debian's rabbitmq-server.
#   STOMP_RABBITMQ=<dir>  reuse a broker started with `python Tests/Interop/stomp_rabbitmq.py` (prints its dir)
#   extra arguments are passed to pytest, e.g. Tests/Interop/stomp_against_rabbitmq.sh -k ack -x
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
venv="${SWITCHBOARD_INTEROP_VENV:-$repo/.venv-interop}"
python="${PYTHON:-python3}"

if [ ! -x /usr/lib/rabbitmq/bin/rabbitmq-server ]; then
  echo "stomp_against_rabbitmq.sh: installing rabbitmq-server (Debian)" >&2
  sudo=""
  if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
  # The package would start the system's broker on the standard ports; keep it from starting.
  printf '#!/bin/sh\nexit 101\n' | $sudo tee /usr/sbin/policy-rc.d >/dev/null && $sudo chmod +x /usr/sbin/policy-rc.d
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq rabbitmq-server >/dev/null
  $sudo rm -f /usr/sbin/policy-rc.d
fi

if [ ! -x "$venv/bin/python" ]; then
  "$python" -m venv "$venv"
fi
stamp="$venv/.requirements.sha256"
want="$(sha256sum "$here/requirements.txt" | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  "$venv/bin/python" -m pip install -q --disable-pip-version-check -r "$here/requirements.txt"
  echo "$want" > "$stamp"
fi

cd "$repo"
# --noconftest: conftest.py's `server` starts a switchboard binary; stomp_rabbitmq.py provides RabbitMQ instead.
PYTHONPATH="$here${PYTHONPATH:+:$PYTHONPATH}" exec "$venv/bin/python" -m pytest -q --noconftest -p stomp_rabbitmq \
  "$here"/test_stomp_*.py "$@"
