"""Hostile input, table-driven, over raw sockets against the real binary (issue 26): for every protocol,
truncated or oversized frames, bad varints, invalid UTF-8 where text is required, packets out of order,
slowloris headers and floods get the protocol's specified answer (the bytes the spec prescribes, then a
close) within a bounded time — while two bystander NATS connections (one per event loop of the two the
server runs on this machine) keep answering PING within a bounded latency, measured during each attack.

The measured figures (answer time, bystander p99 per case) are printed with `-s`, and the table is in
docs/reliability.md."""

from __future__ import annotations

import base64
import os
import socket
import struct
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

import pytest

# Memory, descriptors and latency measured here: run alone, after the parallel files (run.sh).
pytestmark = pytest.mark.serial

# Bystander p99 bound during an attack. Generous: the interop files run in parallel on a 2-core machine,
# and the point is "not stalled behind the attacker" (a blocked loop shows as seconds), not a benchmark.
BYSTANDER_P99_SECONDS = 0.5


def _ws_upgrade() -> bytes:
    key = base64.b64encode(os.urandom(16))
    return (b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + key
            + b"\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: switchboard.v1\r\n\r\n")


def _masked(payload: bytes, opcode: int = 0x81) -> bytes:
    mask = b"\x01\x02\x03\x04"
    length = len(payload)
    header = bytes([opcode]) + (bytes([0x80 | length]) if length < 126 else bytes([0x80 | 126]) + struct.pack(">H", length))
    return header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def _ws_close(code: int) -> Callable[[bytes], bool]:
    """A close frame (0x88) carrying `code`."""
    return lambda data: b"\x88" in data and struct.pack(">H", code) in data


def _contains(*needles: bytes) -> Callable[[bytes], bool]:
    return lambda data: all(n in data for n in needles)


def _nothing(data: bytes) -> bool:
    return True


@dataclass
class Case:
    name: str
    port: str  # "http" or a frontend's name
    payload: bytes
    answer: Callable[[bytes], bool]
    preamble: bytes = b""
    closes: bool = True
    within: float = 5.0
    config: dict = field(default_factory=dict)
    trickle: float = 0.0  # seconds between payload lines (slowloris), or between chunks
    chunk: int = 0  # with trickle: the payload is written in writes of this many bytes, not by lines


NATS_HELLO = b'CONNECT {"verbose":false}\r\n'
AMQP_HEADER = b"AMQP\x00\x00\x09\x01"
STOMP_CONNECT = b"CONNECT\naccept-version:1.2\nhost:/\n\n\x00"

MQTT_CONNECT = b"\x10\x0c\x00\x04MQTT\x04\x02\x00\x3c\x00\x00"  # 3.1.1, clean session, empty client id


def _mqtt_subscribe(packet_id: int, topic: bytes) -> bytes:
    body = struct.pack(">HH", packet_id, len(topic)) + topic + b"\x00"
    return bytes([0x82, len(body)]) + body


CASES = [
    # NATS (nats-server's -ERR texts, then close)
    Case("nats: control line past max_control_line", "nats", b"PUB " + b"a" * 5000 + b" 1\r\n",
         _contains(b"-ERR 'Maximum Control Line Exceeded'")),
    Case("nats: payload past max_payload", "nats", NATS_HELLO + b"PUB a 2000000\r\n",
         _contains(b"-ERR 'Maximum Payload Violation'")),
    Case("nats: unknown operation", "nats", b"FOO bar\r\n", _contains(b"-ERR 'Unknown Protocol Operation'")),
    Case("nats: SUB without its arguments", "nats", NATS_HELLO + b"SUB\r\n",
         _contains(b"-ERR 'Unknown Protocol Operation")),
    # 5,000 SUBs take ~0.25 s of a debug build's loop: a read runs on its loop for at most a slice
    # (FrontendKit's ReadBudget, 10 ms), then yields to the loop's other connections until its next turn.
    Case("nats: 5,000 SUBs in one write, then PING", "nats",
         NATS_HELLO + b"".join(b"SUB flood.%d %d\r\n" % (i, i) for i in range(5000)) + b"PING\r\n",
         _contains(b"PONG\r\n"), closes=False, within=10),
    # The same for MQTT: 5,000 SUBSCRIBEs after CONNECT, then PINGREQ; the PINGRESP comes after 5,000 SUBACKs.
    Case("mqtt: 5,000 SUBSCRIBEs in one write, then PINGREQ", "mqtt",
         MQTT_CONNECT + b"".join(_mqtt_subscribe(i + 1, b"flood/%d" % i) for i in range(5000)) + b"\xc0\x00",
         lambda data: len(data) >= 4 + 5000 * 5 + 2 and data.endswith(b"\xd0\x00"), closes=False, within=10),
    # MQTT ([MQTT-4.8.0-1]: a malformed packet closes the network connection)
    Case("mqtt: remaining length varint of five bytes", "mqtt", b"\x10\xff\xff\xff\xff\x7f", _nothing),
    Case("mqtt: remaining length past the maximum packet size", "mqtt", b"\x10\xff\xff\xff\x7f", _nothing),
    Case("mqtt: unknown protocol name", "mqtt", b"\x10\x0c\x00\x04MQXX\x04\x02\x00\x3c\x00\x00", _nothing),
    Case("mqtt: first packet is not CONNECT", "mqtt", b"\x30\x05\x00\x01a\x00\x00", _nothing),
    Case("mqtt 3.1.1: client id not UTF-8", "mqtt",
         b"\x10\x10\x00\x04MQTT\x04\x02\x00\x3c\x00\x04\xff\xfe\xfd\xfc", _nothing),
    Case("mqtt 5: malformed property", "mqtt", b"\x10\x11\x00\x04MQTT\x05\x02\x00\x3c\x02\xff\x00\x00\x04abcd",
         _nothing),
    Case("mqtt: truncated CONNECT, then silence", "mqtt", b"\x10\x0c\x00\x04MQ", _nothing, within=15,
         config={"mqtt": {"connect_timeout_seconds": 2}}),
    # AMQP 0-9-1 (§4.2.2: a bad protocol header gets ours, then close; §4.2.3: frame errors are 501)
    Case("amqp: AMQP 1.0 protocol header", "amqp", b"AMQP\x00\x01\x00\x00", _contains(AMQP_HEADER)),
    Case("amqp: HTTP on the AMQP port", "amqp", b"GET / HTTP/1.1\r\n\r\n", _contains(AMQP_HEADER)),
    Case("amqp: frame larger than the negotiated maximum", "amqp", b"\x01\x00\x00\xff\xff\xff\xff",
         _contains(b"FRAME_ERROR", b"\x01\xf5"), preamble=AMQP_HEADER, within=10),
    # STOMP 1.2 (ERROR with a message header, then close)
    Case("stomp: 5,000 SUBSCRIBEs in one write, then a receipt", "stomp",
         STOMP_CONNECT + b"".join(b"SUBSCRIBE\ndestination:/topic/flood.%d\nid:%d\n\n\x00" % (i, i) for i in range(5000))
         + b"DISCONNECT\nreceipt:77\n\n\x00", _contains(b"receipt-id:77"), closes=False, within=10),
    Case("stomp: unknown command", "stomp", b"HELLO\n\n\x00", _contains(b"ERROR\n", b"message:Invalid frame")),
    Case("stomp: headers past stomp.max_header_bytes", "stomp", b"CONNECT\nh:" + b"x" * 200000 + b"\n\n\x00",
         _contains(b"ERROR\n", b"message:Frame too large")),
    # A body without content-length ends at its NUL: one arriving in many reads is looked through once,
    # not once per read (8 MB in 8 KB writes took 4.3 s of a loop's time in a debug build when it was).
    Case("stomp: an 8 MB body without content-length in 8 KB writes, then a receipt", "stomp",
         STOMP_CONNECT + b"SEND\ndestination:/topic/big\nreceipt:88\n\n" + b"y" * (8 << 20) + b"\x00",
         _contains(b"receipt-id:88"), closes=False, within=20, trickle=0.0005, chunk=8192),
    Case("stomp: content-length past the body limit", "stomp",
         STOMP_CONNECT + b"SEND\ndestination:/topic/a\ncontent-length:99999999999\n\n",
         _contains(b"ERROR\n", b"message:Frame too large")),
    # WebSocket (RFC 6455 close codes)
    Case("websocket: 2^62-byte frame length", "http", b"\x82\xff\x40\x00\x00\x00\x00\x00\x00\x00\x01\x02\x03\x04",
         _ws_close(1009), preamble=_ws_upgrade()),
    Case("websocket: unmasked client frame", "http", b"\x81\x02hi", _ws_close(1002), preamble=_ws_upgrade()),
    Case("websocket: text frame not UTF-8", "http", _masked(b"\xff\xfe\xfd"), _ws_close(1007),
         preamble=_ws_upgrade()),
    Case("websocket: JSON that does not parse", "http", _masked(b"{not json"),
         _contains(b'"code":"bad_request"'), preamble=_ws_upgrade(), closes=False, within=2),
    # HTTP/1.1
    Case("http: request line that does not parse", "http", b"GARBAGE\r\n\r\n", _contains(b"HTTP/1.1 400")),
    Case("http: 100 KB header", "http", b"GET / HTTP/1.1\r\nX: " + b"x" * 100000 + b"\r\n\r\n",
         _contains(b"HTTP/1.1 400")),
    Case("http: slowloris (a header line every 0.5 s)", "http", b"GET / HTTP/1.1\r\n" + b"X-A: b\r\n" * 30,
         _nothing, trickle=0.5, within=10, config={"limits": {"http_request_timeout_seconds": 2}}),
]


class Bystander:
    """NATS PING/PONG round trips on a connection of its own, in a thread, with their latencies."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.settimeout(5)
        self.sock.recv(4096)  # INFO
        self.sock.sendall(NATS_HELLO)
        self.samples: list[float] = []
        self.errors: list[str] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stop.is_set():
            start = time.monotonic()
            try:
                self.sock.sendall(b"PING\r\n")
                data = b""
                while b"PONG\r\n" not in data:
                    chunk = self.sock.recv(4096)
                    if not chunk:
                        raise ConnectionError("closed")
                    data += chunk
            except OSError as error:
                self.errors.append(repr(error))
                return
            self.samples.append(time.monotonic() - start)
            time.sleep(0.005)

    def window(self) -> int:
        return len(self.samples)

    def p99_since(self, mark: int) -> float:
        samples = sorted(self.samples[mark:])
        return samples[min(len(samples) - 1, int(len(samples) * 0.99))] if samples else float("inf")

    def close(self) -> None:
        self.stop.set()
        self.thread.join(5)
        self.sock.close()


def attack(port: int, case: Case) -> tuple[bytes, bool, float]:
    """Sends the case, reads until the server closes or `within` passes: (bytes, closed, seconds)."""
    sock = socket.create_connection(("127.0.0.1", port))
    sock.settimeout(0.2)
    start = time.monotonic()
    data = b""
    closed = False
    try:
        if case.preamble:
            sock.sendall(case.preamble)
            time.sleep(0.2)
            try:
                sock.recv(65536)  # the upgrade answer, AMQP's connection.start
            except socket.timeout:
                pass
            start = time.monotonic()
        if case.trickle:
            if case.chunk:
                pieces = [case.payload[i:i + case.chunk] for i in range(0, len(case.payload), case.chunk)]
            else:
                pieces = [line + b"\r\n" for line in case.payload.split(b"\r\n")]
            for piece in pieces:
                try:
                    sock.sendall(piece)
                except OSError:
                    closed = True
                    break
                time.sleep(case.trickle)
                if time.monotonic() - start > case.within:
                    break
        else:
            sock.sendall(case.payload)
        while not closed and time.monotonic() - start < case.within:
            try:
                chunk = sock.recv(65536)
            except socket.timeout:
                if not case.closes and case.answer(data) and data:
                    break
                continue
            except ConnectionResetError:
                closed = True
                break
            if not chunk:
                closed = True
                break
            data += chunk
            if not case.closes and case.answer(data):
                break
    except (BrokenPipeError, ConnectionResetError):
        closed = True
    finally:
        sock.close()
    return data, closed, time.monotonic() - start


@pytest.fixture(scope="module")
def hostile_servers(tmp_path_factory):
    """One server per distinct extra configuration, shared by the cases that use it."""
    from interop import DEFAULT_CONFIG, Server, deep_merge

    servers: dict[str, Server] = {}

    def get(config: dict) -> Server:
        key = repr(sorted(config.items()))
        if key not in servers:
            root = tmp_path_factory.mktemp("hostile")
            servers[key] = Server(root, deep_merge(DEFAULT_CONFIG, config), name=f"hostile-{len(servers)}").start()
        return servers[key]

    yield get
    for server in servers.values():
        server.stop()


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_hostile_input_gets_the_protocols_answer_and_harms_no_bystander(hostile_servers, case: Case):
    server = hostile_servers(case.config)
    port = server.port if case.port == "http" else server.ports[case.port]
    bystanders = [Bystander(server.nats_port) for _ in range(2)]
    try:
        time.sleep(0.1)
        marks = [b.window() for b in bystanders]
        data, closed, seconds = attack(port, case)
        time.sleep(0.1)
        assert case.answer(data), f"{case.name}: unexpected answer {data[:300]!r}"
        if case.closes:
            assert closed, f"{case.name}: still open after {case.within} s; got {data[:300]!r}"
        assert seconds <= case.within
        for bystander in bystanders:
            assert not bystander.errors, bystander.errors
            p99 = bystander.p99_since(marks[bystanders.index(bystander)])
            assert p99 < BYSTANDER_P99_SECONDS, f"{case.name}: a bystander's PING p99 was {p99 * 1000:.0f} ms"
        print(f"\n{case.name}: answered in {seconds * 1000:.0f} ms, closed={closed}, bystander p99 "
              + ", ".join(f"{b.p99_since(m) * 1000:.1f} ms" for b, m in zip(bystanders, marks)))
        # The server is still whole: a fresh client of the same protocol family works.
        assert server.get("/healthz").status_code == 200
    finally:
        for bystander in bystanders:
            bystander.close()
