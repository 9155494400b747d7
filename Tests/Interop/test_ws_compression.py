"""permessage-deflate (RFC 7692) on /ws: the stock `websockets` client offers it by default; the server
accepts it only when `websocket.compression` is on, always without context takeover, and then sends
large messages compressed (checked on the raw wire with Python's own zlib)."""

from __future__ import annotations

import base64
import json
import os
import socket
import struct
import zlib

import pytest
import websockets

from interop import is_message, run, unique, ws_clients

BIG = "all work and no play makes jack a dull boy " * 40


def _extensions(ws) -> str | None:
    return ws.conn.response.headers.get("Sec-WebSocket-Extensions")


def test_compression_is_not_negotiated_by_default(server):
    async def body():
        # websockets offers "permessage-deflate; client_max_window_bits" unless told not to.
        async with ws_clients(server.ws_url) as ws:
            assert _extensions(ws) is None
            assert ws.conn.protocol.extensions == []
            channel = unique("z/")
            await ws.subscribe(channel)
            await ws.publish(channel, BIG)
            assert (await ws.wait(is_message(channel)))["data"] == BIG

    run(body())


def test_compression_is_negotiated_when_enabled(make_server):
    srv = make_server({"websocket": {"compression": True}})

    async def body():
        async with ws_clients(srv.ws_url) as ws, ws_clients(srv.ws_url, compression=None) as plain:
            assert _extensions(ws) == "permessage-deflate; server_no_context_takeover; client_no_context_takeover"
            [extension] = ws.conn.protocol.extensions
            assert extension.name == "permessage-deflate"
            assert extension.remote_no_context_takeover and extension.local_no_context_takeover
            # A client that offers nothing gets nothing, on the same server.
            assert _extensions(plain) is None
            channel = unique("z/")
            await ws.subscribe(channel)
            await plain.subscribe(channel)
            # The publisher's message arrives compressed (the client inflates it) ...
            await ws.publish(channel, BIG)
            assert (await ws.wait(is_message(channel)))["data"] == BIG
            # ... and the same message reaches the client without the extension uncompressed.
            assert (await plain.wait(is_message(channel)))["data"] == BIG
            # Many messages in a row: each stands alone (no context takeover on either side).
            for n in range(20):
                await ws.publish(channel, {"n": n, "text": BIG})
            for n in range(20):
                assert (await ws.wait(is_message(channel)))["data"] == {"n": n, "text": BIG}

    run(body())


def _raw_upgrade(port: int, extensions: str, path: str = "/ws") -> tuple[socket.socket, str]:
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        (
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Extensions: {extensions}\r\n\r\n"
        ).encode()
    )
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(1)
    return sock, head.decode()


def _send_text(sock: socket.socket, text: str, compress: bool = False) -> None:
    payload = text.encode()
    first = 0x81
    if compress:
        deflater = zlib.compressobj(6, zlib.DEFLATED, -15)
        payload = deflater.compress(payload) + deflater.flush(zlib.Z_SYNC_FLUSH)
        assert payload.endswith(b"\x00\x00\xff\xff")
        payload = payload[:-4]
        first |= 0x40
    mask = os.urandom(4)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    length = len(payload)
    if length < 126:
        header = struct.pack("!BB", first, 0x80 | length)
    elif length < 65536:
        header = struct.pack("!BBH", first, 0x80 | 126, length)
    else:
        header = struct.pack("!BBQ", first, 0x80 | 127, length)
    sock.sendall(header + mask + masked)


def _read_exact(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        assert chunk, "connection closed"
        data += chunk
    return data


def _read_frame(sock: socket.socket) -> tuple[int, bytes]:
    first, second = _read_exact(sock, 2)
    length = second & 0x7F
    if length == 126:
        (length,) = struct.unpack("!H", _read_exact(sock, 2))
    elif length == 127:
        (length,) = struct.unpack("!Q", _read_exact(sock, 8))
    return first, _read_exact(sock, length)


def test_large_messages_are_compressed_on_the_wire(make_server):
    srv = make_server({"websocket": {"compression": True}})
    sock, head = _raw_upgrade(srv.port, "permessage-deflate; server_max_window_bits=10")
    try:
        assert head.startswith("HTTP/1.1 101")
        assert (
            "sec-websocket-extensions: permessage-deflate; server_no_context_takeover; "
            "client_no_context_takeover; server_max_window_bits=10" in head.lower()
        )
        channel = unique("z/")
        # A compressed request (RSV1) is inflated and answered; the short reply is sent plain.
        _send_text(sock, json.dumps({"id": 1, "type": "subscribe", "channel": channel}), compress=True)
        first, payload = _read_frame(sock)
        assert first == 0x81 and json.loads(payload)["type"] == "subscribed"
        _send_text(sock, json.dumps({"type": "publish", "channel": channel, "data": BIG}))
        first, payload = _read_frame(sock)
        # FIN + RSV1 + text, and the payload is a raw deflate stream within a 1 KiB window.
        assert first == 0xC1, hex(first)
        assert len(payload) < len(BIG) / 4
        message = zlib.decompressobj(-10).decompress(payload + b"\x00\x00\xff\xff")
        assert json.loads(message) == {"type": "message", "channel": channel, "data": BIG}
    finally:
        sock.close()


def test_rsv1_without_the_extension_closes_1002(server):
    sock, head = _raw_upgrade(server.port, "x-unknown")
    try:
        assert head.startswith("HTTP/1.1 101") and "sec-websocket-extensions" not in head.lower()
        _send_text(sock, json.dumps({"type": "ping"}), compress=True)
        first, payload = _read_frame(sock)
        assert first == 0x88 and struct.unpack("!H", payload[:2])[0] == 1002
    finally:
        sock.close()


# ----------------------------------------------------------------------------- every other endpoint
# `<protocol>.websocket_compression` turns permessage-deflate on for MQTT (/mqtt), NATS (/nats), STOMP
# (/stomp) and Socket.IO (/socket.io/): what they send of at least 128 bytes leaves compressed.

ENDPOINTS = {
    "nats": ("/nats", None),
    "mqtt": ("/mqtt", "mqtt"),
    "stomp": ("/stomp", "v12.stomp"),
    "socketio": ("/socket.io/?EIO=4&transport=websocket", None),
}


@pytest.mark.parametrize("protocol", list(ENDPOINTS))
def test_every_endpoint_negotiates_deflate_only_when_configured(make_server, protocol):
    path, subprotocol = ENDPOINTS[protocol]
    plain = make_server()
    compressed = make_server({protocol: {"websocket_compression": True}})

    async def offer(srv):
        url = f"ws://127.0.0.1:{srv.port}{path}"
        kwargs = {"subprotocols": [subprotocol]} if subprotocol else {}
        async with websockets.connect(url, **kwargs) as conn:  # websockets offers deflate by default
            return conn.response.headers.get("Sec-WebSocket-Extensions")

    assert run(offer(plain)) is None
    assert run(offer(compressed)) == "permessage-deflate; server_no_context_takeover; client_no_context_takeover"


def test_nats_over_websocket_sends_large_messages_compressed(make_server):
    srv = make_server({"nats": {"websocket_compression": True}})
    sock, head = _raw_upgrade(srv.port, "permessage-deflate", path="/nats")
    try:
        assert head.startswith("HTTP/1.1 101") and "permessage-deflate" in head.lower()
        first, info = _read_frame(sock)
        assert first == 0xC2, "the INFO line (over 128 bytes) leaves compressed, in a binary message"
        assert zlib.decompressobj(-15).decompress(info + b"\x00\x00\xff\xff").startswith(b"INFO ")
        body = BIG.encode()
        # A compressed client message (RSV1) is inflated before the NATS parser sees it.
        _send_text(sock, f"CONNECT {{}}\r\nSUB big 1\r\nPUB big {len(body)}\r\n{BIG}\r\nPING\r\n", compress=True)
        stream = b""
        while b"PONG" not in stream:
            first, payload = _read_frame(sock)
            if first & 0x40:
                assert len(payload) < len(body) / 4
                payload = zlib.decompressobj(-15).decompress(payload + b"\x00\x00\xff\xff")
            stream += payload
        assert f"MSG big 1 {len(body)}\r\n".encode() + body in stream
    finally:
        sock.close()
