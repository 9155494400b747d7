"""Helpers shared by the interop tests: a managed server process, a WebSocket
client wrapper around the stock `websockets` library, and small HTTP helpers.

Nothing here knows about a particular test; conftest.py wires it into fixtures.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Callable

import requests
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_BIN = REPO_ROOT / ".build" / "debug" / "switchboard"

# Every wait in the suite is bounded by one of these.
STARTUP_TIMEOUT = 20.0
STOP_TIMEOUT = 5.0
HTTP_TIMEOUT = 5.0
FRAME_TIMEOUT = 5.0

DEFAULT_CONFIG: dict[str, Any] = {
    "history": [{"filter": "chat/#", "count": 100, "age_seconds": 600}],
    "presence": ["chat/#"],
}


def switchboard_bin() -> Path:
    return Path(os.environ.get("SWITCHBOARD_BIN", str(DEFAULT_BIN))).resolve()


def unique(prefix: str = "t") -> str:
    """A channel-safe unique token, so tests never share channels."""
    return f"{prefix}{uuid.uuid4().hex[:10]}"


_handed_out: set[int] = set()
# Set by run.sh: a directory every pytest process of one run (the parallel workers and the serial pass)
# claims its ports in, one file per port, so no two processes hand out the same one.
_PORT_CLAIMS = os.environ.get("SWITCHBOARD_INTEROP_PORTS")


def _claim(port: int) -> bool:
    if port in _handed_out:
        return False
    if _PORT_CLAIMS:
        try:
            os.close(os.open(os.path.join(_PORT_CLAIMS, str(port)), os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        except FileExistsError:
            return False
    _handed_out.add(port)
    return True


def free_port() -> int:
    """A loopback port nothing listens on now, never one handed out before in this run: the kernel can
    give the same free port to two draws in a row, and a server started with both (its NATS port and a
    test's TLS port) then fails to bind (seen once in a full run). The run's other pytest processes, which
    draw at the same time (run.sh runs files in parallel), are asked through `_PORT_CLAIMS`."""
    if len(_handed_out) > 20_000:
        _handed_out.clear()
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if _claim(port):
            return port


def wait_for(predicate: Callable[[], Any], timeout: float = 5.0, step: float = 0.05) -> Any:
    """The first truthy value `predicate` gives within `timeout` seconds, asked every `step`; after the
    deadline, its last answer."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    return predicate()


def listening(port: int) -> bool:
    """Whether something accepts TCP connections on loopback `port` now."""
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
        return True
    except OSError:
        return False


_FRONTEND_PORTS: list[str] | None = None


def frontends_with_ports() -> list[str]:
    """The frontends that listen on a port of their own (`<name>.port` with a default in
    `switchboard settings`), asked of the binary once."""
    global _FRONTEND_PORTS
    if _FRONTEND_PORTS is None:
        out = subprocess.run([str(switchboard_bin()), "settings"], capture_output=True, text=True, check=True).stdout
        _FRONTEND_PORTS = re.findall(r"^\| `(\w+)\.port` \| `SWITCHBOARD_\w+` \| `\d+` \|", out, re.MULTILINE)
    return _FRONTEND_PORTS


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


# A JSON object merged into every server's default configuration, to run suites under other settings — a
# stream memory tail of 1 KiB makes every stream read older than that come from the store:
#   SWITCHBOARD_INTEROP_CONFIG='{"limits": {"stream_memory_tail_bytes": 1024}}' Tests/Interop/run.sh -k kafka
DEFAULT_CONFIG = deep_merge(DEFAULT_CONFIG, json.loads(os.environ.get("SWITCHBOARD_INTEROP_CONFIG") or "{}"))


CRASH_MARKERS = ("Fatal error", "fatal error", "Program crashed", "Precondition failed", "Assertion failed")


def tail(path: Path, max_lines: int = 60) -> str:
    """The end of a server log; for a crash, the crash headline and the
    crashed thread's top frames first (the log's end is only the register dump)."""
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError as exc:
        return f"<cannot read {path}: {exc}>"
    crash: list[str] = [ln for ln in lines if any(m in ln for m in CRASH_MARKERS)][:5]
    for i, ln in enumerate(lines):
        if ln.rstrip().endswith("crashed:"):
            crash += [ln] + [x[:300] for x in lines[i + 1 : i + 24] if "[ra]" not in x or "/work/" in x][:16]
            break
    if crash:
        return "\n".join(["=== crash ==="] + crash + ["=== log start ==="] + lines[:8])
    return "\n".join(lines[-max_lines:])


# --------------------------------------------------------------------------- server


_WATCHDOG_SCRIPT = """
import os, signal, sys
groups = set()
for line in sys.stdin:
    (groups.add if line[0] == "+" else groups.discard)(int(line[1:]))
for group in groups:
    try:
        os.killpg(group, signal.SIGKILL)
    except OSError:
        pass
"""
_watchdog: subprocess.Popen[str] | None = None
_watchdog_lock = threading.Lock()


def _tell_watchdog(line: str) -> None:
    """A process of its own holds the process groups of the servers this pytest process started, and
    kills those still there once its stdin closes — when this process ends, even through pytest-timeout's
    `os._exit`, which runs no fixture teardown (a timed-out test's servers were left running before)."""
    global _watchdog
    with _watchdog_lock:
        if _watchdog is None or _watchdog.poll() is not None:
            _watchdog = subprocess.Popen(
                [sys.executable, "-c", _WATCHDOG_SCRIPT], stdin=subprocess.PIPE, text=True, start_new_session=True
            )
        with contextlib.suppress(BrokenPipeError):
            _watchdog.stdin.write(line + "\n")
            _watchdog.stdin.flush()


def watch_process_group(pid: int) -> None:
    """Kill process group `pid` when this pytest process ends, unless `unwatch_process_group` came first."""
    _tell_watchdog(f"+{pid}")


def unwatch_process_group(pid: int) -> None:
    _tell_watchdog(f"-{pid}")


class Server:
    """One `switchboard serve` process on a free loopback port."""

    def __init__(
        self,
        workdir: Path,
        config: dict[str, Any] | None = None,
        extra_args: list[str] | None = None,
        env: dict[str, str] | None = None,
        name: str = "server",
        write_config: bool = True,
    ) -> None:
        self.name = name
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.config = config if config is not None else copy.deepcopy(DEFAULT_CONFIG)
        self.extra_args = list(extra_args or [])
        self.env_overrides = dict(env or {})
        self.write_config = write_config
        self._draw_ports()
        self.data_dir = workdir / "data"
        self.data_dir.mkdir(exist_ok=True)
        self.config_path = workdir / "config.json"
        self.log_path = workdir / "server.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.exit_code: int | None = None
        self.session = requests.Session()
        self.session.trust_env = False  # never route loopback through a proxy

    def _draw_ports(self) -> None:
        """A distinct free port for HTTP and for every frontend with a port of its own (listed by the binary
        itself, so a new protocol needs no change here); never the defaults, so parallel or leftover
        servers never collide. Distinct: the kernel may hand the same ephemeral port out twice in a row
        once each probe socket is closed."""
        ports: list[int] = []
        names = frontends_with_ports()
        while len(ports) < 1 + len(names):
            port = free_port()
            if port not in ports:
                ports.append(port)
        self.port = ports[0]
        self.ports: dict[str, int] = dict(zip(names, ports[1:]))

    # -- addresses
    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    @property
    def mqtt_port(self) -> int:
        return self.ports["mqtt"]

    @property
    def nats_port(self) -> int:
        return self.ports["nats"]

    @property
    def amqp_port(self) -> int:
        return self.ports["amqp"]

    @property
    def stomp_port(self) -> int:
        return self.ports["stomp"]

    @property
    def stomp_ws_url(self) -> str:
        """STOMP over WebSocket (subprotocols v12.stomp, v11.stomp, v10.stomp) on the HTTP port."""
        return f"ws://127.0.0.1:{self.port}/stomp"

    @property
    def nats_url(self) -> str:
        return f"nats://127.0.0.1:{self.nats_port}"

    @property
    def amqp_url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.amqp_port}/%2F"

    # -- lifecycle
    def command(self) -> list[str]:
        cmd = [
            str(switchboard_bin()),
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            f"http={self.port}",
            *[arg for name, port in self.ports.items() for arg in ("--port", f"{name}={port}")],
            "--data-dir",
            str(self.data_dir),
        ]
        if self.write_config:
            cmd += ["--config", str(self.config_path)]
        return cmd + self.extra_args

    def start(self) -> "Server":
        """Starts the process and waits until it is healthy. A first start whose bind finds a drawn port
        taken is tried again on newly drawn ports (up to three times): between the draw and the bind,
        another process of a parallel run can take the port (an outgoing connection's ephemeral port, which
        the run's claims do not cover; seen once in a full run)."""
        first = self.proc is None
        for attempt in range(3):
            log_start = self.log_path.stat().st_size if self.log_path.exists() else 0
            try:
                return self._start_once()
            except RuntimeError:
                if not first or attempt == 2 or not self._bind_refused_since(log_start):
                    raise
                self._draw_ports()
        raise AssertionError("unreachable")

    def _bind_refused_since(self, offset: int) -> bool:
        with open(self.log_path, "rb") as log:
            log.seek(offset)
            return b"Address already in use" in log.read()

    def _start_once(self) -> "Server":
        binary = switchboard_bin()
        if not binary.exists():
            raise RuntimeError(f"server binary not found: {binary} (set SWITCHBOARD_BIN)")
        if self.write_config:
            self.config_path.write_text(json.dumps(self.config, indent=2))
        env = dict(os.environ)
        for key in list(env):
            if key.startswith("SWITCHBOARD_") and key != "SWITCHBOARD_BIN":
                del env[key]
        env.update(self.env_overrides)
        log = open(self.log_path, "ab")
        log.write(f"$ {' '.join(self.command())}\n".encode())
        log.flush()
        if self.proc is not None:
            unwatch_process_group(self.proc.pid)  # started again: the old group is gone, its id reusable
        self.proc = subprocess.Popen(
            self.command(),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=str(self.workdir),
            start_new_session=True,
        )
        watch_process_group(self.proc.pid)
        log.close()
        self.wait_healthy()
        return self

    def wait_healthy(self, timeout: float = STARTUP_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        last = "no attempt"
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(
                    f"server exited with {self.proc.returncode} during startup; log tail:\n{self.tail()}"
                )
            try:
                r = self.session.get(self.http_url + "/healthz", timeout=1.0)
                if r.status_code == 200 and self._mqtt_listening():
                    return
                last = f"HTTP {r.status_code} {r.text[:200]}"
            except requests.RequestException as exc:
                last = repr(exc)
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"server not healthy after {timeout}s (last: {last}); log tail:\n{self.tail()}")

    def _mqtt_listening(self) -> bool:
        """True once the MQTT listener accepts. The probe sends a CONNECT and waits (up to a second) for
        any answer, so the server has taken the connection into its registry before the probe leaves:
        `wait_no_connections` can then trust an empty registry (a bare connect could be accepted by the
        server only after a test of connection limits had started and take one of its slots)."""
        try:
            with socket.create_connection(("127.0.0.1", self.mqtt_port), timeout=1.0) as sock:
                # MQTT 3.1.1 CONNECT, clean session, keep-alive 60 s, empty client identifier.
                sock.sendall(b"\x10\x0c\x00\x04MQTT\x04\x02\x00\x3c\x00\x00")
                try:
                    sock.recv(4)
                except OSError:
                    pass  # a TLS-only or refusing listener: listening all the same
                return True
        except OSError:
            return False

    def wait_no_connections(self, timeout: float = 10.0) -> None:
        """Until the registry is empty: the start-up probe's MQTT connection holds a slot until the
        server reads its close, which a loaded machine can do after a test's first connections arrive
        (tests of connection limits start from here)."""
        deadline = time.monotonic() + timeout
        while self.get("/api/connections").json()["connections"]:
            assert time.monotonic() < deadline, self.get("/api/connections").text
            time.sleep(0.05)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def terminate(self) -> None:
        """Send SIGTERM only (tests that check graceful shutdown use this)."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)

    def wait_exit(self, timeout: float) -> int | None:
        assert self.proc is not None
        try:
            self.exit_code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None
        return self.exit_code

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self.proc.wait(timeout=STOP_TIMEOUT)
        self.exit_code = self.proc.returncode
        unwatch_process_group(self.proc.pid)
        self.session.close()

    def tail(self, max_lines: int = 60) -> str:
        return tail(self.log_path, max_lines)

    # -- HTTP (blocking)
    def http(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", HTTP_TIMEOUT)
        return self.session.request(method, self.http_url + path, **kwargs)

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.http("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> requests.Response:
        return self.http("POST", path, **kwargs)

    def publish(self, channel: str, data: Any, **kwargs: Any) -> dict[str, Any]:
        r = self.post("/api/publish", json={"channel": channel, "data": data}, **kwargs)
        assert r.status_code == 200, f"POST /api/publish {channel!r} -> {r.status_code} {r.text}"
        return r.json()

    def poll(self, channel: str, cursor: str | None = None, timeout: float = 0) -> requests.Response:
        """One long poll of `channel` (`GET /poll`), from `cursor` when given, waiting up to `timeout` s."""
        query: dict[str, Any] = {"channel": channel, "timeout": timeout}
        if cursor is not None:
            query["cursor"] = cursor
        return self.get("/poll", params=query, timeout=timeout + 10)

    # -- HTTP from async code (runs the blocking call in a thread)
    async def ahttp(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        return await asyncio.to_thread(self.http, method, path, **kwargs)

    async def apublish(self, channel: str, data: Any, **kwargs: Any) -> dict[str, Any]:
        return await asyncio.to_thread(self.publish, channel, data, **kwargs)


# --------------------------------------------------------------------------- websocket


class WS:
    """A `websockets` connection plus a background reader that buffers every
    frame, so tests can wait for the frame they care about by predicate while
    other frames (pushes, presence events) stay queued for later."""

    def __init__(self, conn: ClientConnection) -> None:
        self.conn = conn
        self.inbox: list[dict[str, Any]] = []
        self.seen: list[dict[str, Any]] = []  # everything ever received, for diagnostics
        self.cond = asyncio.Condition()
        self.closed = False
        self._ids = 0
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        try:
            async for raw in self.conn:
                if isinstance(raw, bytes):
                    frame: dict[str, Any] = {"__binary__": raw.hex()}
                else:
                    try:
                        frame = json.loads(raw)
                    except ValueError:
                        frame = {"__raw__": raw}
                    if not isinstance(frame, dict):
                        frame = {"__raw__": raw}
                async with self.cond:
                    self.inbox.append(frame)
                    self.seen.append(frame)
                    self.cond.notify_all()
        except ConnectionClosed:
            pass
        finally:
            async with self.cond:
                self.closed = True
                self.cond.notify_all()

    # -- properties
    @property
    def close_code(self) -> int | None:
        return self.conn.close_code

    @property
    def close_reason(self) -> str | None:
        return self.conn.close_reason

    @property
    def local_port(self) -> int:
        return self.conn.local_address[1]

    @property
    def subprotocol(self) -> str | None:
        return self.conn.subprotocol

    def next_id(self) -> int:
        self._ids += 1
        return self._ids

    # -- sending
    async def send(self, frame: dict[str, Any] | str | bytes) -> None:
        if isinstance(frame, dict):
            frame = json.dumps(frame)
        await self.conn.send(frame)

    async def request(self, frame: dict[str, Any], timeout: float = FRAME_TIMEOUT) -> dict[str, Any]:
        """Send a frame with an id and return the reply carrying that id."""
        frame = dict(frame)
        frame.setdefault("id", self.next_id())
        await self.send(frame)
        rid = frame["id"]
        return await self.wait(lambda f: f.get("id") == rid, timeout, f"reply to {frame!r:.200}")

    async def expect(self, frame: dict[str, Any], reply_type: str, timeout: float = FRAME_TIMEOUT) -> dict[str, Any]:
        reply = await self.request(frame, timeout)
        assert reply.get("type") == reply_type, f"sent {frame!r:.300}\nexpected type {reply_type!r}, got {reply!r:.500}"
        return reply

    async def expect_error(self, frame: dict[str, Any], code: str, timeout: float = FRAME_TIMEOUT) -> dict[str, Any]:
        reply = await self.request(frame, timeout)
        assert reply.get("type") == "error" and reply.get("code") == code, (
            f"sent {frame!r:.300}\nexpected error {code!r}, got {reply!r:.500}"
        )
        assert isinstance(reply.get("message"), str), f"error frame without message: {reply!r}"
        return reply

    async def subscribe(self, channel: str, **extra: Any) -> dict[str, Any]:
        reply = await self.expect({"type": "subscribe", "channel": channel, **extra}, "subscribed")
        assert reply.get("channel") == channel, f"subscribed reply names another channel: {reply!r}"
        return reply

    async def publish(self, channel: str, data: Any) -> dict[str, Any]:
        return await self.expect({"type": "publish", "channel": channel, "data": data}, "published")

    # -- receiving
    async def wait(
        self,
        pred: Callable[[dict[str, Any]], bool],
        timeout: float = FRAME_TIMEOUT,
        desc: str = "frame",
    ) -> dict[str, Any]:
        async def inner() -> dict[str, Any]:
            async with self.cond:
                while True:
                    for i, f in enumerate(self.inbox):
                        if pred(f):
                            return self.inbox.pop(i)
                    if self.closed:
                        raise AssertionError(
                            f"connection closed (code={self.close_code} reason={self.close_reason!r}) "
                            f"while waiting for {desc}; unconsumed frames: {self.inbox!r:.1500}"
                        )
                    await self.cond.wait()

        try:
            return await asyncio.wait_for(inner(), timeout)
        except TimeoutError:
            raise AssertionError(
                f"timed out after {timeout}s waiting for {desc}; unconsumed frames: {self.inbox!r:.1500}"
            ) from None

    async def message(self, channel: str, timeout: float = FRAME_TIMEOUT) -> dict[str, Any]:
        return await self.wait(
            lambda f: f.get("type") == "message" and f.get("channel") == channel,
            timeout,
            f"push on {channel!r}",
        )

    async def messages(self, channel: str, count: int, timeout: float = FRAME_TIMEOUT) -> list[dict[str, Any]]:
        return [await self.message(channel, timeout) for _ in range(count)]

    def pending(self, pred: Callable[[dict[str, Any]], bool] = lambda f: True) -> list[dict[str, Any]]:
        return [f for f in self.inbox if pred(f)]

    async def wait_closed(self, timeout: float = FRAME_TIMEOUT) -> int | None:
        try:
            await asyncio.wait_for(asyncio.shield(self.reader), timeout)
        except TimeoutError:
            raise AssertionError(f"connection still open after {timeout}s; frames: {self.inbox!r:.800}") from None
        return self.close_code

    async def barrier(self, other: "WS", channel: str) -> None:
        """Publish a marker on `channel` (to which self is subscribed) from
        `other` and wait for it: everything published before it by `other`
        on the same connection has been delivered by then."""
        token = unique("barrier-")
        await other.publish(channel, {"barrier": token})
        await self.wait(
            lambda f: f.get("type") == "message" and f.get("channel") == channel
            and isinstance(f.get("data"), dict) and f["data"].get("barrier") == token,
            FRAME_TIMEOUT,
            f"barrier {token} on {channel}",
        )

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.conn.close(), 3)
        if not self.reader.done():
            self.reader.cancel()
            with contextlib.suppress(BaseException):
                await self.reader

    def abort(self) -> None:
        """Drop the TCP connection without a closing handshake."""
        transport = self.conn.transport
        if transport is not None:
            transport.abort()


async def open_ws(url: str, **kwargs: Any) -> WS:
    kwargs.setdefault("proxy", None)
    kwargs.setdefault("open_timeout", 5)
    kwargs.setdefault("close_timeout", 2)
    conn = await connect(url, **kwargs)
    return WS(conn)


@contextlib.asynccontextmanager
async def ws_clients(url: str, count: int = 1, **kwargs: Any):
    clients: list[WS] = []
    try:
        for _ in range(count):
            clients.append(await open_ws(url, **kwargs))
        yield clients if count > 1 else clients[0]
    finally:
        for c in clients:
            await c.close()


def run(coro, timeout: float = 30.0):
    """Run one async test body with a hard upper bound."""

    async def bounded():
        return await asyncio.wait_for(coro, timeout)

    return asyncio.run(bounded())


def is_message(channel: str) -> Callable[[dict[str, Any]], bool]:
    return lambda f: f.get("type") == "message" and f.get("channel") == channel
