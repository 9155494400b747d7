"""Socket.IO clients for the interop tests: python-socketio's AsyncClient (the stock client) with an
event inbox, and a raw Engine.IO v4 / Socket.IO v5 client over `websockets` for what python-socketio
does not do (connection state recovery's pid/offset, malformed packets)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import socketio
import websockets

from interop import FRAME_TIMEOUT

TRANSPORTS = {
    "polling": ["polling"],
    "websocket": ["websocket"],
    # The default: polling first, then the upgrade to WebSocket.
    "upgrade": ["polling", "websocket"],
}


class Stock:
    """python-socketio's AsyncClient; every event lands in `inbox` as (namespace, event, args)."""

    def __init__(self, url: str, transports: list[str], namespaces: list[str] | None = None,
                 auth: dict[str, Any] | None = None) -> None:
        self.url = url
        self.transports = transports
        self.namespaces = namespaces or ["/"]
        self.auth = auth
        self.client = socketio.AsyncClient(reconnection=False)
        self.inbox: asyncio.Queue[tuple[str, str, tuple[Any, ...]]] = asyncio.Queue()
        self.client.on("*", self._any, namespace="*")

    async def _any(self, event: str, namespace: str, *args: Any) -> None:
        await self.inbox.put((namespace, event, args))

    async def __aenter__(self) -> "Stock":
        await self.client.connect(self.url, transports=self.transports, namespaces=self.namespaces,
                                  auth=self.auth, wait_timeout=5)
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.client.disconnect()

    @property
    def transport(self) -> str:
        return self.client.transport()

    async def call(self, event: str, *args: Any, namespace: str = "/") -> Any:
        return await self.client.call(event, args[0] if len(args) == 1 else args, namespace=namespace,
                                      timeout=FRAME_TIMEOUT)

    async def subscribe(self, channel: str, namespace: str = "/", **options: Any) -> dict[str, Any]:
        answer = await self.call("subscribe", {"channel": channel, **options}, namespace=namespace)
        assert "error" not in answer, answer
        return answer

    async def event(self, name: str | None = None, namespace: str | None = None,
                    timeout: float = FRAME_TIMEOUT) -> tuple[str, str, tuple[Any, ...]]:
        """The next event (skipping others when a name or namespace is given)."""
        async def next_matching():
            while True:
                item = await self.inbox.get()
                if (name is None or item[1] == name) and (namespace is None or item[0] == namespace):
                    return item
        return await asyncio.wait_for(next_matching(), timeout)

    async def no_event(self, name: str, within: float = 0.3) -> None:
        """No `name` event arrives within `within` seconds (others are dropped)."""
        try:
            item = await self.event(name, timeout=within)
        except asyncio.TimeoutError:
            return
        raise AssertionError(f"unexpected event {item!r}")


class Raw:
    """Engine.IO v4 over one WebSocket, Socket.IO packets by hand. Pings are answered; every other
    Socket.IO packet goes to `packets` as its text (binary attachments as bytes)."""

    def __init__(self, conn: websockets.ClientConnection) -> None:
        self.conn = conn
        self.packets: asyncio.Queue[str | bytes] = asyncio.Queue()
        self.handshake: dict[str, Any] = {}
        self.closed = asyncio.Event()
        self._ack = 0
        self.reader: asyncio.Task[None] | None = None

    @classmethod
    async def open(cls, http_url: str, path: str = "/socket.io/") -> "Raw":
        url = http_url.replace("http://", "ws://") + path + "?EIO=4&transport=websocket"
        raw = cls(await websockets.connect(url, max_size=None))
        first = await asyncio.wait_for(raw.conn.recv(), FRAME_TIMEOUT)
        assert isinstance(first, str) and first.startswith("0"), first
        raw.handshake = json.loads(first[1:])
        raw.reader = asyncio.create_task(raw._read())
        return raw

    async def _read(self) -> None:
        try:
            async for frame in self.conn:
                if frame == "2":
                    await self.conn.send("3")
                elif isinstance(frame, bytes):
                    await self.packets.put(frame)
                elif frame.startswith("4"):
                    await self.packets.put(frame[1:])
                else:
                    await self.packets.put("engine:" + frame)
        except websockets.ConnectionClosed:
            pass
        finally:
            self.closed.set()

    async def send(self, socketio_text: str) -> None:
        await self.conn.send("4" + socketio_text)

    async def next(self, timeout: float = FRAME_TIMEOUT) -> str | bytes:
        return await asyncio.wait_for(self.packets.get(), timeout)

    async def connect(self, namespace: str = "/", auth: dict[str, Any] | None = None) -> dict[str, Any]:
        prefix = "" if namespace == "/" else namespace + ","
        await self.send("0" + prefix + (json.dumps(auth) if auth is not None else ""))
        answer = await self.next()
        assert isinstance(answer, str) and answer.startswith("0" + prefix), answer
        return json.loads(answer[1 + len(prefix):])

    async def call(self, event: str, *args: Any, namespace: str = "/") -> list[Any]:
        """Emits with an ack id; returns the ack's arguments (events arriving meanwhile stay queued)."""
        self._ack += 1
        ack = self._ack
        prefix = "" if namespace == "/" else namespace + ","
        await self.send(f"2{prefix}{ack}" + json.dumps([event, *args]))
        held: list[str | bytes] = []
        try:
            while True:
                packet = await self.next()
                if isinstance(packet, str) and packet.startswith(f"3{prefix}{ack}["):
                    return json.loads(packet[len(f"3{prefix}{ack}"):])
                held.append(packet)
        finally:
            for packet in held:
                self.packets.put_nowait(packet)

    async def event(self, timeout: float = FRAME_TIMEOUT, presence: bool = False) -> list[Any]:
        """The next EVENT's arguments (name first); presence `join`/`leave` events are skipped unless asked."""
        while True:
            packet = await self.next(timeout)
            if isinstance(packet, str) and packet.startswith("2"):
                text = packet[1:]
                if text.startswith("/"):
                    text = text[text.index(",") + 1:]
                args = json.loads(text[text.index("["):])
                if presence or args[0] not in ("join", "leave"):
                    return args

    async def drop(self) -> None:
        """Loses the transport without a Socket.IO or Engine.IO goodbye (a dead network)."""
        self.conn.transport.abort()
        await asyncio.wait_for(self.closed.wait(), FRAME_TIMEOUT)

    async def close(self) -> None:
        await self.conn.close()
