"""Slow consumers on every protocol (issue 26): a subscriber that stops reading (a raw socket with a 4 KB
receive buffer, subscribed, then never read) while ~19 MB are published to its channel (1,200 messages of
16 KB, in batches of ten that a native WebSocket reader on the same channel takes as they come).
The stuck subscriber first pauses the WebSocket publisher (publisher flow control) for up to
`write_deadline` (10 s) without reading; then each protocol applies its policy — `limits.slow_consumer`
(`drop` counted, or `disconnect` counted and closed) for SSE, Socket.IO and SignalR; STOMP's `Slow consumer`
ERROR and close; MQTT drops QoS 0 past its outbound limit and keeps the connection; NATS buffers up to
`max_pending` (64 MiB) before it calls a connection behind — the server's memory stays bounded (it never
holds the flood for the stuck one), the publisher goes on, and the reader that keeps up gets every message,
in order. docs/reliability.md "Slow consumers" holds the table. Then readers at a tenth of the publish rate
(`reader_at_a_tenth`): on every protocol, behind them, the publisher is paused and they lose nothing."""

from __future__ import annotations

import base64
import os
import re
import socket
import struct
import threading
import time

import pytest

from interop import run, unique, ws_clients

# Memory, descriptors and latency measured here: run alone, after the parallel files (run.sh). A reader at a
# tenth of the rate makes its phase last about 60 times the warm-up's (`reader_at_a_tenth`), so the test's
# length follows the machine's speed: on a loaded machine it passed pytest.ini's 90 s cap (its own waits
# allow 120 s for that phase), and a cap's `os._exit` ends every test after it too.
pytestmark = [pytest.mark.serial, pytest.mark.timeout(240)]

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
    elif protocol == "ws":
        port, data = srv.port, (upgrade(b"/ws") + masked(b'{"type":"subscribe","id":1,"channel":"' + channel.encode() + b'"}'))
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


def slow_consumers(srv, protocol: str) -> int:
    line = f'switchboard_slow_consumers_total{{protocol="{protocol}"}} '
    metrics = srv.get("/metrics").text
    return int(float(next((m for m in metrics.splitlines() if m.startswith(line)), line + "0").split()[-1]))


def test_the_issue_26_trial_a_reader_keeps_up_and_only_the_stuck_subscriber_is_cut(make_server):
    """Issue 26's trial as a user ran it, bounded: one nats-py publisher at full speed sending 20,000 × 4 KB,
    one raw-socket subscriber that never reads, one nats-py subscriber that reads as fast as Python can —
    default settings (`max_pending` 64 MiB, `write_deadline_ms` 10 s). nats-server 2.9 delivers every
    message to the reader with +50 MB RSS. Before publisher flow control Switchboard cut both subscribers off
    as slow consumers and the reader got 16–42k of 65k; now the publisher is paused while a subscriber it
    feeds is behind, the reader gets every message in order, only the stuck one is cut (at the deadline),
    and the server's memory stays bounded by what `max_pending` lets it hold for the two subscribers."""
    import asyncio

    import nats

    srv = make_server({})
    subject = unique("trial")
    count, size = 20_000, 4096
    stuck = stuck_subscriber("nats", srv, subject)
    before = rss_megabytes(srv.proc.pid)
    peak = [before]

    async def body() -> list[int]:
        got: list[int] = []
        done = asyncio.Event()

        async def take(msg) -> None:
            got.append(int.from_bytes(msg.data[:4], "big"))
            if len(got) == count:
                done.set()

        reader = await nats.connect(srv.nats_url, allow_reconnect=False, max_reconnect_attempts=0)
        publisher = await nats.connect(srv.nats_url, allow_reconnect=False, pending_size=64 << 20)
        try:
            await reader.subscribe(subject, cb=take, pending_msgs_limit=count + 1, pending_bytes_limit=1 << 30)
            await reader.flush()
            deadline = time.monotonic() + 5
            while sum(r["subscribers"] for r in srv.get("/api/channels").json()["channels"]
                      if r["channel"] == subject) < 2:
                assert time.monotonic() < deadline, "the subscribers never subscribed"
                await asyncio.sleep(0.02)
            body = b"x" * (size - 4)
            for n in range(count):
                await publisher.publish(subject, n.to_bytes(4, "big") + body)
                if n % 1000 == 0:
                    peak.append(rss_megabytes(srv.proc.pid))
            await publisher.flush(timeout=60)
            while not done.is_set() and not reader.is_closed:
                peak.append(rss_megabytes(srv.proc.pid))
                try:
                    await asyncio.wait_for(done.wait(), timeout=0.25)
                except asyncio.TimeoutError:
                    pass
            return got
        finally:
            await reader.close()
            await publisher.close()

    try:
        got = run(body(), 120)
        time.sleep(1.2)  # counters reach /metrics once a second
        grew, cut = max(peak) - before, slow_consumers(srv, "nats")
        print(f"trial: reader got {len(got)} of {count}, RSS +{grew} MB, slow consumers {cut}")
        assert got == list(range(count)), f"the reader got {len(got)} of {count}"
        assert cut == 1, f"{cut} slow consumers: only the one that never reads may be cut"
        # The stuck subscriber is held at most max_pending (64 MiB) plus what arrives before its publisher's
        # pause lands; the reader keeps up.
        assert grew < 100, f"RSS grew {grew} MB"
    finally:
        stuck.close()


SEQ = re.compile(rb'seq\\?"\s*:\s*(\d+),')


class MarkerReader:
    """Reads a subscriber's socket at `rate` bytes per second (None: as fast as it can) and collects the
    `"seq":N,` markers of the messages in the byte stream, whatever the protocol's framing — every protocol
    here carries the JSON payload as is (no compression)."""

    def __init__(self, sock: socket.socket, rate: float | None = None) -> None:
        self.sock, self.rate, self.seen, self.closed = sock, rate, [], False
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self) -> None:
        self.sock.settimeout(0.2)
        start, total, pending = time.monotonic(), 0, b""
        while not self.stop.is_set():
            try:
                chunk = self.sock.recv(4096)
            except socket.timeout:
                continue
            except OSError:
                chunk = b""
            if not chunk:
                self.closed = True
                return
            total += len(chunk)
            pending += chunk
            end = 0
            for match in SEQ.finditer(pending):
                self.seen.append(int(match.group(1)))
                end = match.end()
            pending = pending[end:] if end else pending[-64:]
            if self.rate:
                ahead = total / self.rate - (time.monotonic() - start)
                if ahead > 0:
                    time.sleep(ahead)

    def close(self) -> None:
        self.stop.set()
        self.thread.join(5)
        self.sock.close()


def subscribers_on(srv, channel: str) -> int:
    return sum(r["subscribers"] for r in srv.get("/api/channels").json()["channels"] if r["channel"] == channel)


def dropped(srv, protocol: str) -> int:
    line = f'switchboard_messages_dropped_total{{protocol="{protocol}"}} '
    metrics = srv.get("/metrics").text
    return int(float(next((m for m in metrics.splitlines() if m.startswith(line)), line + "0").split()[-1]))


TENTH = ["nats", "mqtt", "stomp", "sse", "socketio", "signalr", "ws"]


def unmasked_key_frame(payload: bytes) -> bytes:
    """A client text frame with the masking key 0 (RFC 6455 §5.3 lets the client pick any key; 0 leaves the
    payload as is, so Python need not mask 12 MB byte by byte)."""
    n = len(payload)
    header = bytes([0x81, 0x80 | n]) if n < 126 else bytes([0x81, 0x80 | 126]) + struct.pack(">H", n)
    return header + b"\0\0\0\0" + payload


class Publisher:
    """A publisher on `protocol` sending `{"seq":N,"pad":…}` payloads of `size` bytes to `channel` as fast as
    it can. Raw sockets: NATS `PUB`, a native WebSocket `publish`, Socket.IO's `publish` event, a Socket.IO
    room emit (`socketio-room`: the socket joins the channel as a room, then emits `tick` events to its
    rooms, as `socket.to(room).emit` does), SignalR's `Publish` invocation — what the server sends back
    (replies, pings) is read and thrown away; Engine.IO pings are answered. `POST /api/publish` on one
    keep-alive HTTP connection (one request at a time, as an HTTP client without pipelining sends them) and
    Kafka REST produces (`kafka`: 8 records a request on one `requests` session). Stock clients on the
    polling transports: python-socketio forced to polling (`socketio-polling`: 16 `publish` calls at a
    time, which it sends in one POST), signalrcore on long polling (`signalr-polling`: one `Publish` per
    POST, each waiting for its answer)."""

    # Subscriptions the publisher itself holds on the channel (the room emitter is a member of its room).
    subscriptions = 0

    def __init__(self, protocol: str, srv, channel: str, size: int) -> None:
        self.protocol, self.channel, self.pad = protocol, channel, "x" * (size - 40)
        if protocol == "http":
            import http.client
            self.http = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=120)
            return
        if protocol == "kafka":
            import requests
            self.http = requests.Session()
            self.url = f"http://127.0.0.1:{srv.ports['kafka_rest']}/topics/{channel}"
            return
        if protocol == "signalr-polling":
            from signalr_support import CoreClient, hub_url
            self.hub = CoreClient(hub_url(srv), transport="long_polling").start()
            return
        if protocol == "socketio-polling":
            import asyncio
            import socketio
            self.loop = asyncio.new_event_loop()
            threading.Thread(target=self.loop.run_forever, daemon=True).start()
            self.client = socketio.AsyncClient(reconnection=False)
            asyncio.run_coroutine_threadsafe(
                self.client.connect(srv.http_url, transports=["polling"], wait_timeout=5), self.loop).result(10)
            return
        port = srv.nats_port if protocol == "nats" else srv.port
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.settimeout(120)
        if protocol == "nats":
            self.sock.sendall(b'CONNECT {"verbose":false}\r\n')
        elif protocol == "ws":
            self.sock.sendall(upgrade(b"/ws"))
        elif protocol == "socketio":
            self.sock.sendall(upgrade(b"/socket.io/?EIO=4&transport=websocket") + unmasked_key_frame(b"40"))
        elif protocol == "socketio-room":
            self.subscriptions = 1
            self.sock.sendall(upgrade(b"/socket.io/?EIO=4&transport=websocket") + unmasked_key_frame(b"40")
                              + unmasked_key_frame(('42["subscribe",{"channel":"%s"}]' % channel).encode()))
        elif protocol == "signalr":
            self.sock.sendall(upgrade(b"/hubs/switchboard") + unmasked_key_frame(b'{"protocol":"json","version":1}\x1e'))
        self.stop = threading.Event()
        threading.Thread(target=self.drain, daemon=True).start()

    def drain(self) -> None:
        pending = b""
        while not self.stop.is_set():
            try:
                chunk = self.sock.recv(65536)
            except OSError:
                return
            if not chunk:
                return
            if self.protocol.startswith("socketio"):
                # Engine.IO pings ("2" in a text frame) get their pong, so a long pause is no ping timeout.
                pending = (pending + chunk)[-8:]
                if b"\x81\x012" in chunk or pending.endswith(b"\x81\x012"):
                    self.sock.sendall(unmasked_key_frame(b"3"))

    def message(self, n: int) -> bytes:
        data = '{"seq":%d,"pad":"%s"}' % (n, self.pad)
        if self.protocol == "nats":
            return b"PUB %s %d\r\n%s\r\n" % (self.channel.replace("/", ".").encode(), len(data), data.encode())
        if self.protocol == "ws":
            return unmasked_key_frame(('{"type":"publish","channel":"%s","data":%s}' % (self.channel, data)).encode())
        if self.protocol == "socketio":
            return unmasked_key_frame(('42["publish",{"channel":"%s","data":%s}]' % (self.channel, data)).encode())
        if self.protocol == "socketio-room":
            return unmasked_key_frame(('42["tick",%s]' % data).encode())
        if self.protocol == "signalr":
            return unmasked_key_frame(
                ('{"type":1,"target":"Publish","arguments":["%s",%s]}\x1e' % (self.channel, data)).encode())
        raise AssertionError(self.protocol)

    def publish(self, first: int, count: int) -> None:
        if self.protocol == "http":
            for n in range(first, first + count):
                body = '{"channel":"%s","data":{"seq":%d,"pad":"%s"}}' % (self.channel, n, self.pad)
                self.http.request("POST", "/api/publish", body, {"Content-Type": "application/json"})
                response = self.http.getresponse()
                response.read()
                assert response.status == 200, response.status
            return
        if self.protocol == "kafka":
            for batch in range(first, first + count, 8):
                records = [{"value": base64.b64encode(('{"seq":%d,"pad":"%s"}' % (n, self.pad)).encode()).decode()}
                           for n in range(batch, min(batch + 8, first + count))]
                response = self.http.post(self.url, json={"records": records}, timeout=120,
                                          headers={"Content-Type": "application/vnd.kafka.binary.v2+json"})
                assert response.status_code == 200, response.text
                assert all("error_code" not in o or o["error_code"] is None for o in response.json()["offsets"])
            return
        if self.protocol == "signalr-polling":
            for n in range(first, first + count):
                self.hub.hub.send("Publish", [self.channel, {"seq": n, "pad": self.pad}])
            return
        if self.protocol == "socketio-polling":
            import asyncio

            async def publish() -> None:
                for batch in range(first, first + count, 16):
                    answers = await asyncio.gather(*(
                        self.client.call("publish", {"channel": self.channel, "data": {"seq": n, "pad": self.pad}},
                                         timeout=120)
                        for n in range(batch, min(batch + 16, first + count))))
                    assert all("error" not in a for a in answers), answers
            asyncio.run_coroutine_threadsafe(publish(), self.loop).result(600)
            return
        for batch in range(first, first + count, 16):
            self.sock.sendall(b"".join(self.message(n) for n in range(batch, min(batch + 16, first + count))))

    def close(self) -> None:
        if self.protocol in ("http", "kafka"):
            self.http.close()
        elif self.protocol == "signalr-polling":
            self.hub.stop()
        elif self.protocol == "socketio-polling":
            import asyncio
            asyncio.run_coroutine_threadsafe(self.client.disconnect(), self.loop).result(10)
            self.loop.call_soon_threadsafe(self.loop.stop)
        else:
            self.stop.set()
            self.sock.close()


def reader_at_a_tenth(srv, subscriber: str, publisher_protocol: str, slowest: float = 0) -> None:
    """A publisher on `publisher_protocol` at full speed (4 KB messages), a subscriber on `subscriber` reading
    at a tenth of the rate the publisher reached with only a normal subscriber, and that normal subscriber (a
    NATS socket read as fast as Python can): the publisher is paused while the slow reader is behind, so it
    gets every message, in order, nothing is dropped or cut, and the server's memory stays bounded. The
    reader reads no slower than `slowest` bytes a second."""
    metric = "websocket" if subscriber == "ws" else subscriber
    channel, size = unique("tenth"), 4096
    normal = stuck_subscriber("nats", srv, channel)
    fast = MarkerReader(normal)
    publisher = Publisher(publisher_protocol, srv, channel, size)

    def wait_for(reader: MarkerReader, last: int, timeout: float, idle: float | None = None) -> None:
        """Until `reader` has `last`, is closed, or got nothing new for `idle` s (at most `timeout`)."""
        deadline, seen, progress = time.monotonic() + timeout, -1, time.monotonic()
        while (not reader.seen or reader.seen[-1] < last) and not reader.closed and time.monotonic() < deadline:
            if len(reader.seen) != seen:
                seen, progress = len(reader.seen), time.monotonic()
            elif idle is not None and time.monotonic() - progress > idle:
                return
            time.sleep(0.02)

    slow = None
    try:
        deadline = time.monotonic() + 5
        while subscribers_on(srv, channel) < 1 + publisher.subscriptions:
            assert time.monotonic() < deadline, "the normal subscriber never subscribed"
            time.sleep(0.02)
        time.sleep(0.3)  # the publisher's handshake done
        # The publisher's full speed, with the normal subscriber only.
        warm = 500
        started = time.monotonic()
        publisher.publish(0, warm)
        wait_for(fast, warm - 1, 60)
        assert fast.seen == list(range(warm)), f"the normal subscriber got {len(fast.seen)} of {warm}"
        rate = warm * size / (time.monotonic() - started)

        slow = MarkerReader(stuck_subscriber(subscriber, srv, channel), rate=max(rate / 10, slowest))
        deadline = time.monotonic() + 5
        while subscribers_on(srv, channel) < 2 + publisher.subscriptions:
            assert time.monotonic() < deadline, f"the {subscriber} subscriber never subscribed"
            time.sleep(0.02)
        time.sleep(0.3)  # its subscribe answered
        before = rss_megabytes(srv.proc.pid)
        count = 3000  # 12 MB: more than any protocol's outbound limit here and the kernel's buffers hold
        thread = threading.Thread(target=publisher.publish, args=(warm, count), daemon=True)
        thread.start()
        peak = before
        while thread.is_alive():
            peak = max(peak, rss_megabytes(srv.proc.pid))
            thread.join(0.1)
        last = warm + count - 1
        wait_for(fast, last, 60)
        # At a tenth of the rate the slow phase lasts about ten times the warm-up's.
        wait_for(slow, last, 120, idle=15)
        peak = max(peak, rss_megabytes(srv.proc.pid))
        time.sleep(1.2)  # counters reach /metrics once a second
        got = [n for n in slow.seen if n >= warm]
        print(f"{publisher_protocol} -> {subscriber} (publisher alone {rate / 1e6:.2f} MB/s): "
              f"the reader at a tenth got {len(got)} of {count}, "
              f"RSS +{peak - before} MB, dropped {dropped(srv, metric)}, slow consumers {slow_consumers(srv, metric)}; "
              f"the normal subscriber got {len(fast.seen)} of {warm + count}{' and was closed' if fast.closed else ''}, "
              f"NATS slow consumers {slow_consumers(srv, 'nats')}")
        assert fast.seen == list(range(warm + count)), "the normal subscriber lost or reordered messages"
        assert got == list(range(warm, warm + count)), f"the reader at a tenth got {len(got)} of {count}"
        assert slow_consumers(srv, metric) == 0 and dropped(srv, metric) == 0
        assert slow_consumers(srv, "nats") == 0, "the normal NATS subscriber was cut off"
        # 12 MB were published. The slow reader's socket holds its soft limit plus the slack (4 MiB) its
        # paused publisher brings; what the publisher's loop routed before the pause waits in the hand-over
        # to the subscriber's loop, bounded at `LoopShard.handOverBound` (8 MiB of payload) since 2026-12-06
        # (measured before it: STOMP up to +63 MB, native WebSocket +73 MB; docs/reliability.md).
        assert peak - before < 80, f"RSS grew {peak - before} MB"
    finally:
        fast.close()
        if slow is not None:
            slow.close()
        publisher.close()


@pytest.mark.parametrize("protocol", TENTH)
def test_a_reader_at_a_tenth_of_the_publish_rate(make_server, protocol):
    """A raw-socket NATS publisher at full speed and a subscriber on `protocol` reading at a tenth of its
    rate (`reader_at_a_tenth`): every protocol's subscribers pause the publishers feeding them while they
    are behind, so under `limits.slow_consumer` `drop` (and `nats.max_pending` 4 MiB) nothing is dropped."""
    srv = make_server({"limits": {"slow_consumer": "drop"}, "nats": {"max_pending": 4 << 20}})
    reader_at_a_tenth(srv, protocol, "nats")


@pytest.mark.parametrize("publisher", ["ws", "http", "socketio", "signalr", "socketio-room", "socketio-polling",
                                       "signalr-polling", "kafka"])
def test_a_publisher_is_paused_for_a_reader_at_a_tenth(make_server, publisher):
    """The same with the publisher on `publisher` and the slow reader a NATS socket: a native WebSocket,
    Socket.IO (its `publish` event or its room emits) or SignalR publisher stops being read while the reader
    is behind; an HTTP publisher's next `POST /api/publish`, or Kafka REST produce, waits unread on its
    keep-alive connection; a polling client's POST (Socket.IO's Engine.IO polling, SignalR's long polling)
    is answered only once the reader has caught up, and the client sends its next only then."""
    srv = make_server({"limits": {"slow_consumer": "drop"}, "nats": {"max_pending": 4 << 20}})
    # signalrcore opens a connection per POST and reaches ~0.9 MB/s: a tenth of it (~90 KB/s) drains the
    # reader's kernel send queue (autotuned to MBs) so slowly that the socket takes about the write deadline
    # (10 s) to accept more, and the server, which sees progress only as its own buffer shrinking, cuts the
    # reader for making none (docs/reliability.md). That reader reads at 250 KB/s, still a quarter of the rate.
    reader_at_a_tenth(srv, "nats", publisher, slowest=250_000 if publisher == "signalr-polling" else 0)
