"""A round-robin HTTP/1.1 splitter for the scale-out tests: every request goes to the next instance in
turn (no stickiness, not even per connection), as a load balancer without session affinity would send
them. One request per client connection (answered with `Connection: close`), on its own thread. A
WebSocket upgrade keeps its `Connection: Upgrade` and, once upgraded, its bytes are relayed both ways.
`pick(request_line)` may choose the instance (an index) for a request; None: the next in turn."""

from __future__ import annotations

import asyncio
import itertools
import threading
from typing import Callable

from interop import free_port


class Splitter:
    def __init__(self, ports: list[int], pick: Callable[[str], int | None] | None = None) -> None:
        self.port = free_port()
        self.ports = ports
        self.pick = pick
        self._next = itertools.cycle(range(len(ports)))
        self.sent_to: list[int] = []
        # (request line, instance index) of every WebSocket upgrade relayed.
        self.upgrades: list[tuple[str, int]] = []
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> "Splitter":
        self._thread.start()
        assert self._ready.wait(5)
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    async def _shutdown(self) -> None:
        """Ends the requests still relayed (a long poll the client left waiting)."""
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(asyncio.start_server(self._serve, "127.0.0.1", self.port))
        self._ready.set()
        self._loop.run_forever()
        server.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            upgrade = any(line.lower().startswith("upgrade:") for line in lines[1:])
            kept = [line for line in lines[1:] if line and (upgrade or not line.lower().startswith("connection:"))]
            length = next((int(line.split(":", 1)[1]) for line in kept if line.lower().startswith("content-length:")), 0)
            body = await reader.readexactly(length) if length else b""
            chosen = self.pick(lines[0]) if self.pick else None
            index = chosen if chosen is not None else next(self._next)
            self.sent_to.append(index)
            if upgrade:
                self.upgrades.append((lines[0], index))
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.ports[index])
            ending = [] if upgrade else ["Connection: close"]
            up_writer.write(("\r\n".join([lines[0], *kept, *ending, "", ""])).encode("latin-1") + body)
            await up_writer.drain()
            if upgrade:
                # Both ways until either side ends (the client's frames after the 101).
                await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer), return_exceptions=True)
            else:
                await _pipe(up_reader, writer)
            up_writer.close()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


async def _pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
    try:
        while chunk := await source.read(65536):
            sink.write(chunk)
            await sink.drain()
    finally:
        if not sink.is_closing():
            sink.close()
