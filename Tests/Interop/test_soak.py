"""Soak and churn, CI size (issue 26; docs/reliability.md "Soak and churn"). scripts/soak.py does the work
(scripts/reliability runs it long: 18,000 connections churning and 10,000 subscribers, ten minutes each):
- churn: ~1,000 connections across native WebSocket, SSE, MQTT, NATS, STOMP and AMQP opening, subscribing
  and closing for 20 s: the server's descriptors come back to their baseline and its RSS to within 5 %.
- fan-out: 1,000 subscribers (NATS, MQTT, native WebSocket) each sent one message a second for 20 s:
  nothing lost, under 1 MB of server RSS per connection, p99 latency under 1 s here — the debug build on a
  machine shared with builds measured 73 ms for 200 subscribers and 295 ms for 1,000 (the Python clients'
  reading included); the 100 ms bar is scripts/reliability's, on a release build."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

# Memory, descriptors and latency measured here: run alone, after the parallel files (run.sh).
pytestmark = pytest.mark.serial

SOAK = Path(__file__).resolve().parents[2] / "scripts" / "soak.py"


def run(mode: str, connections: int, seconds: int, *extra: str) -> dict:
    done = subprocess.run(
        [sys.executable, str(SOAK), mode, "--connections", str(connections), "--seconds", str(seconds), *extra],
        capture_output=True, text=True, timeout=seconds + 240,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    assert lines, (done.returncode, done.stdout[-2000:], done.stderr[-2000:])
    result = json.loads(lines[-1])
    print(json.dumps(result))
    return result


def test_connections_churning_across_protocols_leak_no_descriptor_and_no_memory():
    result = run("churn", 1000, 20)
    assert result["server_alive"], result
    assert result["opened"] > 1000 and result["failed"] <= result["opened"] * 0.001, result
    assert result["fds"]["after"] <= result["fds"]["baseline"], result
    assert abs(result["rss_change_percent"]) <= 5, result
    assert result["ok"], result


def test_a_thousand_subscribers_each_get_every_message_at_under_1_mb_each():
    result = run("fanout", 1000, 20, "--p99-bar-ms", "1000")
    assert result["server_alive"] and result["subscribed"] == 1000, result
    assert result["lost"] == 0, result
    assert 0 <= result["latency_ms"]["p99"] < 1000, result
    assert result["rss_bytes_per_connection"] < 1 << 20, result
    assert result["ok"], result
