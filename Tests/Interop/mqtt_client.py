"""MQTT helpers for the interop suite: a paho-mqtt wrapper with bounded waits, and a raw-socket
client for what paho will not send (bad input, unacknowledged QoS 2, bare topic aliases)."""

from __future__ import annotations

import queue
import socket
import struct
import threading
import time
import uuid
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

WAIT = 5.0
V311 = paho.MQTTv311
V5 = paho.MQTTv5
VERSIONS = [V311, V5]


def client_id(prefix: str = "c") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


class Paho:
    """One paho client on its own network thread; received messages go into a queue."""

    def __init__(self, port: int, version: int, cid: str | None = None, *, clean: bool = True,
                 session_expiry: int | None = None, will: tuple | None = None, will_properties: Properties | None = None,
                 username: str | None = None, password: str | None = None, transport: str = "tcp",
                 connect: bool = True, keepalive: int = 30, ws_port: int | None = None,
                 maximum_packet_size: int | None = None, connect_properties: dict[str, Any] | None = None) -> None:
        self.version = version
        self.cid = cid if cid is not None else client_id()
        self.messages: "queue.Queue[paho.MQTTMessage]" = queue.Queue()
        self.connack = threading.Event()
        self.reason_code: Any = None
        self.session_present: bool | None = None
        self.connack_properties: Any = None
        self.disconnected = threading.Event()
        self.disconnect_reason: Any = None
        self.disconnect_properties: Any = None
        self.subacks: "queue.Queue[Any]" = queue.Queue()
        kwargs: dict[str, Any] = {"protocol": version, "transport": transport}
        if version == V311:
            kwargs["clean_session"] = clean
        self.client = paho.Client(CallbackAPIVersion.VERSION2, client_id=self.cid, **kwargs)
        if transport == "websockets":
            self.client.ws_set_options(path="/mqtt")
        # paho's network thread reconnects by itself after a drop; a test that was disconnected on purpose
        # (takeover, admin close) must not come back and take the session over again.
        self.client.reconnect_delay_set(min_delay=300, max_delay=600)
        self.client.on_connect = self._on_connect
        self.client.on_message = lambda c, u, m: self.messages.put(m)
        self.client.on_disconnect = self._on_disconnect
        self.client.on_subscribe = lambda c, u, mid, codes, props: self.subacks.put(codes)
        # PUBACK / PUBREC / PUBCOMP reason codes by message id: `is_published()` is true for a 5.0
        # acknowledgement that refuses the message (0x80 and up) too.
        self.publish_codes: dict[int, Any] = {}
        self.client.on_publish = self._on_publish
        if will:
            topic, payload, qos, retain = will
            self.client.will_set(topic, payload, qos, retain, properties=will_properties)
        if username is not None or password is not None:
            self.client.username_pw_set(username or "", password)
        self.clean = clean
        self.session_expiry = session_expiry
        self.maximum_packet_size = maximum_packet_size
        self.connect_properties = connect_properties or {}
        self.keepalive = keepalive
        self.port = ws_port if ws_port is not None else port
        if connect:
            self.connect()

    def _on_publish(self, client, userdata, mid, reason_code, properties):
        self.publish_codes[mid] = reason_code

    def accepted(self, info: Any) -> bool:
        """The publish was acknowledged, and (5.0) not with a refusal."""
        if not info.is_published():
            return False
        code = self.publish_codes.get(info.mid)
        return not getattr(code, "is_failure", False)

    def _on_connect(self, client, userdata, flags, reason_code, properties):
        self.reason_code = reason_code
        self.session_present = flags.session_present
        self.connack_properties = properties
        self.connack.set()

    def _on_disconnect(self, client, userdata, flags, reason_code, properties):
        self.disconnect_reason = reason_code
        self.disconnect_properties = properties
        self.disconnected.set()

    def connect(self, expect_success: bool = True) -> "Paho":
        self.connack.clear()
        self.disconnected.clear()
        kwargs: dict[str, Any] = {}
        if self.version == V5:
            props = Properties(PacketTypes.CONNECT)
            if self.session_expiry is not None:
                props.SessionExpiryInterval = self.session_expiry
            if self.maximum_packet_size is not None:
                props.MaximumPacketSize = self.maximum_packet_size
            for key, value in self.connect_properties.items():
                setattr(props, key, value)
            kwargs["properties"] = props
            kwargs["clean_start"] = self.clean
        self.client.connect("127.0.0.1", self.port, keepalive=self.keepalive, **kwargs)
        self.client.loop_start()
        assert self.connack.wait(WAIT), "no CONNACK"
        if expect_success:
            assert not self.reason_code.is_failure, f"connection refused: {self.reason_code}"
        return self

    def subscribe(self, topic: str, qos: int = 0, **options: Any) -> list:
        props = None
        if "identifier" in options:
            props = Properties(PacketTypes.SUBSCRIBE)
            props.SubscriptionIdentifier = options.pop("identifier")
        if self.version == V5:
            opts = paho.SubscribeOptions(qos=qos, **options)
            self.client.subscribe(topic, options=opts, properties=props)
        else:
            self.client.subscribe(topic, qos)
        codes = self.subacks.get(timeout=WAIT)
        return codes

    def publish(self, topic: str, payload: bytes | str, qos: int = 0, retain: bool = False,
                properties: Properties | None = None) -> None:
        info = self.client.publish(topic, payload, qos=qos, retain=retain, properties=properties)
        info.wait_for_publish(WAIT)
        assert info.is_published(), f"publish to {topic} not acknowledged"

    def get(self, timeout: float = WAIT) -> paho.MQTTMessage:
        return self.messages.get(timeout=timeout)

    def get_many(self, count: int, timeout: float = WAIT) -> list[paho.MQTTMessage]:
        deadline = time.monotonic() + timeout
        out = []
        while len(out) < count:
            out.append(self.messages.get(timeout=max(0.01, deadline - time.monotonic())))
        return out

    def nothing(self, wait: float = 0.5) -> bool:
        try:
            message = self.messages.get(timeout=wait)
        except queue.Empty:
            return True
        raise AssertionError(f"unexpected message on {message.topic}: {message.payload!r}")

    def disconnect(self) -> None:
        self.client.disconnect()
        self.disconnected.wait(WAIT)
        self.client.loop_stop()

    def abort(self) -> None:
        """Close the socket without DISCONNECT (an abnormal end: the will is published)."""
        sock = self.client.socket()
        self.client.loop_stop()
        if sock is not None:
            sock.shutdown(socket.SHUT_RDWR)
            sock.close()


def props(kind: int, **values: Any) -> Properties:
    p = Properties(kind)
    for key, value in values.items():
        setattr(p, key, value)
    return p


# ----------------------------------------------------------------------------- raw packets


def vbi(n: int) -> bytes:
    out = bytearray()
    while True:
        byte = n % 128
        n //= 128
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def s(text: str | bytes) -> bytes:
    data = text.encode() if isinstance(text, str) else text
    return struct.pack("!H", len(data)) + data


def packet(first: int, body: bytes) -> bytes:
    return bytes([first]) + vbi(len(body)) + body


def connect_packet(cid: str, version: int = 5, clean: bool = True, keepalive: int = 30, properties: bytes = b"") -> bytes:
    flags = 0x02 if clean else 0
    body = s("MQTT") + bytes([version, flags]) + struct.pack("!H", keepalive)
    if version == 5:
        body += vbi(len(properties)) + properties
    return packet(0x10, body + s(cid))


def publish_packet(topic: str, payload: bytes, qos: int = 0, pid: int = 0, version: int = 5, dup: bool = False,
                   retain: bool = False, properties: bytes = b"") -> bytes:
    body = s(topic)
    if qos:
        body += struct.pack("!H", pid)
    if version == 5:
        body += vbi(len(properties)) + properties
    first = 0x30 | (qos << 1) | (0x08 if dup else 0) | (0x01 if retain else 0)
    return packet(first, body + payload)


def subscribe_packet(pid: int, topic: str, options: int, version: int = 5) -> bytes:
    body = struct.pack("!H", pid) + (b"\x00" if version == 5 else b"") + s(topic) + bytes([options])
    return packet(0x82, body)


class Raw:
    """A raw MQTT connection: send bytes, read whole packets."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=WAIT)
        self.buffer = b""

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def read(self, timeout: float = WAIT) -> tuple[int, bytes] | None:
        """The next packet as (first byte, body), or None when the server closed the connection;
        TimeoutError when neither happens in time."""
        deadline = time.monotonic() + timeout
        while True:
            parsed = self._parse()
            if parsed is not None:
                return parsed
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                chunk = self.sock.recv(65536)
            except ConnectionResetError:
                return None
            if not chunk:
                return None
            self.buffer += chunk

    def _parse(self) -> tuple[int, bytes] | None:
        if len(self.buffer) < 2:
            return None
        length, multiplier, index = 0, 1, 1
        while True:
            if index >= len(self.buffer):
                return None
            byte = self.buffer[index]
            length += (byte & 0x7F) * multiplier
            multiplier *= 128
            index += 1
            if not byte & 0x80:
                break
        if len(self.buffer) < index + length:
            return None
        first, body = self.buffer[0], self.buffer[index:index + length]
        self.buffer = self.buffer[index + length:]
        return first, body

    def expect(self, packet_type: int, timeout: float = WAIT) -> bytes:
        got = self.read(timeout)
        assert got is not None, f"connection closed while waiting for packet type {packet_type}"
        assert got[0] >> 4 == packet_type, f"expected packet type {packet_type}, got {got[0] >> 4} ({got[1]!r})"
        return got[1] if packet_type != 3 else bytes([got[0]]) + got[1]

    def closed(self, timeout: float = WAIT) -> bool:
        """True once the server has closed the connection (packets before that are skipped)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if self.read(max(0.01, deadline - time.monotonic())) is None:
                    return True
            except TimeoutError:
                return False
        return False

    def close(self) -> None:
        self.sock.close()
