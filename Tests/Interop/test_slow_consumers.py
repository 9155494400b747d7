"""Slow consumers on every protocol (issue 26): a subscriber that stops reading (a raw socket with a 4 KB
receive buffer, subscribed, then never read) while ~19 MB are published to its channel (1,200 messages of
16 KB, in batches of ten that a native WebSocket reader on the same channel takes as they come).
Each protocol applies its policy — `limits.slow_consumer` (`drop` counted, or `disconnect` counted and
closed) for SSE, Socket.IO and SignalR; STOMP's `Slow consumer` ERROR and close; MQTT drops QoS 0 past
its outbound limit and keeps the connection; NATS buffers up to `max_pending` (64 MiB) before it calls a
connection behind — the server's memory stays bounded (it never holds the flood for the stuck one), and the
reader that keeps up gets every message, in order. docs/reliability.md "Slow consumers" holds the table."""

from __future__ import annotations

import base64
import os
import socket
import struct
import time

import pytest

from interop import run, unique, ws_clients

MESSAGES, SIZE, BATCH = 1200, 16_000, 10


def rss_megabytes(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS"):
                return int(line.split()[1]) // 1024
    raise AssertionError("no VmRSS")


def masked(payload: bytes) -> bytes:
    mask, n = b"\x01\x02\x03\x04", len(payload)
    header = bytes([0x81, 0x80 | n]) if n < 126 else bytes([0x81, 0x80 | 126]) + struct.pack(">H", n)
    return header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def upgrade(path: bytes) -> bytes:
    key = base64.b64encode(os.urandom(16))
    return (b"GET " + path + b" HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Key: " + key + b"\r\nSec-WebSocket-Version: 13\r\n\r\n")


def stuck_subscriber(protocol: str, srv, channel: str) -> socket.socket:
    """Subscribes `channel` over `protocol` and never reads again."""
    if protocol == "mqtt":
        topic = channel.encode()
        subscribe = struct.pack(">HH", 1, len(topic)) + topic + b"\x00"
        port, data = srv.mqtt_port, b"\x10\x0c\x00\x04MQTT\x04\x02\x00\x3c\x00\x00" + bytes([0x82, len(subscribe)]) + subscribe
    elif protocol == "stomp":
        port, data = srv.stomp_port, (b"CONNECT\naccept-version:1.2\nhost:/\n\n\x00SUBSCRIBE\ndestination:/topic/"
                                       + channel.replace("/", ".").encode() + b"\nid:1\n\n\x00")
    elif protocol == "sse":
        port, data = srv.port, b"GET /sse?channel=" + channel.replace("/", "%2F").encode() + b" HTTP/1.1\r\nHost: x\r\n\r\n"
    elif protocol == "socketio":
        port, data = srv.port, (upgrade(b"/socket.io/?EIO=4&transport=websocket") + masked(b"40")
                                + masked(b'42["subscribe",{"channel":"' + channel.encode() + b'"}]'))
    elif protocol == "signalr":
        port, data = srv.port, (upgrade(b"/hubs/switchboard") + masked(b'{"protocol":"json","version":1}\x1e')
                                + masked(b'{"type":1,"target":"Subscribe","arguments":["' + channel.encode() + b'"]}\x1e'))
    else:
        port, data = srv.nats_port, b'CONNECT {"verbose":false}\r\nSUB ' + channel.replace("/", ".").encode() + b" 1\r\n"
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", port))
    sock.sendall(data)
    return sock


# (protocol, limits.slow_consumer, the stuck subscriber is closed, counted in switchboard_slow_consumers_total)
CASES = [
    ("mqtt", "drop", False, False), ("mqtt", "disconnect", False, False),
    ("stomp", "drop", True, True), ("stomp", "disconnect", True, True),
    ("sse", "drop", False, False), ("sse", "disconnect", True, True),
    ("socketio", "drop", False, False), ("socketio", "disconnect", True, True),
    ("signalr", "drop", False, False), ("signalr", "disconnect", True, True),
    ("nats", "drop", False, False),
]


@pytest.mark.parametrize("protocol,policy,closed,counted", CASES, ids=[f"{c[0]}-{c[1]}" for c in CASES])
def test_a_stuck_subscriber_costs_bounded_memory_and_harms_no_reader(make_server, protocol, policy, closed, counted):
    srv = make_server({"limits": {"slow_consumer": policy}})
    channel = f"news/{unique()}"
    stuck = stuck_subscriber(protocol, srv, channel)

    def protocols() -> list[str]:
        return [c["protocol"] for c in srv.get("/api/connections").json()["connections"]]

    deadline = time.monotonic() + 5
    while protocol not in protocols():
        assert time.monotonic() < deadline, f"the {protocol} subscriber never connected"
        time.sleep(0.05)
    time.sleep(0.5)  # its subscribe taken
    before = rss_megabytes(srv.proc.pid)

    async def body() -> list[int]:
        got: list[int] = []
        async with ws_clients(srv.ws_url, compression=None) as reader, ws_clients(srv.ws_url, compression=None) as pub:
            await reader.subscribe(channel)
            blob = "z" * SIZE
            for first in range(0, MESSAGES, BATCH):
                for i in range(first, first + BATCH):
                    await pub.send({"id": i + 1, "type": "publish", "channel": channel, "data": {"i": i, "blob": blob}})
                got += [m["data"]["i"] for m in await reader.messages(channel, BATCH, timeout=20)]
        return got

    try:
        got = run(body(), 240)
        grew = rss_megabytes(srv.proc.pid) - before
        assert got == list(range(MESSAGES)), "the reader that keeps up lost or reordered messages"
        # ~19 MB went to the stuck subscriber's channel; NATS may hold max_pending (64 MiB) for it.
        assert grew < (40 if protocol == "nats" else 12), f"RSS grew {grew} MB for a {MESSAGES * SIZE >> 20} MB flood"
        deadline = time.monotonic() + 5
        while closed and protocol in protocols():
            assert time.monotonic() < deadline, f"the stuck {protocol} subscriber is still connected"
            time.sleep(0.2)
        if not closed:
            assert protocol in protocols(), f"the stuck {protocol} subscriber was closed under {policy}"
        metrics = srv.get("/metrics").text
        line = f'switchboard_slow_consumers_total{{protocol="{protocol}"}} '
        count = int(float(next(m for m in metrics.splitlines() if m.startswith(line)).split()[-1]))
        assert (count >= 1) == counted, (protocol, policy, count)
    finally:
        stuck.close()
