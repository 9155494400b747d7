"""WebSocket /ws: keepalive pings, pong timeout, slow consumers."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
import struct
import time

from interop import open_ws, run, unique, ws_clients


def test_keepalive_pings_answered_by_client_keep_connection(make_server):
    srv = make_server({"limits": {"ping_interval_seconds": 1, "pong_timeout_seconds": 1}})

    async def body():
        # the stock client answers WS pings itself; disable its own pings
        async with ws_clients(srv.ws_url, ping_interval=None) as ws:
            c = await ws.expect({"type": "connect"}, "connected")
            assert c["ping"] == 1, c
            await asyncio.sleep(3.5)
            assert not ws.closed, (ws.close_code, ws.close_reason)
            assert (await ws.request({"type": "ping"}))["type"] == "pong"

    run(body())


def _read_exact(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise EOFError
        buf += chunk
    return buf


def _read_frame(sock):
    b0, b1 = _read_exact(sock, 2)
    opcode = b0 & 0x0F
    length = b1 & 0x7F
    if length == 126:
        (length,) = struct.unpack("!H", _read_exact(sock, 2))
    elif length == 127:
        (length,) = struct.unpack("!Q", _read_exact(sock, 8))
    if b1 & 0x80:
        _read_exact(sock, 4)
    return opcode, _read_exact(sock, length)


def test_client_that_never_answers_pings_is_closed(make_server):
    """A raw client that never sends pong: the server pings within
    ping_interval and drops the connection after pong_timeout."""
    srv = make_server({"limits": {"ping_interval_seconds": 1, "pong_timeout_seconds": 1}})
    sock = socket.create_connection(("127.0.0.1", srv.port), timeout=8)
    try:
        key = base64.b64encode(os.urandom(16)).decode()
        sock.sendall(
            (
                f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{srv.port}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = sock.recv(1)
            assert chunk, f"EOF during handshake: {head!r}"
            head += chunk
        assert head.startswith(b"HTTP/1.1 101"), head
        t0 = time.monotonic()
        saw_ping_at = None
        close = None
        try:
            while time.monotonic() - t0 < 8:
                opcode, payload = _read_frame(sock)
                if opcode == 0x9 and saw_ping_at is None:
                    saw_ping_at = time.monotonic() - t0
                if opcode == 0x8:
                    close = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None
                    break
        except (EOFError, ConnectionResetError):
            close = "EOF"
        except socket.timeout:
            close = None
        elapsed = time.monotonic() - t0
        assert saw_ping_at is not None and saw_ping_at < 2.5, f"no WS ping within 2.5s (first at {saw_ping_at})"
        assert close is not None, f"connection still open after {elapsed:.1f}s without pongs"
        assert elapsed < 6, f"closed only after {elapsed:.1f}s (interval 1s + timeout 1s)"
        print(f"closed after {elapsed:.2f}s with {close}")
        if close != "EOF":
            assert close in (1001, 1008, 1011), f"close code {close}"
    finally:
        sock.close()


def _small_rcvbuf_socket(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect(("127.0.0.1", port))
    s.setblocking(False)
    return s


async def _flood(srv, ch, count, size):
    """Pipeline `count` publishes of `size` bytes from one WS publisher."""
    async with ws_clients(srv.ws_url, compression=None) as pub:
        blob = "z" * size
        for i in range(count):
            await pub.send({"id": i + 1, "type": "publish", "channel": ch, "data": {"i": i, "blob": blob}})
        await pub.wait(lambda f: f.get("id") == count, 30, "last published reply")
        errors = [f for f in pub.pending() if f.get("type") == "error"]
        assert not errors, errors[:3]


async def _connection_ids(srv):
    r = await srv.ahttp("GET", "/api/connections")
    assert r.status_code == 200, r.text
    return {c["id"] for c in r.json()["connections"]}


def test_slow_consumer_disconnect(make_server):
    srv = make_server({"limits": {"max_outbound_bytes": 65536, "slow_consumer": "disconnect"}})
    ch = f"news/{unique()}"

    async def body():
        # a client that stops reading: tiny kernel buffer, tiny library queue
        sock = _small_rcvbuf_socket(srv.port)
        slow = await open_ws(f"ws://127.0.0.1:{srv.port}/ws", sock=sock, max_queue=2, ping_interval=None,
                             compression=None)
        try:
            me = (await slow.expect({"type": "connect"}, "connected"))["client"]
            await slow.subscribe(ch)
            slow.reader.cancel()  # stop reading from now on
            await asyncio.gather(slow.reader, return_exceptions=True)

            await _flood(srv, ch, 300, 30_000)  # ~9 MB, far over every buffer

            deadline = time.monotonic() + 15
            while me in await _connection_ids(srv):
                assert time.monotonic() < deadline, "slow consumer still connected 15s after the flood"
                await asyncio.sleep(0.2)

            # Drain what reached us. The client was given up on after `write_deadline` (10 s) without reading,
            # its publisher paused meanwhile (publisher flow control), with more queued for it than the kernel
            # holds: the close frame 1008 "slow consumer" is queued behind that and the socket closes after
            # the close grace period (2 s) whether or not it was read — a client that reads nothing cannot
            # get it in time, and sees the connection drop (1006). Either way the server counted it.
            received = 0
            try:
                while True:
                    await asyncio.wait_for(slow.conn.recv(), 10)
                    received += 1
            except Exception:
                pass
            assert slow.conn.close_code in (1008, 1006), (
                f"close code {slow.conn.close_code} reason {slow.conn.close_reason!r} after {received} messages"
            )
            if slow.conn.close_code == 1008:
                assert slow.conn.close_reason.startswith("slow consumer"), slow.conn.close_reason
            assert received < 300
            metrics = (await srv.ahttp("GET", "/metrics")).text
            line = 'switchboard_slow_consumers_total{protocol="websocket"} '
            assert float(next(m for m in metrics.splitlines() if m.startswith(line)).split()[-1]) >= 1, metrics
        finally:
            await slow.close()

    run(body(), timeout=60)


def test_slow_consumer_drop_keeps_connection(make_server):
    srv = make_server({"limits": {"max_outbound_bytes": 65536, "slow_consumer": "drop"}})
    ch = f"news/{unique()}"

    async def body():
        sock = _small_rcvbuf_socket(srv.port)
        slow = await open_ws(f"ws://127.0.0.1:{srv.port}/ws", sock=sock, max_queue=2, ping_interval=None,
                             compression=None)
        try:
            me = (await slow.expect({"type": "connect"}, "connected"))["client"]
            await slow.subscribe(ch)
            slow.reader.cancel()
            await asyncio.gather(slow.reader, return_exceptions=True)

            await _flood(srv, ch, 300, 30_000)
            await asyncio.sleep(1)
            assert me in await _connection_ids(srv), "drop policy must not disconnect"

            seen = []
            while True:
                try:
                    raw = await asyncio.wait_for(slow.conn.recv(), 2)
                except TimeoutError:
                    break
                f = json.loads(raw)
                if f.get("type") == "message":
                    seen.append(f["data"]["i"])
            assert 0 < len(seen) < 300, f"received {len(seen)} of 300 (drop policy must drop, bounded buffer)"
            assert seen == sorted(seen), "delivered messages out of order"
            # still usable
            await slow.conn.send(json.dumps({"id": 4242, "type": "ping"}))
            while True:
                f = json.loads(await asyncio.wait_for(slow.conn.recv(), 5))
                if f.get("type") != "message":
                    break
            assert f == {"id": 4242, "type": "pong"}, f
        finally:
            await slow.close()

    run(body(), timeout=60)
