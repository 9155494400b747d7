"""Issue 8: connection limits per IP and connect rate, each refused in the protocol's own way and
counted in /metrics: HTTP 429 (503 when full), MQTT CONNACK 0x97 / 0x9F (3.1.1: 3), NATS
-ERR 'maximum connections exceeded'."""

from __future__ import annotations

import asyncio
import socket
import time

import pytest
from websockets.exceptions import InvalidStatus

from interop import open_ws, run
from mqtt_client import Raw, connect_packet


def nats_first_lines(port: int) -> list[str]:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        reader = sock.makefile("rb")
        return [reader.readline().decode().strip(), reader.readline().decode().strip()]


def mqtt_connack(port: int, version: int) -> bytes:
    raw = Raw(port)
    raw.send(connect_packet(f"limit-{time.monotonic_ns()}", version=version))
    return raw.expect(2)


def test_per_ip_limit_across_protocols(make_server):
    srv = make_server({"limits": {"max_connections_per_ip": 2}})
    srv.wait_no_connections()

    async def body():
        first = await open_ws(srv.ws_url)
        second = await open_ws(srv.ws_url)
        # A WebSocket is admitted when its handler joins the pipeline, just after the 101 has gone out:
        # wait until both hold their slots, or under load the third upgrade can race them.
        for _ in range(100):
            listed = srv.session.get(srv.http_url + "/api/connections", timeout=5).json()["connections"]
            if len(listed) >= 2:
                break
            await asyncio.sleep(0.02)
        try:
            with pytest.raises(InvalidStatus) as info:
                await (await open_ws(srv.ws_url)).close()
            assert info.value.response.status_code == 429
            r = srv.session.get(srv.http_url + "/poll?channel=a&timeout=0", timeout=5)
            assert r.status_code == 429 and r.json()["error"]["code"] == "rate_limited"
            assert mqtt_connack(srv.mqtt_port, 5)[1] == 0x97
            assert mqtt_connack(srv.mqtt_port, 4) == b"\x00\x03"
            lines = nats_first_lines(srv.nats_port)
            assert lines[0].startswith("INFO ") and lines[1] == "-ERR 'maximum connections exceeded'", lines
        finally:
            await first.close()
            await second.close()

    run(body())
    metrics = srv.session.get(srv.http_url + "/metrics", timeout=5).text
    assert 'switchboard_connection_limit_refusals_total{limit="max_connections_per_ip"}' in metrics


def test_connect_rate_limit(make_server):
    srv = make_server({"limits": {"max_connects_per_second": 3}})
    time.sleep(1.2)  # the start-up health checks used some of the bucket
    codes = [mqtt_connack(srv.mqtt_port, 5)[1] for _ in range(6)]
    assert codes[:3] == [0, 0, 0] and 0x9F in codes[3:], codes
    time.sleep(1.2)
    assert mqtt_connack(srv.mqtt_port, 5)[1] == 0
    metrics = srv.session.get(srv.http_url + "/metrics", timeout=5).text
    assert 'switchboard_connection_limit_refusals_total{limit="max_connects_per_second"}' in metrics
