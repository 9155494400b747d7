#!/usr/bin/env bash
# Autobahn|Testsuite (fuzzing client) against the server's WebSocket layer, through the echo endpoint
# that shares every piece of /ws's plumbing (upgrader, frame validator/assembler, frame writer, close
# rules). Installs the suite under pyenv's Python 2.7 into .venv-autobahn on first use.
#   SWITCHBOARD_BIN   server binary (default <repo>/.build/debug/switchboard)
#   AUTOBAHN_TIMEOUT  seconds the whole run may take (default 2700; the full run on a debug build: see
#                     docs/protocols/websocket.md)
#   AUTOBAHN_CASES    case filter, JSON list (default: every case, 1.* to 13.*, compression included)
#   AUTOBAHN_EXCLUDE  cases to leave out, JSON list (default: none; e.g. '["9.*"]' to skip the
#                     performance cases, 16 MiB messages that take most of the run on a debug build)
# Prints "Autobahn: N passed, M failed" and exits non-zero on any FAILED or UNIMPLEMENTED case.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
venv="$repo/.venv-autobahn"
bin="${SWITCHBOARD_BIN:-$repo/.build/debug/switchboard}"

python27=""
for candidate in "${PYENV_ROOT:-$HOME/.pyenv}/versions/2.7.18/bin/python" "$(command -v python2.7 || true)"; do
  if [ -n "$candidate" ] && [ -x "$candidate" ]; then python27="$candidate"; break; fi
done
if [ -z "$python27" ]; then echo "autobahn.sh: Python 2.7 not found (pyenv 2.7.18 expected)" >&2; exit 2; fi

if [ ! -x "$venv/bin/wstest" ]; then
  # virtualenv 20.21.1 is the last release that can create Python 2.7 environments; it runs on Python 3.
  tools="$repo/.venv-autobahn-tools"
  [ -x "$tools/bin/virtualenv" ] || { python3 -m venv "$tools" && "$tools/bin/pip" install -q --disable-pip-version-check "virtualenv==20.21.1"; }
  "$tools/bin/virtualenv" -q -p "$python27" "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check "autobahntestsuite==25.10.1"
fi

work="$(mktemp -d)"
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
# Only the HTTP port: every frontend with a port of its own (MQTT, NATS, AMQP, STOMP, …) is turned off,
# so the run never takes a protocol's standard port from another server on the machine.
frontend_ports=()
for name in $("$bin" settings | sed -n 's/^| `\([a-z_]*\)\.port` .*/\1/p'); do frontend_ports+=(--port "$name=off"); done
"$bin" serve --host 127.0.0.1 --http-port "$port" "${frontend_ports[@]}" --data-dir "$work/data" --ws-echo-path /echo \
  --log-level warning > "$work/server.log" 2>&1 &
server=$!
trap 'kill -TERM $server 2>/dev/null || true; wait $server 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 1 100); do
  curl -fs "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
  sleep 0.1
done

cases="${AUTOBAHN_CASES:-[\"*\"]}"
cat > "$work/spec.json" <<JSON
{
  "outdir": "$work/report",
  "servers": [{"agent": "switchboard", "url": "ws://127.0.0.1:$port/echo"}],
  "cases": $cases,
  "exclude-cases": ${AUTOBAHN_EXCLUDE:-[]},
  "exclude-agent-cases": {}
}
JSON
(cd "$work" && timeout "${AUTOBAHN_TIMEOUT:-2700}" "$venv/bin/wstest" -m fuzzingclient -s spec.json > "$work/wstest.log" 2>&1) || {
  echo "autobahn.sh: wstest failed; log tail:" >&2; tail -20 "$work/wstest.log" >&2; exit 1; }

python3 - "$work/report/index.json" <<'PY'
import json, sys
results = json.load(open(sys.argv[1]))["switchboard"]
by = {}
for case, result in results.items():
    by.setdefault(result["behavior"], []).append(case)
    if result.get("behaviorClose") not in ("OK", "INFORMATIONAL", "UNIMPLEMENTED", None):
        by.setdefault("close " + result["behaviorClose"], []).append(case)
key = lambda c: [int(p) for p in c.split(".")]
for behavior in sorted(by):
    cases = sorted(by[behavior], key=key)
    print(f"  {behavior:18} {len(cases):4}" + (f"  {', '.join(cases[:12])}{' …' if len(cases) > 12 else ''}" if behavior not in ("OK",) else ""))
# Passing: OK, NON-STRICT, INFORMATIONAL. UNIMPLEMENTED fails too: every case of 1-13 is implemented.
failed = sum(len(cases) for behavior, cases in by.items() if behavior in ("FAILED", "UNIMPLEMENTED", "WRONG CODE"))
passed = len(results) - failed
print(f"Autobahn: {passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
PY
