"""NATS JetStream on the bus's streams with the stock nats-py client (issue 19): the stream API
(create/update/info/list/names/purge/delete, errors with nats-server's codes), PubAcks with
`Nats-Msg-Id` deduplication and the `Nats-Expected-*` headers, message get/delete, pull consumers
(fetch, ack, NAK, ack-wait redelivery, max_deliver, deliver policies), and an MQTT publish read as a
JetStream message. docs/protocols/nats.md "JetStream" maps each API subject to these tests."""

from __future__ import annotations

import asyncio
import json
import threading

import nats
import pytest
from nats.errors import TimeoutError as NATSTimeoutError
from nats.js import api
from nats.js.errors import APIError, BadRequestError, NoStreamResponseError, NotFoundError, ServerError

from interop import run, unique

TIMEOUT = 5.0


async def connect(server, **kwargs):
    kwargs.setdefault("connect_timeout", 3)
    kwargs.setdefault("allow_reconnect", False)
    return await nats.connect(server.nats_url, **kwargs)


def js_publish_until_stopped(srv, subject: str, stop: threading.Event, acknowledged: list):
    """A thread body for `kill9_once_answered`: publishes `k0`, `k1`, … to `subject` through JetStream until
    `stop` is set or the server goes, recording each PubAck's `(seq, payload)` in `acknowledged`."""

    def publish_until_stopped() -> None:
        async def body() -> None:
            nc = await connect(srv)
            js = nc.jetstream()
            i = 0
            try:
                while not stop.is_set():
                    payload = f"k{i}".encode()
                    ack = await js.publish(subject, payload, timeout=2)
                    acknowledged.append((ack.seq, payload))
                    i += 1
            except Exception:
                return
            finally:
                try:
                    await nc.close()
                except Exception:
                    pass

        asyncio.run(body())

    return publish_until_stopped


def test_jetstream_stream_crud_and_errors(server):
    async def body():
        nc = await connect(server)
        js = nc.jetstream()
        name = unique("S")
        try:
            before = await js.account_info()
            info = await js.add_stream(
                name=name, subjects=[f"{name}.>"], max_msgs=100, max_bytes=1 << 20, max_age=3600,
                max_msg_size=1024, max_msgs_per_subject=10, discard=api.DiscardPolicy.NEW, storage=api.StorageType.FILE,
                duplicate_window=30, description="orders")
            assert info.config.name == name
            assert info.config.subjects == [f"{name}.>"]
            assert (info.config.max_msgs, info.config.max_bytes, info.config.max_msg_size) == (100, 1 << 20, 1024)
            assert info.config.max_msgs_per_subject == 10
            assert info.config.max_age == 3600
            assert info.config.duplicate_window == 30
            assert info.config.discard == api.DiscardPolicy.NEW
            assert info.config.storage == api.StorageType.FILE
            assert info.config.description == "orders"
            assert (info.state.messages, info.state.first_seq, info.state.last_seq) == (0, 0, 0)
            # Creating what exists, identically, is no error; differently is 10058.
            again = await js.add_stream(
                name=name, subjects=[f"{name}.>"], max_msgs=100, max_bytes=1 << 20, max_age=3600,
                max_msg_size=1024, max_msgs_per_subject=10, discard=api.DiscardPolicy.NEW, storage=api.StorageType.FILE,
                duplicate_window=30, description="orders")
            assert again.config.name == name
            with pytest.raises(BadRequestError) as raised:
                await js.add_stream(name=name, subjects=[f"{name}.other"])
            assert raised.value.err_code == 10058
            with pytest.raises(BadRequestError) as raised:
                await js.add_stream(name=unique("O"), subjects=[f"{name}.a.*"])
            assert raised.value.err_code == 10065
            with pytest.raises(ServerError) as raised:
                await js.add_stream(name=unique("R"), subjects=[unique("r")], num_replicas=3)
            assert raised.value.err_code == 10074
            with pytest.raises(BadRequestError) as raised:
                await js.add_stream(name=unique("W"), subjects=[unique("w")], mirror=api.StreamSource(name=name))
            assert raised.value.err_code == 10034
            with pytest.raises(NotFoundError) as raised:
                await js.stream_info(unique("missing"))
            assert raised.value.err_code == 10059

            updated = await js.update_stream(name=name, subjects=[f"{name}.>", f"{name}x"], max_msgs=50)
            assert updated.config.max_msgs == 50
            assert updated.config.subjects == [f"{name}.>", f"{name}x"]
            assert await js.find_stream_name_by_subject(f"{name}.a.b") == name
            assert name in [s.config.name for s in await js.streams_info()]
            after = await js.account_info()
            assert after.streams == before.streams + 1
            assert after.api.total > before.api.total

            for i in range(6):
                await js.publish(f"{name}.{'a' if i % 2 else 'b'}", f"m{i}".encode())
            assert await js.purge_stream(name, subject=f"{name}.a", keep=1)
            info = await js.stream_info(name)
            assert info.state.messages == 4  # three b, the newest a
            assert await js.purge_stream(name, seq=5)
            info = await js.stream_info(name)
            assert (info.state.messages, info.state.first_seq, info.state.last_seq) == (2, 5, 6)
            assert await js.purge_stream(name)
            info = await js.stream_info(name)
            assert (info.state.messages, info.state.last_seq) == (0, 6)
            ack = await js.publish(f"{name}.c", b"after purge")
            assert ack.seq == 7  # sequences are never reused

            assert await js.delete_stream(name)
            with pytest.raises(NotFoundError):
                await js.stream_info(name)
            with pytest.raises(NoStreamResponseError):
                await js.publish(f"{name}.a", b"nobody stores this")
        finally:
            await nc.close()

    run(body())


def test_jetstream_publish_acks_dedup_and_expectations(server):
    async def body():
        nc = await connect(server)
        js = nc.jetstream()
        name = unique("P")
        try:
            await js.add_stream(name=name, subjects=[f"{name}.*"], duplicate_window=60)
            first = await js.publish(f"{name}.a", b"one", headers={"Nats-Msg-Id": "id-1"})
            assert (first.stream, first.seq, first.duplicate) == (name, 1, None)
            repeat = await js.publish(f"{name}.a", b"one again", headers={"Nats-Msg-Id": "id-1"})
            assert (repeat.seq, repeat.duplicate) == (1, True)
            second = await js.publish(f"{name}.b", b"two", stream=name)
            assert second.seq == 2
            with pytest.raises(BadRequestError) as raised:
                await js.publish(f"{name}.b", b"x", stream="not-" + name)
            assert raised.value.err_code == 10060
            ok = await js.publish(f"{name}.b", b"three", headers={"Nats-Expected-Last-Sequence": "2"})
            assert ok.seq == 3
            with pytest.raises(BadRequestError) as raised:
                await js.publish(f"{name}.b", b"x", headers={"Nats-Expected-Last-Sequence": "2"})
            assert (raised.value.err_code, raised.value.description) == (10071, "wrong last sequence: 3")
            ok = await js.publish(f"{name}.a", b"four", headers={"Nats-Expected-Last-Subject-Sequence": "1"})
            assert ok.seq == 4
            with pytest.raises(BadRequestError) as raised:
                await js.publish(f"{name}.a", b"x", headers={"Nats-Expected-Last-Subject-Sequence": "1"})
            assert raised.value.err_code == 10071
            await js.publish(f"{name}.a", b"five", headers={"Nats-Msg-Id": "id-5"})
            ok = await js.publish(f"{name}.a", b"six", headers={"Nats-Expected-Last-Msg-Id": "id-5"})
            assert ok.seq == 6
            with pytest.raises(BadRequestError) as raised:
                await js.publish(f"{name}.a", b"x", headers={"Nats-Expected-Last-Msg-Id": "id-5"})
            assert raised.value.err_code == 10070
            info = await js.stream_info(name)
            assert (info.state.messages, info.state.last_seq) == (6, 6)
            info = await js.stream_info(name, subjects_filter=f"{name}.*")
            assert info.state.subjects == {f"{name}.a": 4, f"{name}.b": 2}

            # Limits: discard new refuses with nats-server's words; a large message with 10054.
            full = unique("F")
            await js.add_stream(name=full, subjects=[full], max_msgs=2, max_msg_size=16, discard=api.DiscardPolicy.NEW)
            await js.publish(full, b"1")
            await js.publish(full, b"2")
            with pytest.raises(APIError) as raised:
                await js.publish(full, b"3")
            assert (raised.value.code, raised.value.err_code) == (503, 10077)
            assert raised.value.description == "maximum messages exceeded"
            await js.purge_stream(full)
            with pytest.raises(BadRequestError) as raised:
                await js.publish(full, b"x" * 64)
            assert raised.value.err_code == 10054

            # publish_async: every PubAck arrives.
            futures = [await js.publish_async(f"{name}.z", f"async{i}".encode()) for i in range(50)]
            acks = await asyncio.gather(*futures)
            assert [a.seq for a in acks] == list(range(7, 57))
        finally:
            await nc.close()

    run(body())


def test_jetstream_message_get_and_delete(server):
    async def body():
        nc = await connect(server)
        js = nc.jetstream()
        name = unique("G")
        try:
            await js.add_stream(name=name, subjects=[f"{name}.>"])
            await js.publish(f"{name}.x", b"first", headers={"Trace": "t1"})
            await js.publish(f"{name}.y", b"second")
            await js.publish(f"{name}.x", b"third")
            msg = await js.get_msg(name, 1)
            assert (msg.subject, msg.seq, msg.data) == (f"{name}.x", 1, b"first")
            assert msg.headers["Trace"] == "t1"
            last = await js.get_last_msg(name, f"{name}.x")
            assert (last.seq, last.data) == (3, b"third")
            assert await js.delete_msg(name, 2)
            with pytest.raises(NotFoundError) as raised:
                await js.get_msg(name, 2)
            assert raised.value.err_code == 10037
            info = await js.stream_info(name)
            assert (info.state.messages, info.state.first_seq, info.state.last_seq) == (2, 1, 3)
        finally:
            await nc.close()

    run(body())


def test_pull_consumer_fetch_ack_nak_and_redelivery(server):
    async def body():
        nc = await connect(server)
        js = nc.jetstream()
        name = unique("C")
        try:
            await js.add_stream(name=name, subjects=[f"{name}.>"])
            for i in range(5):
                await js.publish(f"{name}.job", f"j{i}".encode())
            sub = await js.pull_subscribe(f"{name}.job", durable="workers", config=api.ConsumerConfig(ack_wait=1))
            msgs = await sub.fetch(3, timeout=TIMEOUT)
            assert [m.data for m in msgs] == [b"j0", b"j1", b"j2"]
            assert [m.metadata.sequence.stream for m in msgs] == [1, 2, 3]
            assert msgs[0].subject == f"{name}.job"
            assert msgs[0].metadata.stream == name and msgs[0].metadata.consumer == "workers"
            assert msgs[0].metadata.num_pending == 4 and msgs[2].metadata.num_pending == 2
            await msgs[0].ack()
            await msgs[1].ack_sync()
            await msgs[2].nak()
            await nc.flush()
            # The NAKed j2 comes again (nats-server may send j3 first: its NAKs are handled asynchronously).
            again = {m.data: m for m in await sub.fetch(2, timeout=TIMEOUT)}
            assert set(again) == {b"j2", b"j3"}
            assert again[b"j2"].metadata.num_delivered == 2 and again[b"j3"].metadata.num_delivered == 1
            for m in again.values():
                await m.ack()
            rest = await sub.fetch(5, timeout=2)
            assert [m.data for m in rest] == [b"j4"]
            # j4 is not acknowledged: after ack_wait (1 s) it comes again.
            redelivered = await sub.fetch(1, timeout=TIMEOUT)
            assert redelivered[0].data == b"j4" and redelivered[0].metadata.num_delivered == 2
            await redelivered[0].term()
            with pytest.raises(NATSTimeoutError):
                await sub.fetch(1, timeout=0.5)
            info = await js.consumer_info(name, "workers")
            assert info.num_ack_pending == 0 and info.num_pending == 0
            assert info.delivered.stream_seq == 5
            assert info.ack_floor.stream_seq == 5
            assert info.config.ack_wait == 1

            # A fetch waiting for a message gets it when it is published.
            waiting = asyncio.ensure_future(sub.fetch(1, timeout=TIMEOUT))
            await asyncio.sleep(0.3)
            await js.publish(f"{name}.job", b"late")
            late = await waiting
            assert late[0].data == b"late"
            await late[0].ack()

            names = [c.name for c in await js.consumers_info(name)]
            assert names == ["workers"]
            assert await js.delete_consumer(name, "workers")
            with pytest.raises(NotFoundError) as raised:
                await js.consumer_info(name, "workers")
            assert raised.value.err_code == 10014
        finally:
            await nc.close()

    run(body(), timeout=60)


def test_pull_consumer_policies_and_max_deliver(server):
    async def body():
        nc = await connect(server)
        js = nc.jetstream()
        name = unique("D")
        try:
            await js.add_stream(name=name, subjects=[f"{name}.*"])
            for i in range(4):
                await js.publish(f"{name}.{'a' if i < 3 else 'b'}", f"m{i}".encode())

            async def first(consumer, config):
                await js.add_consumer(name, config=config)
                sub = await js.pull_subscribe_bind(consumer, stream=name)
                return (await sub.fetch(1, timeout=TIMEOUT))[0]

            m = await first("last", api.ConsumerConfig(name="last", deliver_policy=api.DeliverPolicy.LAST))
            assert m.metadata.sequence.stream == 4
            m = await first(
                "lasta", api.ConsumerConfig(name="lasta", deliver_policy=api.DeliverPolicy.LAST, filter_subject=f"{name}.a"))
            assert m.metadata.sequence.stream == 3
            m = await first(
                "seq", api.ConsumerConfig(name="seq", deliver_policy=api.DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=2))
            assert m.metadata.sequence.stream == 2
            await js.add_consumer(name, config=api.ConsumerConfig(name="new", deliver_policy=api.DeliverPolicy.NEW))
            sub = await js.pull_subscribe_bind("new", stream=name)
            with pytest.raises(NATSTimeoutError):
                await sub.fetch(1, timeout=0.5)
            await js.publish(f"{name}.b", b"fresh")
            assert (await sub.fetch(1, timeout=TIMEOUT))[0].data == b"fresh"

            # ack none: nothing waits for an acknowledgement.
            await js.add_consumer(name, config=api.ConsumerConfig(name="none", ack_policy=api.AckPolicy.NONE))
            sub = await js.pull_subscribe_bind("none", stream=name)
            assert len(await sub.fetch(5, timeout=TIMEOUT)) == 5
            assert (await js.consumer_info(name, "none")).num_ack_pending == 0

            # max_deliver 2: delivered twice, then never again (max_ack_pending 1 holds the next one back).
            await js.add_consumer(
                name,
                config=api.ConsumerConfig(
                    name="md", ack_wait=0.5, max_deliver=2, max_ack_pending=1, filter_subject=f"{name}.b"))
            sub = await js.pull_subscribe_bind("md", stream=name)
            one = await sub.fetch(1, timeout=TIMEOUT)
            two = await sub.fetch(1, timeout=TIMEOUT)
            assert one[0].metadata.sequence.stream == two[0].metadata.sequence.stream == 4
            assert two[0].metadata.num_delivered == 2
            three = await sub.fetch(1, timeout=TIMEOUT)
            assert three[0].data == b"fresh"
            await three[0].ack()
            with pytest.raises(NATSTimeoutError):
                await sub.fetch(1, timeout=1.2)

            with pytest.raises(BadRequestError) as raised:
                await js.add_consumer(name, config=api.ConsumerConfig(name="bad", filter_subject=unique("elsewhere")))
            assert raised.value.err_code == 10093
            with pytest.raises(NotFoundError):
                await js.add_consumer(unique("nostream"), config=api.ConsumerConfig(name="x"))
        finally:
            await nc.close()

    run(body(), timeout=60)


def test_push_consumer_info_says_whether_a_subscriber_is_bound(server):
    # nats-server's push_bound: true while the deliver subject has a subscriber; nats-py reads it to refuse
    # binding a second subscriber to the same durable push consumer.
    async def body():
        nc = await connect(server)
        js = nc.jetstream()
        name = unique("B")
        try:
            await js.add_stream(name=name, subjects=[f"{name}.>"])
            await js.publish(f"{name}.a", b"x")
            sub = await js.subscribe(f"{name}.>", durable="single")
            await sub.next_msg(timeout=TIMEOUT)
            info = await js.consumer_info(name, "single")
            assert info.push_bound
            with pytest.raises(nats.js.errors.Error):
                await js.subscribe(f"{name}.>", durable="single")
            await sub.unsubscribe()
            deadline = asyncio.get_running_loop().time() + TIMEOUT
            while (await js.consumer_info(name, "single")).push_bound:
                assert asyncio.get_running_loop().time() < deadline, "still push_bound after unsubscribe"
                await asyncio.sleep(0.05)
        finally:
            await js.delete_stream(name)
            await nc.close()

    run(body())


def test_push_consumers_deliver_with_stored_subjects_and_queue_groups(server):
    async def body():
        nc = await connect(server)
        js = nc.jetstream()
        name = unique("U")
        try:
            await js.add_stream(name=name, subjects=[f"{name}.>"])
            for i in range(3):
                await js.publish(f"{name}.{'ab'[i % 2]}", f"p{i}".encode(), headers={"Order": str(i)})
            sub = await js.subscribe(f"{name}.>", durable="pusher", manual_ack=True)
            msgs = [await sub.next_msg(timeout=TIMEOUT) for _ in range(3)]
            assert [(m.subject, m.data) for m in msgs] == [(f"{name}.a", b"p0"), (f"{name}.b", b"p1"), (f"{name}.a", b"p2")]
            assert [m.metadata.sequence.stream for m in msgs] == [1, 2, 3]
            assert msgs[1].headers["Order"] == "1"
            for m in msgs:
                await m.ack()
            await js.publish(f"{name}.c", b"live")
            live = await sub.next_msg(timeout=TIMEOUT)
            assert (live.subject, live.data) == (f"{name}.c", b"live")
            info = await js.consumer_info(name, "pusher")
            assert info.config.deliver_subject and info.num_ack_pending == 1
            await live.ack()

            # A deliver group: each message goes to one member.
            first = await js.subscribe(f"{name}.>", queue="workers", manual_ack=True)
            second = await js.subscribe(f"{name}.>", queue="workers", manual_ack=True)
            for i in range(10):
                await js.publish(f"{name}.q", f"q{i}".encode())
            seen = []
            deadline = asyncio.get_running_loop().time() + TIMEOUT
            while len(seen) < 14 and asyncio.get_running_loop().time() < deadline:
                for s in (first, second):
                    try:
                        m = await s.next_msg(timeout=0.1)
                    except NATSTimeoutError:
                        continue
                    seen.append(m.data)
                    await m.ack()
            assert sorted(seen) == sorted([b"p0", b"p1", b"p2", b"live"] + [f"q{i}".encode() for i in range(10)])
        finally:
            await nc.close()

    run(body(), timeout=60)


def test_pull_request_statuses_heartbeats_and_timeout(server):
    """A raw CONSUMER.MSG.NEXT: idle heartbeats (100) while it waits, then 408 with the pending count;
    no_wait on nothing: 404, with expires or after part of its batch: 408 where the stream ends (all as
    nats-server 2.9.10); an unknown consumer: 404 Consumer Not Found
    (nats-server 2.9.10 does not answer; nats.py's fetch times out on either)."""

    async def body():
        nc = await connect(server)
        js = nc.jetstream()
        name = unique("H")
        try:
            await js.add_stream(name=name, subjects=[f"{name}.>"])
            await js.add_consumer(name, config=api.ConsumerConfig(durable_name="hb"))
            inbox = nc.new_inbox()
            sub = await nc.subscribe(inbox)
            request = {"batch": 3, "expires": 1_000_000_000, "idle_heartbeat": 200_000_000}
            await nc.publish(f"$JS.API.CONSUMER.MSG.NEXT.{name}.hb", json.dumps(request).encode(), reply=inbox)
            statuses = []
            while not statuses or statuses[-1][0] != "408":
                m = await sub.next_msg(timeout=TIMEOUT)
                statuses.append((m.headers["Status"], m.headers.get("Description"), m.headers.get("Nats-Pending-Messages")))
            assert statuses[-1] == ("408", "Request Timeout", "3")
            assert len([s for s in statuses if s[:2] == ("100", "Idle Heartbeat")]) >= 2
            await nc.publish(f"$JS.API.CONSUMER.MSG.NEXT.{name}.hb", b'{"batch":1,"no_wait":true}', reply=inbox)
            m = await sub.next_msg(timeout=TIMEOUT)
            assert (m.headers["Status"], m.headers["Description"]) == ("404", "No Messages")
            await nc.publish(f"$JS.API.CONSUMER.MSG.NEXT.{name}.nobody", b"1", reply=inbox)
            m = await sub.next_msg(timeout=TIMEOUT)
            assert (m.headers["Status"], m.headers["Description"]) == ("404", "Consumer Not Found")
            # no_wait with expires waits like a lingering request, and ends with 408 where the stream ends
            # once it got something; so does a plain no_wait that got part of its batch (nats.py's fetch
            # relies on both: its first request is no_wait with expires).
            request = {"batch": 5, "expires": 2_000_000_000, "no_wait": True}
            await nc.publish(f"$JS.API.CONSUMER.MSG.NEXT.{name}.hb", json.dumps(request).encode(), reply=inbox)
            await asyncio.sleep(0.2)
            await js.publish(f"{name}.a", b"one")
            first = await sub.next_msg(timeout=1)
            end = await sub.next_msg(timeout=1)
            assert first.data == b"one" and (end.headers["Status"], end.headers["Nats-Pending-Messages"]) == ("408", "4")
            await js.publish(f"{name}.a", b"two")
            await nc.publish(f"$JS.API.CONSUMER.MSG.NEXT.{name}.hb", b'{"batch":5,"no_wait":true}', reply=inbox)
            first = await sub.next_msg(timeout=1)
            end = await sub.next_msg(timeout=1)
            assert first.data == b"two" and end.headers["Status"] == "408"
        finally:
            await nc.close()

    run(body())


def test_idle_ephemeral_consumers_are_removed(server):
    async def body():
        nc = await connect(server)
        js = nc.jetstream()
        name = unique("E")
        try:
            await js.add_stream(name=name, subjects=[f"{name}.>"])
            await js.add_consumer(name, config=api.ConsumerConfig(name="brief", inactive_threshold=0.5))
            await js.add_consumer(name, config=api.ConsumerConfig(durable_name="kept", inactive_threshold=None))
            assert sorted(c.name for c in await js.consumers_info(name)) == ["brief", "kept"]
            await asyncio.sleep(1.0)
            assert [c.name for c in await js.consumers_info(name)] == ["kept"]
        finally:
            await nc.close()

    run(body())


def test_backoff_paces_redeliveries_and_max_deliveries_is_announced(server):
    """`backoff` sets the ack wait of each delivery (the last repeats; ack_wait becomes the first); a
    message that reaches max_deliver is announced on $JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES and stays
    in the stream. Unbuilt options are refused, not ignored."""
    import time

    async def body():
        nc = await connect(server)
        js = nc.jetstream()
        name = unique("B")
        try:
            await js.add_stream(name=name, subjects=[f"{name}.>"])
            with pytest.raises(BadRequestError) as raised:
                await js.add_consumer(name, config=api.ConsumerConfig(durable_name="short", max_deliver=2, backoff=[0.3, 0.6]))
            assert raised.value.err_code == 10116
            info = await js.add_consumer(
                name, config=api.ConsumerConfig(durable_name="b", max_deliver=3, backoff=[0.3, 0.6], ack_wait=99))
            assert info.config.backoff == [0.3, 0.6] and info.config.ack_wait == 0.3
            advisories = []

            async def advised(msg):
                advisories.append(msg)

            await nc.subscribe("$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.>", cb=advised)
            await nc.flush()
            await js.publish(f"{name}.job", b"j")
            sub = await js.pull_subscribe_bind("b", stream=name)
            times = []
            deadline = time.monotonic() + 5
            while len(times) < 3 and time.monotonic() < deadline:
                try:
                    for m in await sub.fetch(1, timeout=2):
                        times.append((time.monotonic(), m.metadata.num_delivered))
                except NATSTimeoutError:
                    pass
            assert [n for _, n in times] == [1, 2, 3]
            first, second = times[1][0] - times[0][0], times[2][0] - times[1][0]
            # A waiting pull looks at ack-wait expiries every 200 ms: up to that late, plus a loaded machine.
            assert 0.25 <= first < 0.8 and 0.55 <= second < 1.2, (first, second)
            # Nothing after the third: announced once its wait is over.
            with pytest.raises(NATSTimeoutError):
                await sub.fetch(1, timeout=1.2)
            assert len(advisories) == 1
            advisory = json.loads(advisories[0].data)
            assert advisories[0].subject == f"$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.{name}.b"
            assert advisory["type"] == "io.nats.jetstream.advisory.v1.max_deliver"
            assert (advisory["stream"], advisory["consumer"], advisory["stream_seq"], advisory["deliveries"]) == (name, "b", 1, 3)
            info = await js.consumer_info(name, "b")
            assert (info.num_pending, info.num_ack_pending) == (0, 0)
            assert (await js.stream_info(name)).state.messages == 1
        finally:
            await nc.close()

    run(body())


def test_discard_new_per_subject_refuses_a_full_subject(server):
    """discard_new_per_subject: with discard new and max_msgs_per_subject, a subject at its limit refuses
    the publish (10077) instead of dropping its oldest; without either setting the stream is refused."""

    async def body():
        nc = await connect(server)
        js = nc.jetstream()
        name = unique("DN")
        try:
            info = await js.add_stream(
                name=name, subjects=[f"{name}.>"], discard=api.DiscardPolicy.NEW, discard_new_per_subject=True,
                max_msgs_per_subject=2)
            assert info.config.discard_new_per_subject is True
            await js.publish(f"{name}.a", b"1")
            await js.publish(f"{name}.a", b"2")
            with pytest.raises(APIError) as raised:
                await js.publish(f"{name}.a", b"3")
            assert raised.value.err_code == 10077
            assert "per subject" in raised.value.description
            await js.publish(f"{name}.b", b"1")
            assert (await js.stream_info(name)).state.messages == 3
            for discard, per_subject in [(api.DiscardPolicy.OLD, 2), (api.DiscardPolicy.NEW, None)]:
                with pytest.raises(APIError) as raised:
                    await js.add_stream(
                        name=unique("DX"), subjects=[unique("dx")], discard=discard, discard_new_per_subject=True,
                        max_msgs_per_subject=per_subject)
                assert raised.value.err_code == 10052
        finally:
            await nc.close()

    run(body())


def test_object_store_put_get_list_watch(server):
    """nats-py's object store (an `OBJ_<bucket>` stream of chunks and meta records): put, get, info,
    list and watch (which read the newest meta record of every object with a wildcard last_by_subj),
    delete and seal."""

    async def body():
        nc = await connect(server)
        js = nc.jetstream()
        bucket = unique("obj")
        try:
            obs = await js.create_object_store(bucket)
            data = bytes(range(256)) * 1024  # 256 KiB: two chunks of nats-py's 128 KiB
            info = await obs.put("blob", data)
            assert (info.name, info.size, info.chunks) == ("blob", len(data), 2)
            await obs.put("small", b"tiny")
            assert (await obs.get("blob")).data == data
            assert sorted(entry.name for entry in await obs.list()) == ["blob", "small"]
            watcher = await obs.watch(include_history=True)
            seen = set()
            while len(seen) < 2:
                entry = await watcher.updates(timeout=TIMEOUT)
                if entry is not None:
                    seen.add(entry.name)
            assert seen == {"blob", "small"}
            await obs.delete("small")
            assert [entry.name for entry in await obs.list(ignore_deletes=True)] == ["blob"]
            assert [e.deleted for e in await obs.list() if e.name == "small"] == [True]
            with pytest.raises(nats.js.errors.ObjectNotFoundError):
                await obs.get("small")
            with pytest.raises(nats.js.errors.NotFoundError):
                await obs.get("")

            # Sealed: read-only for good (puts, deletes and purges refused: 10109; unsealing: 10052).
            await obs.seal()
            assert (await obs.status()).sealed is True
            assert (await obs.get("blob")).data == data
            with pytest.raises(APIError) as raised:
                await js.publish(f"$O.{bucket}.C.more", b"x")
            assert raised.value.err_code == 10109
            with pytest.raises(APIError) as raised:
                await js.purge_stream(f"OBJ_{bucket}")
            assert raised.value.err_code == 10109
            with pytest.raises(APIError) as raised:
                await js.delete_msg(f"OBJ_{bucket}", 1)
            assert raised.value.err_code == 10109
            config = (await js.stream_info(f"OBJ_{bucket}")).config
            config.sealed = False
            with pytest.raises(APIError) as raised:
                await js.update_stream(config)
            assert raised.value.err_code == 10052
        finally:
            await nc.close()

    run(body())


def test_pull_request_without_a_subscriber_takes_nothing(server):
    """A pull request whose reply subject nobody subscribes to (a client that gave up on its inbox) is
    dropped, as nats-server drops it, rather than taking messages into ack-pending that no one reads."""

    async def body():
        nc = await connect(server)
        js = nc.jetstream()
        name = unique("PI")
        try:
            await js.add_stream(name=name, subjects=[f"{name}.>"])
            await js.add_consumer(name, config=api.ConsumerConfig(durable_name="c"))
            await nc.publish(f"$JS.API.CONSUMER.MSG.NEXT.{name}.c", b'{"batch":5,"expires":2000000000}',
                             reply="_INBOX.nobody.listens")
            await nc.flush()
            await js.publish(f"{name}.a", b"kept for a reader")
            await asyncio.sleep(0.5)
            info = await js.consumer_info(name, "c")
            assert (info.num_pending, info.num_ack_pending, info.delivered.stream_seq) == (1, 0, 0)
            sub = await js.pull_subscribe_bind("c", stream=name)
            assert [m.data for m in await sub.fetch(1, timeout=TIMEOUT)] == [b"kept for a reader"]
        finally:
            await nc.close()

    run(body())


def test_stream_consumer_limits_give_consumers_their_defaults(server):
    """consumer_limits on a stream: a consumer that names no max_ack_pending or inactive_threshold gets
    the stream's; one asking for more ack-pending than the stream allows is refused (10121)."""

    async def body():
        nc = await connect(server)
        js = nc.jetstream()
        name = unique("CL")
        try:
            await js.add_stream(
                name=name, subjects=[f"{name}.>"],
                consumer_limits=api.StreamConsumerLimits(inactive_threshold=3600.0, max_ack_pending=100))
            limits = (await js.stream_info(name)).config.consumer_limits
            assert (limits.inactive_threshold, limits.max_ack_pending) == (3600.0, 100)
            info = await js.add_consumer(name, config=api.ConsumerConfig(durable_name="d"))
            assert (info.config.max_ack_pending, info.config.inactive_threshold) == (100, 3600.0)
            info = await js.add_consumer(name, config=api.ConsumerConfig(durable_name="e", max_ack_pending=10))
            assert info.config.max_ack_pending == 10
            with pytest.raises(BadRequestError) as raised:
                await js.add_consumer(name, config=api.ConsumerConfig(durable_name="f", max_ack_pending=1000))
            assert raised.value.err_code == 10121
            plain = unique("CP")
            await js.add_stream(name=plain, subjects=[f"{plain}.>"])
            limits = (await js.stream_info(plain)).config.consumer_limits
            assert limits is None or (limits.inactive_threshold, limits.max_ack_pending) == (None, None)
        finally:
            await nc.close()

    run(body())


def test_pull_request_max_bytes_and_heartbeat_bounds(server):
    """A pull request's max_bytes bounds what it takes (subject, reply, headers and payload, as
    nats-server counts): the message that does not fit ends it with 409 and stays for the next request.
    A heartbeat that does not fit twice in `expires` is a 400, as nats-server answers."""

    async def body():
        nc = await connect(server)
        js = nc.jetstream()
        name = unique("MB")
        try:
            await js.add_stream(name=name, subjects=[f"{name}.>"])
            await js.add_consumer(name, config=api.ConsumerConfig(durable_name="c"))
            for i in range(3):
                await js.publish(f"{name}.x", bytes([65 + i]) * 100)
            inbox = nc.new_inbox()
            got = []
            done = asyncio.Event()

            async def collect(msg):
                got.append(msg)
                if msg.headers and msg.headers.get("Status"):
                    done.set()

            await nc.subscribe(inbox, cb=collect)
            # Two deliveries of ~100 B payload plus subject and reply fit in 400, the third does not.
            await nc.publish(f"$JS.API.CONSUMER.MSG.NEXT.{name}.c",
                             json.dumps({"batch": 10, "expires": 2_000_000_000, "max_bytes": 400}).encode(),
                             reply=inbox)
            await asyncio.wait_for(done.wait(), TIMEOUT)
            assert [m.data[:1] for m in got[:-1]] == [b"A", b"B"]
            assert (got[-1].headers["Status"], got[-1].headers.get(nats.js.api.Header.DESCRIPTION)) == (
                "409", "Message Size Exceeds MaxBytes")
            info = await js.consumer_info(name, "c")
            assert (info.num_ack_pending, info.num_pending) == (2, 1)

            got.clear()
            done.clear()
            await nc.publish(f"$JS.API.CONSUMER.MSG.NEXT.{name}.c",
                             json.dumps({"batch": 1, "expires": 1_000_000_000, "idle_heartbeat": 600_000_000}).encode(),
                             reply=inbox)
            await asyncio.wait_for(done.wait(), TIMEOUT)
            assert (got[-1].headers["Status"], got[-1].headers.get(nats.js.api.Header.DESCRIPTION)) == (
                "400", "Bad Request - heartbeat value too large")
        finally:
            await nc.close()

    run(body())


def test_stream_and_consumer_advisories(server):
    """$JS.EVENT.ADVISORY.STREAM.CREATED/UPDATED/DELETED and CONSUMER.CREATED/DELETED, with nats-server's
    types and fields, as a monitoring client subscribed to $JS.EVENT.> sees them."""

    async def body():
        nc = await connect(server)
        js = nc.jetstream()
        name = unique("AD")
        events = []

        async def seen(msg):
            events.append((msg.subject, json.loads(msg.data)))

        try:
            await nc.subscribe("$JS.EVENT.ADVISORY.>", cb=seen)
            await nc.flush()
            await js.add_stream(name=name, subjects=[f"{name}.>"])
            await js.update_stream(name=name, subjects=[f"{name}.>"], max_msgs=10)
            await js.add_consumer(name, config=api.ConsumerConfig(durable_name="c"))
            await js.delete_consumer(name, "c")
            await js.delete_stream(name)
            deadline = asyncio.get_running_loop().time() + TIMEOUT
            while len(events) < 5 and asyncio.get_running_loop().time() < deadline:
                await asyncio.sleep(0.05)
            ours = [(subject, event) for subject, event in events if event.get("stream") == name]
            assert [subject for subject, _ in ours] == [
                f"$JS.EVENT.ADVISORY.STREAM.CREATED.{name}", f"$JS.EVENT.ADVISORY.STREAM.UPDATED.{name}",
                f"$JS.EVENT.ADVISORY.CONSUMER.CREATED.{name}.c", f"$JS.EVENT.ADVISORY.CONSUMER.DELETED.{name}.c",
                f"$JS.EVENT.ADVISORY.STREAM.DELETED.{name}"]
            assert [event["action"] for _, event in ours] == ["create", "modify", "create", "delete", "delete"]
            assert ours[0][1]["type"] == "io.nats.jetstream.advisory.v1.stream_action"
            assert ours[2][1]["type"] == "io.nats.jetstream.advisory.v1.consumer_action"
            assert ours[2][1]["consumer"] == "c" and ours[0][1]["id"] and ours[0][1]["timestamp"]
        finally:
            await nc.close()

    run(body())


def test_stream_bytes_are_counted_as_nats_server_counts_them(server):
    """STREAM.INFO's bytes and the account's storage/memory: each record's subject, header block (with its
    4-byte length) and payload, plus 30 per message in a file stream and 16 in a memory one."""

    async def body():
        nc = await connect(server)
        js = nc.jetstream()
        name = unique("BY")
        memory = unique("BM")
        try:
            await js.add_stream(name=name, subjects=[f"{name}.>"])
            await js.add_stream(name=memory, subjects=[f"{memory}.>"], storage=api.StorageType.MEMORY)
            before = await js.account_info()
            await js.publish(f"{name}.x", b"Hello World!")
            assert (await js.stream_info(name)).state.bytes == 30 + len(f"{name}.x") + 12
            await js.publish(f"{name}.x", b"Hi", headers={"a": "b"})  # NATS/1.0, a: b, blank line: 18
            expected = 30 + len(f"{name}.x") + 12 + 34 + len(f"{name}.x") + 18 + 2
            assert (await js.stream_info(name)).state.bytes == expected
            await js.publish(f"{memory}.y", b"abc")
            assert (await js.stream_info(memory)).state.bytes == 16 + len(f"{memory}.y") + 3
            after = await js.account_info()
            assert after.storage - before.storage == expected
            assert after.memory - before.memory == 16 + len(f"{memory}.y") + 3
            await js.purge_stream(name)
            assert (await js.stream_info(name)).state.bytes == 0
        finally:
            await nc.close()

    run(body())


def test_work_queue_retention_removes_what_one_consumer_acknowledged(server):
    """A work-queue stream gives each message to one consumer and lets it go once acknowledged; its
    consumers must ack explicitly, deliver all, and never overlap (nats-server's 10098–10101)."""

    async def body():
        nc = await connect(server)
        js = nc.jetstream()
        name = unique("WQ")
        try:
            info = await js.add_stream(name=name, subjects=[f"{name}.>"], retention=api.RetentionPolicy.WORK_QUEUE)
            assert info.config.retention == api.RetentionPolicy.WORK_QUEUE
            for i in range(3):
                await js.publish(f"{name}.eu", f"eu{i}".encode())
                await js.publish(f"{name}.us", f"us{i}".encode())
            # Kept until consumed, even with no consumer.
            assert (await js.stream_info(name)).state.messages == 6

            for config, code in [
                (api.ConsumerConfig(durable_name="none", ack_policy=api.AckPolicy.NONE), 10098),
                (api.ConsumerConfig(durable_name="new", deliver_policy=api.DeliverPolicy.NEW), 10101),
            ]:
                with pytest.raises(BadRequestError) as raised:
                    await js.add_consumer(name, config=config)
                assert raised.value.err_code == code

            eu = await js.pull_subscribe(f"{name}.eu", durable="eu", stream=name)
            us = await js.pull_subscribe(f"{name}.us", durable="us", stream=name)
            with pytest.raises(BadRequestError) as raised:
                await js.add_consumer(name, config=api.ConsumerConfig(durable_name="all"))
            assert raised.value.err_code == 10099
            with pytest.raises(BadRequestError) as raised:
                await js.add_consumer(name, config=api.ConsumerConfig(durable_name="again", filter_subject=f"{name}.eu"))
            assert raised.value.err_code == 10100

            taken = await eu.fetch(3, timeout=TIMEOUT)
            assert [m.data for m in taken] == [b"eu0", b"eu1", b"eu2"]
            await taken[0].ack_sync()
            await taken[2].ack_sync()
            state = (await js.stream_info(name)).state
            assert state.messages == 4
            with pytest.raises(NotFoundError):
                await js.get_msg(name, 1)
            assert (await js.get_msg(name, 3)).data == b"eu1"  # delivered, not acknowledged: kept
            await taken[1].term()
            await (await us.fetch(1, timeout=TIMEOUT))[0].ack_sync()
            assert (await js.stream_info(name)).state.messages == 2
            # The us consumer's share stays for it alone.
            rest = await us.fetch(2, timeout=TIMEOUT)
            assert [m.data for m in rest] == [b"us1", b"us2"]
            for m in rest:
                await m.ack_sync()
            assert (await js.stream_info(name)).state.messages == 0

            with pytest.raises(ServerError) as raised:
                await js.update_stream(name=name, subjects=[f"{name}.>"], retention=api.RetentionPolicy.LIMITS)
            assert raised.value.err_code == 10052
        finally:
            await nc.close()

    run(body())


def test_interest_retention_keeps_what_a_consumer_still_wants(server):
    """An interest stream keeps a message until every consumer whose filter matches it is done with it;
    what is published while nobody is interested is answered and not kept."""

    async def body():
        nc = await connect(server)
        js = nc.jetstream()
        name = unique("IN")
        try:
            await js.add_stream(name=name, subjects=[f"{name}.>"], retention=api.RetentionPolicy.INTEREST)
            ack = await js.publish(f"{name}.a", b"unwanted")
            assert ack.seq == 1
            assert (await js.stream_info(name)).state.messages == 0

            a = await js.pull_subscribe(f"{name}.>", durable="a", stream=name)
            b = await js.pull_subscribe(f"{name}.>", durable="b", stream=name)
            only_x = await js.pull_subscribe(f"{name}.x", durable="x", stream=name)
            for i in range(3):
                await js.publish(f"{name}.a", f"m{i}".encode())
            await js.publish(f"{name}.x", b"x0")
            assert (await js.stream_info(name)).state.messages == 4

            for m in await a.fetch(4, timeout=TIMEOUT):
                await m.ack_sync()
            assert (await js.stream_info(name)).state.messages == 4  # b (and x) still want them
            got = await b.fetch(4, timeout=TIMEOUT)
            assert [m.data for m in got] == [b"m0", b"m1", b"m2", b"x0"]
            for m in got[:2]:
                await m.ack_sync()
            await got[3].ack_sync()
            state = (await js.stream_info(name)).state
            assert (state.messages, state.first_seq) == (2, 4)  # m2 (b pending) and x0 (x not done)
            await (await only_x.fetch(1, timeout=TIMEOUT))[0].ack_sync()
            assert (await js.stream_info(name)).state.messages == 1
            # A consumer that goes takes its interest along.
            assert await js.delete_consumer(name, "b")
            assert (await js.stream_info(name)).state.messages == 0
        finally:
            await nc.close()

    run(body())


def test_mqtt_publish_is_a_jetstream_message(make_server):
    from mqtt_client import V311, Paho

    srv = make_server()

    async def body():
        nc = await connect(srv)
        js = nc.jetstream()
        name = unique("M")
        try:
            await js.add_stream(name=name, subjects=[f"{name}.sensors.>"])
            pub = Paho(srv.mqtt_port, V311)
            try:
                info_ = pub.client.publish(f"{name}/sensors/t1", b"21.5", qos=1)
                await asyncio.get_running_loop().run_in_executor(None, info_.wait_for_publish, 5.0)
                assert info_.is_published()
            finally:
                pub.client.loop_stop()
            sub = await js.pull_subscribe(f"{name}.sensors.>", durable="reader")
            msg = (await sub.fetch(1, timeout=TIMEOUT))[0]
            assert (msg.subject, msg.data, msg.metadata.sequence.stream) == (f"{name}.sensors.t1", b"21.5", 1)
            await msg.ack()
            stored = await js.get_msg(name, 1)
            assert stored.subject == f"{name}.sensors.t1"
        finally:
            await nc.close()

    run(body())


def test_pubacked_messages_survive_kill9(make_server):
    """A PubAck is sent once the stream stored the message: after kill -9 every acknowledged message is
    in the stream, at its sequence, and the stream keeps its JetStream configuration."""
    from test_streams import kill9_once_answered

    srv = make_server()
    name = unique("K")
    acknowledged: list[tuple[int, bytes]] = []
    stop = threading.Event()

    async def create() -> None:
        nc = await connect(srv)
        try:
            await nc.jetstream().add_stream(name=name, subjects=[f"{name}.>"], max_msgs=100_000)
        finally:
            await nc.close()

    run(create())

    kill9_once_answered(srv, js_publish_until_stopped(srv, f"{name}.x", stop, acknowledged), stop, acknowledged)

    async def check() -> None:
        nc = await connect(srv)
        js = nc.jetstream()
        try:
            info = await js.stream_info(name)
            assert info.config.max_msgs == 100_000
            assert info.state.last_seq >= acknowledged[-1][0]
            for seq, payload in acknowledged:
                assert (await js.get_msg(name, seq)).data == payload
        finally:
            await nc.close()

    run(check(), timeout=60)


def test_durable_consumers_survive_kill9(make_server):
    """Durable consumers come back after kill -9 with their configuration, resuming after their ack floor
    (what was delivered and not acknowledged comes again); deleted and ephemeral ones do not."""
    import os
    import signal
    import time

    srv = make_server()
    name = unique("R")

    async def before() -> None:
        nc = await connect(srv)
        js = nc.jetstream()
        try:
            await js.add_stream(name=name, subjects=[f"{name}.>"])
            for i in range(5):
                await js.publish(f"{name}.job", f"j{i}".encode())
            sub = await js.pull_subscribe(f"{name}.job", durable="keeper", config=api.ConsumerConfig(ack_wait=30))
            msgs = await sub.fetch(3, timeout=TIMEOUT)
            await msgs[0].ack_sync()
            await msgs[1].ack_sync()  # j2 is delivered, never acknowledged
            await js.add_consumer(name, config=api.ConsumerConfig(durable_name="gone"))
            assert await js.delete_consumer(name, "gone")
            await js.add_consumer(name, config=api.ConsumerConfig(name="brief"))
        finally:
            await nc.close()

    run(before())
    # Acks are answered before the floor is stored (docs/protocols/nats.md): wait until the stored record (a
    # stream's readable records are committed ones) says floor 2, so the kill tests what was stored.
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        kept = srv.get("/api/streams/_jetstream_consumers/messages", params={"partition": 0, "limit": 1000})
        floors = [m.get("data", {}).get("ack_floor") for m in kept.json().get("messages", [])
                  if m.get("subject") == f"$JS/consumers/{name}/keeper" and isinstance(m.get("data"), dict)]
        if kept.status_code == 200 and floors and floors[-1] == 2:
            break
        time.sleep(0.05)
    else:
        raise AssertionError(f"the acknowledged floor was never stored: {floors}")
    os.killpg(srv.proc.pid, signal.SIGKILL)
    srv.proc.wait(timeout=10)
    srv.start()

    async def after() -> None:
        nc = await connect(srv)
        js = nc.jetstream()
        try:
            info = await js.consumer_info(name, "keeper")
            assert info.config.ack_wait == 30 and info.config.filter_subject == f"{name}.job"
            assert info.ack_floor.stream_seq == 2 and info.num_pending == 3
            assert [c.name for c in await js.consumers_info(name)] == ["keeper"]
            sub = await js.pull_subscribe_bind("keeper", stream=name)
            msgs = await sub.fetch(3, timeout=TIMEOUT)
            assert [m.data for m in msgs] == [b"j2", b"j3", b"j4"]
            streams = [s.config.name for s in await js.streams_info()]
            assert "_jetstream_consumers" not in streams
        finally:
            await nc.close()

    run(after())


def test_account_limits_and_domain_from_the_config(make_server):
    """The `nats.jetstream_*` settings (nats-server's account `jetstream` block and `jetstream.domain`):
    account info reports them, stream and consumer requests past them get nats-server's errors, and the API
    answers on `$JS.<domain>.API` too."""
    srv = make_server({"nats": {
        "jetstream_domain": "hub", "jetstream_max_streams": 2, "jetstream_max_consumers": 1,
        "jetstream_max_storage": 6000, "jetstream_storage_max_stream_bytes": 4096,
        "jetstream_max_ack_pending": 100, "jetstream_max_bytes_required": True}})

    async def body():
        nc = await connect(srv)
        js = nc.jetstream()
        try:
            async def refused(make, err_code):
                with pytest.raises(APIError) as failure:
                    await make()
                assert failure.value.err_code == err_code, failure.value
                return failure.value

            error = await refused(lambda: js.add_stream(name="a", subjects=["a.>"]), 10113)
            assert error.description == "account requires a stream config to have max bytes set"
            error = await refused(lambda: js.add_stream(name="a", subjects=["a.>"], max_bytes=65536), 10122)
            assert error.description == "stream max bytes exceeds account limit max stream bytes"
            await js.add_stream(name="a", subjects=["a.>"], max_bytes=4096)
            # 4,096 reserved of 6,000: another 4,096 does not fit.
            await refused(lambda: js.add_stream(name="b", subjects=["b.>"], max_bytes=4096), 10047)
            await refused(lambda: js.update_stream(api.StreamConfig(name="a", subjects=["a.>"], max_bytes=65536)),
                          10122)
            await js.add_stream(name="b", subjects=["b.>"], max_bytes=1000)
            await refused(lambda: js.add_stream(name="c", subjects=["c.>"], max_bytes=10), 10027)

            await refused(lambda: js.add_consumer("a", api.ConsumerConfig(durable_name="d0", max_ack_pending=500)),
                          10121)
            consumer = await js.add_consumer("a", api.ConsumerConfig(durable_name="d1"))
            assert consumer.config.max_ack_pending == 100
            await refused(lambda: js.add_consumer("b", api.ConsumerConfig(durable_name="d2")), 10026)

            info = await js.account_info()
            assert info.domain == "hub" and info.streams == 2 and info.consumers == 1, info
            assert info.limits == api.AccountLimits(
                max_memory=-1, max_storage=6000, max_streams=2, max_consumers=1, max_ack_pending=100,
                memory_max_stream_bytes=-1, storage_max_stream_bytes=4096, max_bytes_required=True), info.limits
            # The same API under the domain's prefix.
            hub = nc.jetstream(domain="hub")
            assert (await hub.stream_info("a")).config.max_bytes == 4096
            ack = await hub.publish("a.x", b"hello")
            assert ack.stream == "a" and ack.seq == 1, ack
        finally:
            await nc.close()

    run(body())
