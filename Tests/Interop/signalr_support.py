"""SignalR helpers for the interop tests: a raw hub-protocol client over `websockets` (JSON text frames
with the record separator) for the protocol-level checks, and thin wrappers that run the stock clients
(pysignalr, asyncio; signalrcore, threads) against a hub and collect what they receive."""

from __future__ import annotations

import asyncio
import json
import threading
from typing import Any

from websockets.asyncio.client import connect

RS = "\x1e"
HUB = "/hubs/switchboard"


def hub_url(server: Any, hub: str = "switchboard") -> str:
    return f"{server.http_url}/hubs/{hub}"


class RawHub:
    """One WebSocket to a hub speaking the JSON protocol by hand."""

    def __init__(self, server: Any, query: str = "", headers: dict[str, str] | None = None) -> None:
        self.url = server.ws_url.replace("/ws", HUB) + query
        self.headers = headers or {}
        self.pending: list[dict[str, Any]] = []

    async def __aenter__(self) -> "RawHub":
        self.ws = await connect(self.url, additional_headers=self.headers, open_timeout=5)
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.ws.close()

    async def handshake(self, protocol: str = "json", version: int = 1) -> dict[str, Any]:
        await self.ws.send(json.dumps({"protocol": protocol, "version": version}) + RS)
        return await self.next()

    async def send(self, message: dict[str, Any]) -> None:
        await self.ws.send(json.dumps(message) + RS)

    async def send_raw(self, text: str | bytes) -> None:
        await self.ws.send(text)

    async def next(self, timeout: float = 5.0) -> dict[str, Any]:
        while not self.pending:
            frame = await asyncio.wait_for(self.ws.recv(), timeout)
            assert isinstance(frame, str), frame
            assert frame.endswith(RS), frame
            self.pending += [json.loads(part) for part in frame.split(RS) if part]
        return self.pending.pop(0)

    async def next_of_type(self, kind: int, timeout: float = 5.0) -> dict[str, Any]:
        while True:
            message = await self.next(timeout)
            if message.get("type") == kind:
                return message

    async def invoke(self, target: str, *arguments: Any, invocation_id: str = "1") -> dict[str, Any]:
        await self.send({"type": 1, "invocationId": invocation_id, "target": target, "arguments": list(arguments)})
        while True:
            message = await self.next_of_type(3)
            if message["invocationId"] == invocation_id:
                return message


class CoreClient:
    """signalrcore (threads): started, with every `Receive` collected."""

    def __init__(
        self, url: str, messagepack: bool = False, token: str | None = None, transport: str | None = None
    ) -> None:
        from signalrcore.hub_connection_builder import HubConnectionBuilder
        from signalrcore.protocol.messagepack_protocol import MessagePackHubProtocol
        from signalrcore.types import HttpTransportType

        options: dict[str, Any] = {"access_token_factory": (lambda: token)} if token else {}
        if transport:
            # "web_sockets", "server_sent_events" or "long_polling"
            options["transport"] = HttpTransportType[transport]
        builder = HubConnectionBuilder().with_url(url, options=options)
        if messagepack:
            builder = builder.with_hub_protocol(MessagePackHubProtocol())
        self.hub = builder.build()
        self.received: list[Any] = []
        self.arrived = threading.Condition()
        self.opened = threading.Event()
        self.hub.on("Receive", self._on_receive)
        self.hub.on_open(self.opened.set)

    def _on_receive(self, args: Any) -> None:
        with self.arrived:
            self.received.append(args)
            self.arrived.notify_all()

    def start(self) -> "CoreClient":
        self.hub.start()
        assert self.opened.wait(5), "signalrcore did not connect"
        return self

    def invoke(self, target: str, arguments: list[Any]) -> Any:
        done = threading.Event()
        results: list[Any] = []

        def on_invocation(message: Any) -> None:
            results.append(message)
            done.set()

        self.hub.send(target, arguments, on_invocation=on_invocation)
        assert done.wait(5), f"no completion for {target}"
        return results[0]

    def wait_received(self, count: int, timeout: float = 5.0) -> list[Any]:
        with self.arrived:
            assert self.arrived.wait_for(lambda: len(self.received) >= count, timeout), self.received
            return list(self.received)

    def stop(self) -> None:
        self.hub.stop()
