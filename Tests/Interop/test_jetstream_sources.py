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


def test_mirror_keeps_the_origin_sequences_and_nats_server_refusals(server):
    async def body():
        nc = await connect(server)
        js = nc.jetstream()
        origin, mirror = unique("MO"), unique("MM")
        try:
            await js.add_stream(name=origin, subjects=[f"{origin}.>"])
            for i in range(1, 6):
                await js.publish(f"{origin}.{'a' if i % 2 else 'b'}", f"m{i}".encode(), headers={"k": str(i)})
            await js.delete_msg(origin, 3)

            info = await js.add_stream(name=mirror, mirror=api.StreamSource(name=origin))
            assert info.config.mirror.name == origin and not info.config.subjects

            async def caught_up():
                info = await js.stream_info(mirror)
                return info if info.state.last_seq == 5 else None

            info = await until(caught_up, what="mirror at the origin's last sequence")
            # The origin's sequences, its hole included, its headers, no header added.
            assert (info.state.messages, info.state.first_seq) == (4, 1)
            got = await js.get_msg(mirror, 4)
            assert (got.seq, got.data, got.subject, got.headers["k"]) == (4, b"m4", f"{origin}.b", "4")
            assert "Nats-Stream-Source" not in (got.headers or {})
            with pytest.raises(NotFoundError):
                await js.get_msg(mirror, 3)
            assert info.mirror.name == origin and info.mirror.lag == 0 and info.mirror.active >= 0

            # It keeps going with the origin's new messages.
            await js.publish(f"{origin}.a", b"m6")
            await js.publish(f"{origin}.a", b"m7")

            async def seven():
                info = await js.stream_info(mirror)
                return info.state.last_seq == 7
            await until(seven, what="mirror follows the origin")

            # Consumers on a mirror work as on any stream (the filter is the origin's subjects').
            consumer = await js.pull_subscribe(f"{origin}.a", durable="reader", stream=mirror)
            got = await consumer.fetch(10, timeout=3)
            assert [m.data for m in got] == [b"m1", b"m5", b"m6", b"m7"]
            assert [m.metadata.sequence.stream for m in got] == [1, 5, 6, 7]
            for m in got:
                await m.ack()

            # A mirror from a start sequence, and one with a filter.
            late = unique("ML")
            await js.add_stream(name=late, mirror=api.StreamSource(name=origin, opt_start_seq=5))
            filtered = unique("MF")
            await js.add_stream(name=filtered, mirror=api.StreamSource(name=origin, filter_subject=f"{origin}.b"))

            async def both():
                a, b = await js.stream_info(late), await js.stream_info(filtered)
                return (a.state.messages, a.state.first_seq, b.state.messages, b.state.last_seq) == (3, 5, 2, 4)
            await until(both, what="start sequence and filter")

            # nats-server's refusals (server/errors.json).
            await refused(lambda: js.add_stream(name=unique("X"), subjects=["nope.>"],
                                                mirror=api.StreamSource(name=origin)), 10034)
            await refused(lambda: js.add_stream(name=unique("X"), mirror=api.StreamSource(name=origin),
                                                sources=[api.StreamSource(name=origin)]), 10031)
            await refused(lambda: js.add_stream(name=unique("X"), mirror=api.StreamSource(
                name=origin, opt_start_seq=2, opt_start_time=datetime.datetime.now(datetime.timezone.utc))), 10032)
            current = (await js.stream_info(mirror)).config
            await refused(lambda: js.update_stream(api.StreamConfig(
                name=mirror, mirror=api.StreamSource(name=late))), 10055)
            await refused(lambda: js.update_stream(api.StreamConfig(
                name=mirror, mirror=current.mirror, subjects=["nope.>"])), 10034)
            error = await refused(lambda: js.add_stream(name=unique("X"), mirror=api.StreamSource(
                name=origin, external=api.ExternalStream(api="$JS.other.API"))), 10052)
            assert "not supported" in error.description
            error = await refused(lambda: js.add_stream(name=unique("X"), mirror=api.StreamSource(
                name=origin, filter_subject="elsewhere.>")), 10052)
            assert "does not overlap" in error.description
            small = unique("MS")
            await js.add_stream(name=small, subjects=[f"{small}.>"], max_msg_size=512)
            await refused(lambda: js.add_stream(name=unique("X"), max_msg_size=100,
                                                mirror=api.StreamSource(name=small)), 10030)
            await refused(lambda: js.add_stream(name=unique("X"), max_msg_size=100,
                                                sources=[api.StreamSource(name=small)]), 10046)
            # A source cycle (through a stream that does not exist yet) is refused as nats-server does.
            first, second = unique("C"), unique("C")
            await js.add_stream(name=first, sources=[api.StreamSource(name=second)])
            error = await refused(lambda: js.add_stream(name=second, sources=[api.StreamSource(name=first)]), 10052)
            assert error.description == "detected cycle"
            # A mirror has no subjects: a publish with its name expected finds no stream of its own.
            await refused(lambda: js.publish(f"{origin}.a", b"x", stream=mirror), 10060)
        finally:
            await nc.close()

    run(body(), timeout=60)


def test_sources_copy_from_their_start_options_and_keep_going(server):
    async def body():
        nc = await connect(server)
        js = nc.jetstream()
        a, b, target = unique("SA"), unique("SB"), unique("ST")
        try:
            await js.add_stream(name=a, subjects=[f"{a}.>"])
            await js.add_stream(name=b, subjects=[f"{b}.>"])
            for i in range(1, 4):
                await js.publish(f"{a}.{i}", f"a{i}".encode(), headers={"Nats-Msg-Id": f"a{i}"})
            await js.publish(f"{b}.1", b"b1")
            await js.publish(f"{b}.2", b"b2")
            c = unique("SC")
            await js.add_stream(name=c, subjects=[f"{c}.>"])
            await js.publish(f"{c}.0", b"c0")

            info = await js.add_stream(name=target, subjects=[f"{target}.>"], sources=[
                api.StreamSource(name=a, opt_start_seq=2), api.StreamSource(name=b, filter_subject=f"{b}.2")])
            assert [s.name for s in info.config.sources] == [a, b]
            assert info.config.sources[0].opt_start_seq == 2
            assert info.config.sources[1].filter_subject == f"{b}.2"

            await until(lambda: _at_least(js, target, 3), what="sources copied")
            await js.publish(f"{target}.own", b"own")
            await js.publish(f"{a}.4", b"a4")
            await until(lambda: _at_least(js, target, 5), what="sources keep going")
            await asyncio.sleep(0.3)
            info = await js.stream_info(target)
            assert info.state.messages == 5
            assert sorted(s.name for s in info.sources) == sorted([a, b])
            assert all(s.lag == 0 and s.active >= 0 for s in info.sources)

            copied = {}
            for seq in range(1, 6):
                m = await js.get_msg(target, seq)
                copied[m.data] = (m.subject, (m.headers or {}).get("Nats-Stream-Source"))
            assert copied[b"a2"] == (f"{a}.2", f"{a} 2")
            assert copied[b"a3"] == (f"{a}.3", f"{a} 3")
            assert copied[b"b2"] == (f"{b}.2", f"{b} 2")
            assert copied[b"a4"] == (f"{a}.4", f"{a} 4")
            assert copied[b"own"] == (f"{target}.own", None)

            # A push consumer on the sourcing stream, filtered to a source's subjects.
            sub = await js.subscribe(f"{a}.>", stream=target, durable="pushed")
            seen = []
            for _ in range(3):
                msg = await sub.next_msg(timeout=3)
                seen.append(msg.data)
                await msg.ack()
            assert seen == [b"a2", b"a3", b"a4"]

            # A source added by an update to a stream holding messages starts after the stream's newest
            # (nats-server's fallback: c0 is older, c1 newer); the others go on where they were.
            await js.publish(f"{c}.1", b"c1")
            config = (await js.stream_info(target)).config
            config.sources = config.sources + [api.StreamSource(name=c)]
            await js.update_stream(config)
            await until(lambda: _at_least(js, target, 6), what="added source copied")
            await asyncio.sleep(0.3)
            assert (await js.stream_info(target)).state.messages == 6
            assert (await js.get_msg(target, 6)).data == b"c1"
        finally:
            await nc.close()

    run(body(), timeout=60)


async def _at_least(js, stream, count):
    return (await js.stream_info(stream)).state.messages >= count


def test_source_from_a_start_time(server):
    """nats.py's test_stream_source_opt_start_time, here with a unique name."""
    async def body():
        nc = await connect(server)
        js = nc.jetstream()
        origin, target = unique("TO"), unique("TT")
        try:
            await js.add_stream(name=origin, subjects=[f"{origin}.>"])
            await js.publish(f"{origin}.1", b"before")
            await js.publish(f"{origin}.2", b"before")
            await asyncio.sleep(0.1)
            midpoint = datetime.datetime.now(datetime.timezone.utc)
            await asyncio.sleep(0.1)
            await js.publish(f"{origin}.3", b"after")
            await js.publish(f"{origin}.4", b"after")
            await js.add_stream(name=target, sources=[api.StreamSource(name=origin, opt_start_time=midpoint)])
            await until(lambda: _at_least(js, target, 2), what="copied from the start time")
            await asyncio.sleep(0.3)
            info = await js.stream_info(target)
            assert info.state.messages == 2
            assert isinstance(info.config.sources[0].opt_start_time, datetime.datetime)
            assert [(await js.get_msg(target, s)).data for s in (1, 2)] == [b"after", b"after"]
        finally:
            await nc.close()

    run(body(), timeout=30)


def test_sources_and_mirrors_resume_across_restart_and_kill9_without_duplicates(make_server):
    """Where a source stands is read back from its stream's `Nats-Stream-Source` headers (a mirror's from
    its newest sequence), so after a graceful restart and after kill -9 the copying goes on with what the
    origin got meanwhile, and nothing is copied twice."""
    from test_jetstream import js_publish_until_stopped
    from test_streams import kill9_once_answered

    srv = make_server()
    origin, target, mirror = unique("RO"), unique("RS"), unique("RM")

    async def setup():
        nc = await connect(srv)
        js = nc.jetstream()
        try:
            await js.add_stream(name=origin, subjects=[f"{origin}.>"])
            await js.add_stream(name=target, sources=[api.StreamSource(name=origin)])
            await js.add_stream(name=mirror, mirror=api.StreamSource(name=origin))
            for i in range(30):
                await js.publish(f"{origin}.x", f"p{i}".encode())
            await until(lambda: _at_least(js, target, 30), what="sourced before the restart")
        finally:
            await nc.close()

    async def complete(expected_origin_count=None):
        nc = await connect(srv)
        js = nc.jetstream()
        try:
            origin_info = await js.stream_info(origin)
            last = origin_info.state.last_seq
            if expected_origin_count is not None:
                assert last >= expected_origin_count

            async def caught_up():
                t, m = await js.stream_info(target), await js.stream_info(mirror)
                return t.state.messages >= last and m.state.last_seq >= last

            await until(caught_up, timeout=20, what="caught up after the restart")
            await asyncio.sleep(0.5)
            info = await js.stream_info(target)
            sources = []
            for seq in range(1, info.state.last_seq + 1):
                m = await js.get_msg(target, seq)
                sources.append(int(m.headers["Nats-Stream-Source"].split()[1]))
            # Every origin message once, in order: no duplicate, none missing.
            assert sources == list(range(1, last + 1)), sources
            m = await js.stream_info(mirror)
            assert (m.state.messages, m.state.last_seq) == (last, last)
            return last
        finally:
            await nc.close()

    run(setup(), timeout=60)
    srv.stop()
    srv.start()

    async def more():
        nc = await connect(srv)
        js = nc.jetstream()
        try:
            for i in range(30, 40):
                await js.publish(f"{origin}.x", f"p{i}".encode())
        finally:
            await nc.close()

    run(more(), timeout=30)
    run(complete(40), timeout=60)

    acknowledged: list[tuple[int, bytes]] = []
    stop = threading.Event()

    kill9_once_answered(srv, js_publish_until_stopped(srv, f"{origin}.y", stop, acknowledged), stop, acknowledged)
    run(complete(acknowledged[-1][0]), timeout=60)


def test_replay_original_keeps_the_gaps_then_delivers_as_they_come(server):
    """`replay_policy: original` (nats-server's semantics): what the stream held when the consumer was made
    goes out with the gaps it was stored with; once caught up, new messages go as they come. Timings are
    bounded loosely: gaps of 0.6 s must come out at least 0.4 s apart, an instant consumer's at once."""
    async def body():
        nc = await connect(server)
        js = nc.jetstream()
        name = unique("RP")
        try:
            await js.add_stream(name=name, subjects=[f"{name}.>"])
            for i in range(3):
                if i:
                    await asyncio.sleep(0.6)
                await js.publish(f"{name}.x", f"r{i}".encode())

            # Pull: a batch of 3 takes the gaps.
            paced = await js.pull_subscribe(
                f"{name}.x", durable="paced", config=api.ConsumerConfig(replay_policy=api.ReplayPolicy.ORIGINAL))
            info = await js.consumer_info(name, "paced")
            assert info.config.replay_policy == api.ReplayPolicy.ORIGINAL
            arrivals = []
            started = time.monotonic()
            while len(arrivals) < 3:
                for m in await paced.fetch(1, timeout=5):
                    arrivals.append(time.monotonic() - started)
                    await m.ack()
            assert arrivals[1] - arrivals[0] >= 0.4 and arrivals[2] - arrivals[1] >= 0.4, arrivals
            assert arrivals[2] < 5, arrivals

            # Push: the same gaps.
            sub = await js.subscribe(
                f"{name}.x", durable="pushed", config=api.ConsumerConfig(replay_policy=api.ReplayPolicy.ORIGINAL))
            times = []
            for _ in range(3):
                msg = await sub.next_msg(timeout=5)
                times.append(time.monotonic())
                await msg.ack()
            assert times[1] - times[0] >= 0.4 and times[2] - times[1] >= 0.4, times

            # Caught up: a new message goes at once, however long after the last it was stored.
            await asyncio.sleep(1.0)
            sent = time.monotonic()
            await js.publish(f"{name}.x", b"late")
            msg = await sub.next_msg(timeout=5)
            assert msg.data == b"late" and time.monotonic() - sent < 0.5

            # An instant consumer gets them without the gaps.
            fast = await js.pull_subscribe(f"{name}.x", durable="fast")
            started = time.monotonic()
            got = await fast.fetch(4, timeout=5)
            assert len(got) == 4 and time.monotonic() - started < 0.5
        finally:
            await nc.close()

    run(body(), timeout=60)


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
