"""JetStream mirrors and sources, replay at the original pace and the account's storage limits at
publish, with the stock nats-py client (issue 19). docs/protocols/nats.md "JetStream" maps each clause
to these tests; shapes and error codes are nats-server 2.9's (server/stream.go, server/errors.json)."""

from __future__ import annotations

import asyncio
import datetime
import threading
import time

import nats
import pytest
from nats.js import api
from nats.js.errors import APIError, NotFoundError

from interop import run, unique

TIMEOUT = 10.0


async def connect(server, **kwargs):
    kwargs.setdefault("connect_timeout", 3)
    kwargs.setdefault("allow_reconnect", False)
    return await nats.connect(server.nats_url, **kwargs)


async def until(check, timeout=TIMEOUT, what="condition"):
    """Polls `check` (an async callable) until it returns a true value."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = await check()
        if last:
            return last
        await asyncio.sleep(0.05)
    raise AssertionError(f"{what} not reached; last: {last!r}")


async def refused(make, err_code):
    with pytest.raises(APIError) as failure:
        await make()
    assert failure.value.err_code == err_code, failure.value
    return failure.value


def test_account_storage_and_memory_limits_refuse_publishes(make_server):
    """`jetstream_max_storage` / `jetstream_max_memory` hold what the account's streams store: a publish
    that would take the account past them gets nats-server 2.9's PubAck error (10002, "resource limits
    exceeded for account") and is not stored; account info never shows more than the limit."""
    srv = make_server({"nats": {"jetstream_max_storage": 2000, "jetstream_max_memory": 1000}})

    async def body():
        nc = await connect(srv)
        js = nc.jetstream()
        try:
            await js.add_stream(name="files", subjects=["files.>"])
            await js.add_stream(name="mem", subjects=["mem.>"], storage=api.StorageType.MEMORY)
            for subject, most in (("files.x", 2000), ("mem.x", 1000)):
                stored = 0
                for _ in range(100):
                    try:
                        await js.publish(subject, b"p" * 100)
                        stored += 1
                    except APIError as error:
                        assert (error.code, error.err_code) == (400, 10002), error
                        assert error.description == "resource limits exceeded for account"
                        break
                else:
                    raise AssertionError(f"{subject}: never refused")
                # Each record counts its topic (`files/x`), its 100 bytes and the store's overhead (file 30,
                # memory 16), as account info counts them.
                overhead = 30 if subject.startswith("files") else 16
                assert stored == most // (len(subject) + 100 + overhead), (subject, stored)
            info = await js.account_info()
            assert info.storage <= 2000 and info.memory <= 1000, info
            assert (await js.stream_info("files")).state.messages * 137 == info.storage
            # Room again once the stream is purged.
            await js.purge_stream("files")
            await js.publish("files.x", b"p" * 100)
        finally:
            await nc.close()

    run(body(), timeout=30)
