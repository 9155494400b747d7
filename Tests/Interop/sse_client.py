"""An SSE stream read with the stock `httpx-sse` client (httpx's async API), in a background task
that queues every event, so tests wait for events with bounded timeouts. Close by cancelling."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from typing import Any

import httpx
from httpx_sse import ServerSentEvent, aconnect_sse

from interop import FRAME_TIMEOUT


@dataclass
class Event:
    event: str
    data: str
    id: str
    retry: int | None

    @staticmethod
    def of(sse: ServerSentEvent) -> "Event":
        return Event(sse.event, sse.data, sse.id, sse.retry)

    def json(self) -> Any:
        import json

        return json.loads(self.data)


class SSEStream:
    def __init__(self, url: str, headers: dict[str, str] | None = None) -> None:
        self.url = url
        self.headers = dict(headers or {})
        self.queue: asyncio.Queue[Event | None] = asyncio.Queue()
        self.status: int | None = None
        self.response_headers: httpx.Headers | None = None
        self.ended = asyncio.Event()
        self.opened = asyncio.Event()
        self.error: BaseException | None = None
        self.client = httpx.AsyncClient(timeout=httpx.Timeout(5.0, read=None), trust_env=False)
        self.task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        try:
            async with aconnect_sse(self.client, "GET", self.url, headers=self.headers) as source:
                self.status = source.response.status_code
                self.response_headers = source.response.headers
                self.opened.set()
                if self.status != 200:
                    await source.response.aread()
                    return
                async for sse in source.aiter_sse():
                    await self.queue.put(Event.of(sse))
        except (httpx.HTTPError, httpx.StreamError) as exc:
            self.error = exc
        finally:
            self.opened.set()
            self.ended.set()
            await self.queue.put(None)

    async def wait_open(self, timeout: float = FRAME_TIMEOUT) -> "SSEStream":
        await asyncio.wait_for(self.opened.wait(), timeout)
        return self

    async def next(self, timeout: float = FRAME_TIMEOUT, skip_empty: bool = True) -> Event:
        """The next event. Id-only events (no data: they set the position, the browser does not
        dispatch them) are skipped unless skip_empty is False."""
        while True:
            event = await asyncio.wait_for(self.queue.get(), timeout)
            if event is None:
                await self.queue.put(None)
                raise EOFError(f"stream ended (error: {self.error!r})")
            if skip_empty and event.data == "" and event.event == "message":
                continue
            return event

    async def events(self, count: int, timeout: float = FRAME_TIMEOUT, types: set[str] | None = None) -> list[Event]:
        """The next `count` events (of `types` when given; others are dropped)."""
        out: list[Event] = []

        async def collect() -> None:
            while len(out) < count:
                event = await self.next(timeout)
                if types is None or event.event in types:
                    out.append(event)

        await asyncio.wait_for(collect(), timeout)
        return out

    async def nothing_more(self, seconds: float = 0.5, types: set[str] | None = None) -> None:
        """Asserts no event (of `types` when given) arrives within `seconds`: a recovery sent nothing twice."""
        try:
            extra = await self.events(1, timeout=seconds, types=types)
        except asyncio.TimeoutError:
            extra = []
        assert extra == [], f"duplicates after recovery: {extra}"

    async def position(self, timeout: float = FRAME_TIMEOUT) -> str:
        """The id of the opening id-only event."""
        event = await self.next(timeout, skip_empty=False)
        assert event.data == "" and event.id, event
        return event.id

    async def wait_ended(self, timeout: float = FRAME_TIMEOUT) -> None:
        await asyncio.wait_for(self.ended.wait(), timeout)

    async def close(self) -> None:
        self.task.cancel()
        with contextlib.suppress(BaseException):
            await self.task
        await self.client.aclose()


@contextlib.asynccontextmanager
async def sse(url: str, headers: dict[str, str] | None = None):
    stream = SSEStream(url, headers)
    try:
        await stream.wait_open()
        yield stream
    finally:
        await stream.close()


async def connection_id(stream: SSEStream) -> str:
    assert stream.response_headers is not None
    return stream.response_headers["x-switchboard-connection"]
