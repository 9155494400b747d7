"""Helpers for the NATS interop tests."""

from __future__ import annotations

import asyncio
import contextlib
import time

import nats

TIMEOUT = 5.0


def topic_of(subject: str, queue: str | None = None) -> str:
    """The bus filter a SUB subject becomes (docs/topics.md), as /api/channels lists it."""
    levels = ["+" if t == "*" else "#" if t == ">" else t.replace("%2E", ".") for t in subject.split(".")]
    topic = "/".join(levels)
    return f"$share/{queue}/{topic}" if queue else topic


async def subscribed(server, nc, subject: str, queue: str | None = None, count: int = 1) -> None:
    """Waits until the server holds `count` subscriptions on `subject`. nats-py's flush() is no barrier
    for a new subscription: it writes its PING straight to the socket while the SUB may still wait in the
    client's pending buffer, so the PONG can come back before the server has seen the SUB."""
    await nc.flush()
    want = topic_of(subject, queue)
    deadline = time.monotonic() + TIMEOUT
    while True:
        rows = (await server.ahttp("GET", "/api/channels")).json()["channels"]
        if any(r["channel"] == want and r["subscribers"] >= count for r in rows):
            return
        assert time.monotonic() < deadline, f"{want} not subscribed: {rows}"
        await asyncio.sleep(0.02)


@contextlib.asynccontextmanager
async def ping_responder(url: str, subject: str = "svc.ping", settle: float = 0.3):
    """A NATS client on `url` answering each request on `subject` with `pong:` + its data, given `settle`
    seconds for its interest to reach the other instances (the scale-out tests ask it from another one)."""
    responder = await nats.connect(url)

    async def answer(msg):
        await msg.respond(b"pong:" + msg.data)

    await responder.subscribe(subject, cb=answer)
    await responder.flush()
    await asyncio.sleep(settle)
    try:
        yield responder
    finally:
        await responder.close()


@contextlib.asynccontextmanager
async def upper_responder(server, subject: str):
    """A nats-py responder on `subject` of `server` answering each request with its data upper-cased
    (`msg.respond`), subscribed once the server lists it; yields the reply subjects it answered."""
    nc = await nats.connect(server.nats_url)
    answered: list[str] = []

    async def answer(msg):
        answered.append(msg.reply)
        await msg.respond(msg.data.upper())

    try:
        await nc.subscribe(subject, cb=answer)
        await subscribed(server, nc, subject)
        yield answered
    finally:
        await nc.close()
