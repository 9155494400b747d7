"""Helpers for the STOMP interop tests (test_stomp_*.py): the stock stomp.py client with bounded waits
(`Stock`, over TCP or WebSocket, STOMP 1.0/1.1/1.2), and a raw client (`Raw`) that sends exact bytes and
parses every frame and heart-beat the server writes, for what stomp.py will not send (bad frames, exact
escaping, silence). Both speak to `server.stomp_port` or `server.stomp_ws_url` (`/stomp`, subprotocols
v12.stomp/v11.stomp/v10.stomp).

The tests are first checked against RabbitMQ's STOMP plugin (stomp_rabbitmq.py); `on_rabbitmq(server)`
guards the few assertions where Switchboard is stricter than RabbitMQ (it closes after every ERROR)."""

from __future__ import annotations

import re
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable
from urllib.parse import urlparse

import stomp
import websocket
from stomp.adapter.ws import WSTransport
from stomp.connect import BaseConnection, StompConnection10, StompConnection11, StompConnection12
from stomp.protocol import Protocol10, Protocol11, Protocol12

WAIT = 5.0
VERSIONS = ["1.0", "1.1", "1.2"]
TRANSPORTS = ["tcp", "ws"]
SUBPROTOCOLS = {"1.0": "v10.stomp", "1.1": "v11.stomp", "1.2": "v12.stomp"}
ALL_SUBPROTOCOLS = ["v12.stomp", "v11.stomp", "v10.stomp"]
ALICE = ("alice", "alice-password")  # the user the security tests configure (and stomp_rabbitmq.py creates)


def on_rabbitmq(server: Any) -> bool:
    return getattr(server, "rabbitmq", False)


def ws_url(server: Any) -> str:
    return server.stomp_ws_url


# --------------------------------------------------------------------------- frames


@dataclass
class Frame:
    command: str
    headers: dict[str, str]  # the first of repeated headers wins (STOMP 1.2 "Repeated Header Entries")
    body: bytes = b""
    header_list: list[tuple[str, str]] = field(default_factory=list)

    def __getitem__(self, name: str) -> str:
        return self.headers[name]

    def get(self, name: str, default: str | None = None) -> str | None:
        return self.headers.get(name, default)

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")


_ESCAPES_12 = {"\\": "\\\\", "\r": "\\r", "\n": "\\n", ":": "\\c"}
_UNESCAPES = {"\\\\": "\\", "\\r": "\r", "\\n": "\n", "\\c": ":"}


def escape(value: str, version: str) -> str:
    if version == "1.0":
        return value
    escapes = dict(_ESCAPES_12)
    if version == "1.1":  # 1.1 has no \r escape
        del escapes["\r"]
    return "".join(escapes.get(ch, ch) for ch in value)


def unescape(value: str, version: str) -> str:
    if version == "1.0":
        return value
    return re.sub(r"\\[\\rnc]", lambda m: _UNESCAPES[m.group(0)] if (m.group(0) != "\\r" or version == "1.2") else m.group(0), value)


def encode(command: str, headers: dict[str, str] | list[tuple[str, str]] | None = None, body: bytes | str = b"",
           version: str = "1.2") -> bytes:
    """One frame; CONNECT/STOMP headers are never escaped (STOMP 1.2 "Value Encoding")."""
    items = list(headers.items()) if isinstance(headers, dict) else list(headers or [])
    if isinstance(body, str):
        body = body.encode()
    raw = command in ("CONNECT", "STOMP")
    lines = [command] + [f"{k if raw else escape(k, version)}:{v if raw else escape(str(v), version)}" for k, v in items]
    return ("\n".join(lines) + "\n\n").encode() + body + b"\0"


class Parser:
    """Frames out of a byte stream; EOLs between frames are heart-beats (their arrival times are kept)."""

    def __init__(self) -> None:
        self.buffer = b""
        self.version = "1.0"

    def feed(self, data: bytes) -> list[Frame | None]:
        """The frames completed by `data`; None stands for a heart-beat."""
        self.buffer += data
        out: list[Frame | None] = []
        while self.buffer:
            if self.buffer.startswith(b"\r\n"):
                self.buffer = self.buffer[2:]
                out.append(None)
                continue
            if self.buffer.startswith(b"\n"):
                self.buffer = self.buffer[1:]
                out.append(None)
                continue
            end = self.buffer.find(b"\n\n")
            crlf = self.buffer.find(b"\r\n\r\n")
            if end < 0 and crlf < 0:
                break
            if crlf >= 0 and (end < 0 or crlf < end):
                head, start = self.buffer[:crlf].decode(), crlf + 4
            else:
                head, start = self.buffer[:end].decode(), end + 2
            lines = head.replace("\r\n", "\n").split("\n")
            command = lines[0]
            header_list: list[tuple[str, str]] = []
            version = "1.0" if command == "CONNECTED" else self.version
            for line in lines[1:]:
                name, _, value = line.partition(":")
                header_list.append((unescape(name, version), unescape(value, version)))
            headers: dict[str, str] = {}
            for name, value in header_list:
                headers.setdefault(name, value)
            if "content-length" in headers:
                length = int(headers["content-length"])
                if len(self.buffer) < start + length + 1:
                    break
                body, rest = self.buffer[start:start + length], self.buffer[start + length + 1:]
            else:
                nul = self.buffer.find(b"\0", start)
                if nul < 0:
                    break
                body, rest = self.buffer[start:nul], self.buffer[nul + 1:]
            self.buffer = rest
            frame = Frame(command, headers, body, header_list)
            if command == "CONNECTED":
                self.version = headers.get("version", "1.0")
            out.append(frame)
        return out


# --------------------------------------------------------------------------- raw client


class Raw:
    """A raw STOMP connection over TCP (`transport="tcp"`) or WebSocket (`"ws"`, websocket-client) with a
    reader thread: frames are queued for `wait`/`expect`, heart-beats counted with their arrival times."""

    def __init__(self, server: Any, transport: str = "tcp", subprotocols: list[str] | None = None) -> None:
        self.transport = transport
        self.parser = Parser()
        self.frames: list[Frame] = []
        self.seen: list[Frame] = []
        self.heartbeats: list[float] = []
        self.cond = threading.Condition()
        self.closed = False
        self.version = "1.2"
        if transport == "tcp":
            self.sock = socket.create_connection(("127.0.0.1", server.stomp_port), timeout=WAIT)
            self.sock.settimeout(None)
            self.ws = None
        else:
            self.ws = websocket.create_connection(
                ws_url(server), timeout=WAIT,
                subprotocols=ALL_SUBPROTOCOLS if subprotocols is None else subprotocols)
            self.ws.settimeout(None)
            self.sock = None
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    @property
    def subprotocol(self) -> str | None:
        return self.ws.getsubprotocol() if self.ws else None

    def _read(self) -> None:
        try:
            while True:
                if self.sock is not None:
                    data = self.sock.recv(65536)
                else:
                    opcode, data = self.ws.recv_data(control_frame=False)
                    if opcode == websocket.ABNF.OPCODE_CLOSE:
                        data = b""
                    elif isinstance(data, str):
                        data = data.encode()
                if not data:
                    break
                with self.cond:
                    now = time.monotonic()
                    for item in self.parser.feed(data):
                        if item is None:
                            self.heartbeats.append(now)
                        else:
                            self.frames.append(item)
                            self.seen.append(item)
                    self.cond.notify_all()
        except (OSError, websocket.WebSocketException, ValueError):
            pass
        finally:
            with self.cond:
                self.closed = True
                self.cond.notify_all()

    # -- sending
    def send_raw(self, data: bytes) -> None:
        if self.sock is not None:
            self.sock.sendall(data)
        else:
            self.ws.send(data, websocket.ABNF.OPCODE_TEXT if _is_text(data) else websocket.ABNF.OPCODE_BINARY)

    def send(self, command: str, headers: dict[str, str] | list[tuple[str, str]] | None = None,
             body: bytes | str = b"") -> None:
        self.send_raw(encode(command, headers, body, self.version))

    def connect(self, versions: str | None = "1.2", command: str = "CONNECT", **headers: str) -> Frame:
        """CONNECT (host `/`: RabbitMQ takes host as its vhost) and the CONNECTED answer."""
        h = {"host": "/"}
        if versions is not None:
            h["accept-version"] = versions
        h.update(headers)
        self.send(command, h)
        frame = self.expect("CONNECTED")
        self.version = frame.get("version", "1.0")
        return frame

    def request(self, command: str, headers: dict[str, str] | list[tuple[str, str]] | None = None,
                body: bytes | str = b"", timeout: float = WAIT) -> Frame:
        """Send with a fresh `receipt` and wait for its RECEIPT (everything sent before has been handled)."""
        receipt = f"r-{time.monotonic_ns()}"
        items = list(headers.items()) if isinstance(headers, dict) else list(headers or [])
        self.send(command, items + [("receipt", receipt)], body)
        return self.expect("RECEIPT", lambda f: f.get("receipt-id") == receipt, timeout)

    # -- receiving
    def wait(self, pred: Callable[[Frame], bool], timeout: float = WAIT, desc: str = "frame") -> Frame:
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for i, f in enumerate(self.frames):
                    if pred(f):
                        return self.frames.pop(i)
                if self.closed:
                    raise AssertionError(f"connection closed while waiting for {desc}; unconsumed: {self.frames!r:.1500}")
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"timed out after {timeout}s waiting for {desc}; unconsumed: {self.frames!r:.1500}")
                self.cond.wait(left)

    def expect(self, command: str, pred: Callable[[Frame], bool] = lambda f: True, timeout: float = WAIT) -> Frame:
        return self.wait(lambda f: f.command == command and pred(f), timeout, command)

    def message(self, timeout: float = WAIT) -> Frame:
        return self.expect("MESSAGE", timeout=timeout)

    def nothing(self, command: str = "MESSAGE", wait: float = 0.5) -> None:
        end = time.monotonic() + wait
        with self.cond:
            while (left := end - time.monotonic()) > 0:
                self.cond.wait(left)
            unexpected = [f for f in self.frames if f.command == command]
        assert not unexpected, f"unexpected {command}: {unexpected!r:.800}"

    def wait_closed(self, timeout: float = WAIT) -> bool:
        deadline = time.monotonic() + timeout
        with self.cond:
            while not self.closed and (left := deadline - time.monotonic()) > 0:
                self.cond.wait(left)
            return self.closed

    def close(self) -> None:
        try:
            if self.sock is not None:
                try:
                    self.sock.shutdown(socket.SHUT_RDWR)  # wakes the reader's recv
                except OSError:
                    pass
                self.sock.close()
            else:
                self.ws.close(timeout=1)
        except (OSError, websocket.WebSocketException):
            pass
        self.reader.join(2)


def _is_text(data: bytes) -> bool:
    try:
        data.decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False


# --------------------------------------------------------------------------- stomp.py


class _WS10(StompConnection10):
    def __init__(self, host_and_ports, ws_path, header, **kw):
        transport = WSTransport(host_and_ports, ws_path=ws_path, header=header, **kw)
        BaseConnection.__init__(self, transport)
        Protocol10.__init__(self, transport, True)


class _WS11(StompConnection11):
    def __init__(self, host_and_ports, ws_path, header, heartbeats=(0, 0), **kw):
        transport = WSTransport(host_and_ports, ws_path=ws_path, header=header, **kw)
        BaseConnection.__init__(self, transport)
        Protocol11.__init__(self, transport, heartbeats, True)


class _WS12(StompConnection12):
    def __init__(self, host_and_ports, ws_path, header, heartbeats=(0, 0), **kw):
        transport = WSTransport(host_and_ports, ws_path=ws_path, header=header, **kw)
        BaseConnection.__init__(self, transport)
        Protocol12.__init__(self, transport, heartbeats, True)


class _Collector(stomp.ConnectionListener):
    def __init__(self, owner: "Stock") -> None:
        self.owner = owner

    def _add(self, command: str, frame: Any) -> None:
        body = frame.body if frame is not None else b""
        if isinstance(body, str):
            body = body.encode()
        self.owner._add(Frame(command, dict(frame.headers) if frame is not None else {}, body or b""))

    def on_connected(self, frame):
        self._add("CONNECTED", frame)

    def on_message(self, frame):
        self._add("MESSAGE", frame)

    def on_receipt(self, frame):
        self._add("RECEIPT", frame)

    def on_error(self, frame):
        self._add("ERROR", frame)

    def on_disconnected(self):
        with self.owner.cond:
            self.owner.disconnected = True
            self.owner.cond.notify_all()


class Stock:
    """One stomp.py connection (StompConnection10/11/12, or stomp.py's WSTransport for `transport="ws"`)
    whose listener queues every frame, so each wait is bounded and picks the frame it wants."""

    def __init__(self, server: Any, version: str = "1.2", transport: str = "tcp", *, login: str | None = None,
                 passcode: str | None = None, heartbeats: tuple[int, int] = (0, 0), auto_decode: bool = False,
                 headers: dict[str, str] | None = None, connect: bool = True) -> None:
        self.version = version
        self.frames: list[Frame] = []
        self.cond = threading.Condition()
        self.disconnected = False
        self._receipts = 0
        kw: dict[str, Any] = {"reconnect_attempts_max": 1, "auto_decode": auto_decode, "timeout": WAIT}
        if transport == "tcp":
            hosts = [("127.0.0.1", server.stomp_port)]
            cls = {"1.0": stomp.Connection10, "1.1": stomp.Connection11, "1.2": stomp.Connection12}[version]
            if version != "1.0":
                kw.update(heartbeats=heartbeats, vhost="/")
            self.conn = cls(hosts, **kw)
        else:
            url = urlparse(ws_url(server))
            hosts = [(url.hostname, url.port)]
            cls = {"1.0": _WS10, "1.1": _WS11, "1.2": _WS12}[version]
            if version != "1.0":
                kw.update(heartbeats=heartbeats, vhost="/")
            self.conn = cls(hosts, url.path, {"Sec-WebSocket-Protocol": SUBPROTOCOLS[version]}, **kw)
        self.conn.set_listener("collector", _Collector(self))
        self.connected: Frame | None = None
        if connect:
            self.connect(login, passcode, headers)

    def _add(self, frame: Frame) -> None:
        with self.cond:
            self.frames.append(frame)
            self.cond.notify_all()

    def connect(self, login: str | None = None, passcode: str | None = None,
                headers: dict[str, str] | None = None, expect_success: bool = True) -> Frame:
        self.conn.connect(login, passcode, wait=False, headers=headers or {})
        frame = self.wait(lambda f: f.command in ("CONNECTED", "ERROR"), desc="CONNECTED or ERROR")
        if expect_success:
            assert frame.command == "CONNECTED", f"CONNECT refused: {frame}"
        self.connected = frame if frame.command == "CONNECTED" else None
        return frame

    def _receipt_id(self) -> str:
        self._receipts += 1
        return f"rcpt-{self._receipts}-{time.monotonic_ns()}"

    def receipt(self, receipt: str, timeout: float = WAIT) -> Frame:
        return self.wait(lambda f: f.command == "RECEIPT" and f.get("receipt-id") == receipt, timeout, f"RECEIPT {receipt}")

    def subscribe(self, destination: str, sub_id: str, ack: str = "auto", **headers: str) -> None:
        """SUBSCRIBE and wait for its RECEIPT: the subscription is in place when this returns."""
        receipt = self._receipt_id()
        self.conn.subscribe(destination, id=sub_id, ack=ack, headers={**headers, "receipt": receipt})
        self.receipt(receipt)

    def unsubscribe(self, sub_id: str, destination: str | None = None) -> None:
        receipt = self._receipt_id()
        if self.version == "1.0":
            self.conn.unsubscribe(destination=destination, id=sub_id, headers={"receipt": receipt})
        else:
            self.conn.unsubscribe(id=sub_id, headers={"receipt": receipt})
        self.receipt(receipt)

    def send(self, destination: str, body: bytes | str, content_type: str | None = None, *, receipt: bool = True,
             **headers: str) -> None:
        """SEND (waiting for its RECEIPT unless told not to)."""
        rid = self._receipt_id() if receipt else None
        if rid:
            headers["receipt"] = rid
        self.conn.send(destination, body, content_type=content_type, headers=headers)
        if rid:
            self.receipt(rid)

    def ack(self, message: Frame, transaction: str | None = None, nack: bool = False) -> None:
        """ACK/NACK `message` the way its version asks: `id` = the MESSAGE's `ack` header in 1.2,
        `message-id` (+ `subscription`) in 1.0/1.1. Waits for the RECEIPT."""
        rid = self._receipt_id()
        if self.version == "1.2":
            (self.conn.nack if nack else self.conn.ack)(message["ack"], transaction=transaction, receipt=rid)
        elif self.version == "1.1":
            (self.conn.nack if nack else self.conn.ack)(message["message-id"], message["subscription"],
                                                        transaction=transaction, receipt=rid)
        else:
            assert not nack, "STOMP 1.0 has no NACK"
            self.conn.ack(message["message-id"], transaction=transaction, receipt=rid)
        self.receipt(rid)

    def nack(self, message: Frame, transaction: str | None = None) -> None:
        self.ack(message, transaction, nack=True)

    def transaction(self, command: str, tx: str) -> None:
        rid = self._receipt_id()
        {"BEGIN": self.conn.begin, "COMMIT": self.conn.commit, "ABORT": self.conn.abort}[command](
            tx, headers={"receipt": rid})
        self.receipt(rid)

    def wait(self, pred: Callable[[Frame], bool], timeout: float = WAIT, desc: str = "frame") -> Frame:
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for i, f in enumerate(self.frames):
                    if pred(f):
                        return self.frames.pop(i)
                if self.disconnected:
                    raise AssertionError(f"disconnected while waiting for {desc}; unconsumed: {self.frames!r:.1500}")
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"timed out after {timeout}s waiting for {desc}; unconsumed: {self.frames!r:.1500}")
                self.cond.wait(left)

    def message(self, pred: Callable[[Frame], bool] = lambda f: True, timeout: float = WAIT) -> Frame:
        return self.wait(lambda f: f.command == "MESSAGE" and pred(f), timeout, "MESSAGE")

    def messages(self, count: int, timeout: float = WAIT) -> list[Frame]:
        return [self.message(timeout=timeout) for _ in range(count)]

    def error(self, timeout: float = WAIT) -> Frame:
        return self.wait(lambda f: f.command == "ERROR", timeout, "ERROR")

    def nothing(self, wait: float = 0.5) -> None:
        """No MESSAGE within `wait` seconds (the one place a test waits out a fixed time: proving absence)."""
        end = time.monotonic() + wait
        with self.cond:
            while (left := end - time.monotonic()) > 0:
                self.cond.wait(left)
            unexpected = [f for f in self.frames if f.command == "MESSAGE"]
        assert not unexpected, f"unexpected MESSAGE: {unexpected!r:.800}"

    def wait_disconnected(self, timeout: float = WAIT) -> bool:
        deadline = time.monotonic() + timeout
        with self.cond:
            while not self.disconnected and (left := deadline - time.monotonic()) > 0:
                self.cond.wait(left)
            return self.disconnected

    def disconnect(self) -> None:
        """DISCONNECT with a receipt (stomp.py waits for it, bounded by its transport), then the socket."""
        try:
            if self.conn.is_connected():
                self.conn.disconnect(receipt=self._receipt_id())
        except Exception:  # noqa: BLE001 - tearing down a connection the server may have closed already
            pass
        finally:
            self.conn.transport.stop()

    def __enter__(self) -> "Stock":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.disconnect()


def stock_clients(server: Any, count: int, version: str = "1.2", transport: str = "tcp", **kw: Any) -> list[Stock]:
    return [Stock(server, version, transport, **kw) for _ in range(count)]
