"""JetStream durable consumers across several instances on one PostgreSQL database (issue 24,
`shared_instances=true`; docs/storage.md "JetStream durable consumers are served by one instance at a
time"), with nats-py against two `switchboard serve` processes: a durable consumer is served by one
instance at a time. A pull on the other instance gets nats-server's `409 Leadership Change` status (the
consumer is served elsewhere; nats-py's `fetch` treats a 409 as temporary) until the holder deletes the
consumer or dies; the next instance to serve it resumes after the ack floor the store holds, so after
`kill -9` only what was not acknowledged comes again.

Streams are written by one instance (docs/storage.md), so each test writes its stream on A before B
starts and reads it at start.
"""

from __future__ import annotations

import asyncio
import time

import nats
import pytest
from nats.errors import TimeoutError as NATSTimeoutError
from nats.js import api
from nats.js.errors import NotFoundError

from interop import run, unique
from test_storage_crash import kill9
from test_storage_postgres import PostgresServer, postgres  # noqa: F401  (the fixture)

TIMEOUT = 5.0


async def connect(server):
    return await nats.connect(server.nats_url, connect_timeout=3, allow_reconnect=False)


async def pull_status(nc, stream: str, durable: str) -> tuple[str | None, str | None, bytes]:
    """One raw `CONSUMER.MSG.NEXT` with `no_wait`: the reply's status and description (None: a message).
    The reply goes to an inbox of its own, as nats-py's `fetch` does it."""
    inbox = nc.new_inbox()
    sub = await nc.subscribe(inbox)
    await nc.publish(f"$JS.API.CONSUMER.MSG.NEXT.{stream}.{durable}", b'{"batch":1,"no_wait":true}', reply=inbox)
    msg = await sub.next_msg(timeout=TIMEOUT)
    await sub.unsubscribe()
    headers = msg.headers or {}
    return headers.get("Status"), headers.get("Description"), msg.data


def wait_for_floor(postgres: PostgresServer, stream: str, offset: int) -> None:  # noqa: F811
    """Waits until the consumer's committed ack floor (+ 1) in the store is `offset`."""
    deadline = time.monotonic() + 10
    query = f"SELECT max(\"offset\") FROM stream_consumer_offset WHERE stream = '{stream}'"
    while time.monotonic() < deadline:
        if postgres.sql(query) == str(offset):
            return
        time.sleep(0.05)
    pytest.fail(f"the ack floor never reached {offset - 1}: {postgres.sql(query)!r}")


def setup(make_server, postgres: PostgresServer, count: int):  # noqa: F811
    """A with stream `name` holding `m0`…`m<count-1>` and durable pull consumer `workers`; then B."""
    url = postgres.url + "&shared_instances=true"
    a = make_server(args=["--storage", url])
    name = unique("JS").replace("-", "_")

    async def body():
        nc = await connect(a)
        js = nc.jetstream()
        await js.add_stream(name=name, subjects=[f"{name}.>"])
        for i in range(count):
            await js.publish(f"{name}.job", f"m{i}".encode())
        await js.add_consumer(name, config=api.ConsumerConfig(durable_name="workers", ack_wait=60))
        await nc.close()

    run(body())
    b = make_server(args=["--storage", url])
    return a, b, name


def test_a_durable_consumer_is_served_by_one_instance_and_moves_after_kill9(make_server, postgres):  # noqa: F811
    a, b, name = setup(make_server, postgres, 10)

    async def on_a():
        nc = await connect(a)
        sub = await nc.jetstream().pull_subscribe_bind("workers", stream=name)
        msgs = await sub.fetch(4, timeout=TIMEOUT)
        assert [m.data for m in msgs] == [b"m0", b"m1", b"m2", b"m3"]
        for m in msgs:
            await m.ack()
        await nc.flush()
        # Delivered and not acknowledged: these come again after the takeover.
        held = await sub.fetch(3, timeout=TIMEOUT)
        assert [m.data for m in held] == [b"m4", b"m5", b"m6"]
        return nc

    async def on_b_refused():
        nc = await connect(b)
        status, description, _ = await pull_status(nc, name, "workers")
        assert (status, description) == ("409", "Leadership Change")
        # nats-py's own fetch sees a temporary error: nothing delivered.
        sub = await nc.jetstream().pull_subscribe_bind("workers", stream=name)
        with pytest.raises(NATSTimeoutError):
            await sub.fetch(1, timeout=1)
        await nc.close()

    async def on_b_after():
        nc = await connect(b)
        sub = await nc.jetstream().pull_subscribe_bind("workers", stream=name)
        got = []
        while len(got) < 6:
            batch = await sub.fetch(6 - len(got), timeout=TIMEOUT)
            got += batch
        assert [m.data for m in got] == [f"m{i}".encode() for i in range(4, 10)]
        for m in got:
            await m.ack()
        await nc.flush()
        with pytest.raises(NATSTimeoutError):
            await sub.fetch(1, timeout=1)
        await nc.close()

    loop = asyncio.new_event_loop()
    try:
        nc_a = loop.run_until_complete(on_a())
        wait_for_floor(postgres, name, 5)  # floor 4 (m0…m3 acknowledged), committed on A
        loop.run_until_complete(on_b_refused())
        kill9(a)  # with m4…m6 delivered on A and not acknowledged
        loop.run_until_complete(on_b_after())
        wait_for_floor(postgres, name, 11)
        del nc_a
    finally:
        loop.close()


async def eventually(probe, what: str, timeout: float = TIMEOUT):
    """Awaits `probe()` until it returns something other than None (it may raise meanwhile)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            found = await probe()
            if found is not None:
                return found
        except Exception:  # noqa: BLE001  (not there yet)
            pass
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.1)


async def consumer_missing(js, stream: str, durable: str):
    """The JetStream error code of `CONSUMER.INFO` (None while the consumer is there)."""
    try:
        await js.consumer_info(stream, durable)
        return None
    except NotFoundError as error:
        return error.err_code


def test_consumers_created_and_deleted_on_a_are_seen_on_b(make_server, postgres):  # noqa: F811
    """A consumer created on A after B started is known on B (info and list), and one A deletes is gone
    on B: `10014 consumer not found`, as for any consumer not there (`switchboard_jetstream_consumer`
    carries both). B serves the new one from its start; A never served it."""
    a, b, name = setup(make_server, postgres, 3)

    async def body():
        nc_a = await connect(a)
        nc_b = await connect(b)
        js_a, js_b = nc_a.jetstream(), nc_b.jetstream()
        await js_a.add_consumer(
            name, config=api.ConsumerConfig(durable_name="late", ack_wait=30, filter_subject=f"{name}.job")
        )
        info = await eventually(lambda: js_b.consumer_info(name, "late"), "B never learned of A's consumer")
        assert info.config.durable_name == "late" and info.config.filter_subject == f"{name}.job"
        assert info.config.ack_wait == 30
        assert {c.name for c in await js_b.consumers_info(name)} == {"workers", "late"}

        status, _, data = await pull_status(nc_a, name, "workers")
        assert status is None and data == b"m0"  # A serves it now
        assert (await pull_status(nc_b, name, "workers"))[:2] == ("409", "Leadership Change")
        await js_a.delete_consumer(name, "workers")
        code = await eventually(lambda: consumer_missing(js_b, name, "workers"), "A's deletion never reached B")
        assert code == 10014
        assert (await pull_status(nc_b, name, "workers"))[0] == "404"
        assert {c.name for c in await js_b.consumers_info(name)} == {"late"}

        status, _, data = await pull_status(nc_b, name, "late")
        assert status is None and data == b"m0", (status, data)
        await nc_a.close()
        await nc_b.close()

    run(body())


def test_consumers_created_and_deleted_while_bs_listening_connection_is_down_are_caught_up(
    make_server, postgres  # noqa: F811
):
    """B's listening (ownership) connection is cut, and while B reconnects (a second later) A deletes
    `workers` and creates `late`: their notifications never reach B. Back, B reads `_jetstream_consumers`
    as the store holds it, so `workers` is `10014 consumer not found` on B and `late` is there."""
    a, b, name = setup(make_server, postgres, 3)

    async def body():
        nc_a = await connect(a)
        nc_b = await connect(b)
        js_a, js_b = nc_a.jetstream(), nc_b.jetstream()
        assert (await js_b.consumer_info(name, "workers")).config.durable_name == "workers"
        # B started second, so it holds slot 1; its ownership connection holds that slot's advisory lock.
        ended = postgres.sql(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_locks WHERE locktype = 'advisory' AND objsubid = 2 "
            "AND classid = 21346 AND objid = 1")
        assert ended == "1", ended
        await js_a.delete_consumer(name, "workers")
        await js_a.add_consumer(name, config=api.ConsumerConfig(durable_name="late", ack_wait=30))
        code = await eventually(
            lambda: consumer_missing(js_b, name, "workers"), "the deletion missed by B stayed missed", timeout=10)
        assert code == 10014
        info = await eventually(
            lambda: js_b.consumer_info(name, "late"), "the consumer created while B was not listening", timeout=10)
        assert info.config.ack_wait == 30
        assert {c.name for c in await js_b.consumers_info(name)} == {"late"}
        await nc_a.close()
        await nc_b.close()

    run(body())
