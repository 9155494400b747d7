"""NATS JetStream key-value buckets with the stock nats-py client (issue 19): `create_key_value` makes the
`KV_<bucket>` stream nats-py asks for, and put/get (direct get and STREAM.MSG.GET), create/update with
revisions, delete (`KV-Operation: DEL`), purge (`Nats-Rollup: sub`), history, keys, watch (an ordered push
consumer with `last_per_subject`, flow control and idle heartbeats), bucket status and delete_kv work as
against nats-server. docs/protocols/nats.md "JetStream" maps each clause to these tests."""

from __future__ import annotations

import asyncio

import nats
import nats.js.api
import pytest
from nats.js.errors import BucketNotFoundError, KeyNotFoundError, KeyWrongLastSequenceError, NoKeysError

from interop import run, unique

TIMEOUT = 5.0


async def connect(server, **kwargs):
    kwargs.setdefault("connect_timeout", 3)
    kwargs.setdefault("allow_reconnect", False)
    return await nats.connect(server.nats_url, **kwargs)


def describe(msg) -> str | None:
    """A status message's description (nats-py keys it by its Header enum)."""
    return msg.headers.get(nats.js.api.Header.DESCRIPTION) or msg.headers.get("Description")


def test_kv_bucket_create_status_and_delete(server):
    async def body():
        nc = await connect(server)
        js = nc.jetstream()
        bucket = unique("kv")
        try:
            kv = await js.create_key_value(bucket=bucket, history=5, description="settings")
            info = await js.stream_info(f"KV_{bucket}")
            assert info.config.subjects == [f"$KV.{bucket}.>"]
            assert info.config.max_msgs_per_subject == 5
            assert info.config.allow_rollup_hdrs is True
            assert info.config.deny_delete is True
            assert not info.config.allow_direct  # nats-py asks for it only with direct=True (as nats-server keeps it)
            assert info.config.discard in ("new", nats.js.api.DiscardPolicy.NEW)
            await kv.put("a", b"1")
            status = await kv.status()
            assert status.bucket == bucket
            assert status.values == 1
            assert status.history == 5
            again = await js.key_value(bucket)
            assert (await again.get("a")).value == b"1"
            assert await js.delete_key_value(bucket) is True
            with pytest.raises(BucketNotFoundError):
                await js.key_value(bucket)
        finally:
            await nc.close()

    run(body())


def test_kv_put_get_create_update_conflict(server):
    async def body():
        nc = await connect(server)
        js = nc.jetstream()
        bucket = unique("kv")
        try:
            # direct=True: gets go to $JS.API.DIRECT.GET (404 "Message Not Found" for a missing key).
            kv = await js.create_key_value(bucket=bucket, history=3, direct=True)
            assert (await js.stream_info(f"KV_{bucket}")).config.allow_direct is True
            first = await kv.put("color", b"red")
            entry = await kv.get("color")
            assert (entry.key, entry.value, entry.revision) == ("color", b"red", first)
            # A revision reads that message (direct get with {"seq": n}).
            second = await kv.put("color", b"blue")
            assert second == first + 1
            assert (await kv.get("color", revision=first)).value == b"red"
            assert (await kv.get("color")).value == b"blue"
            # The non-direct path: STREAM.MSG.GET last_by_subj.
            raw = await js.get_msg(f"KV_{bucket}", subject=f"$KV.{bucket}.color")
            assert (raw.data, raw.seq) == (b"blue", second)
            with pytest.raises(KeyNotFoundError):
                await kv.get("missing")
            created = await kv.create("size", b"L")
            with pytest.raises(KeyWrongLastSequenceError):
                await kv.create("size", b"XL")
            updated = await kv.update("size", b"M", last=created)
            with pytest.raises(KeyWrongLastSequenceError):
                await kv.update("size", b"S", last=created)
            assert (await kv.get("size")).value == b"M"
            assert (await kv.get("size")).revision == updated
        finally:
            await js.delete_key_value(bucket)
            await nc.close()

    run(body())


def test_kv_delete_purge_history_keys(server):
    async def body():
        nc = await connect(server)
        js = nc.jetstream()
        bucket = unique("kv")
        try:
            kv = await js.create_key_value(bucket=bucket, history=10)
            for value in (b"1", b"2", b"3"):
                await kv.put("k", value)
            await kv.put("other", b"x")
            history = await kv.history("k")
            assert [entry.value for entry in history] == [b"1", b"2", b"3"]
            assert sorted(await kv.keys()) == ["k", "other"]
            await kv.delete("other")
            with pytest.raises(KeyNotFoundError):
                await kv.get("other")
            history = await kv.history("other")
            assert [entry.operation for entry in history] == [None, "DEL"]
            assert await kv.keys() == ["k"]
            # A deleted key can be created again (create reads the DEL marker's revision).
            await kv.create("other", b"y")
            assert (await kv.get("other")).value == b"y"
            # Purge rolls the subject up: only the PURGE marker is left of "k".
            await kv.purge("k")
            history = await kv.history("k")
            assert [entry.operation for entry in history] == ["PURGE"]
            with pytest.raises(KeyNotFoundError):
                await kv.get("k")
            state = (await js.stream_info(f"KV_{bucket}")).state
            assert (state.messages, state.first_seq) == (4, 4)  # other: x, DEL, y; k: PURGE (1-3 rolled up)
            await kv.purge("other")
            with pytest.raises(NoKeysError):
                await kv.keys()
        finally:
            await js.delete_key_value(bucket)
            await nc.close()

    run(body())


def test_kv_purge_of_a_wildcard_key_purges_every_key_it_matches(server):
    """nats.py's test_kv_simple, as nats-server 2.9.10 passes it: `purge("hello.*")` publishes its marker to
    `$KV.<b>.hello.*` (a wildcard token, which a client that is not pedantic may publish); the marker is
    stored and its `Nats-Rollup: sub` purges every `hello.<x>` before it, the deleted and purged ones too.
    The marker is the topic level `*`, given back to NATS as the token `*` (docs/topics.md)."""

    async def body():
        nc = await connect(server)
        js = nc.jetstream()
        bucket = unique("kvw")
        try:
            kv = await js.create_key_value(bucket=bucket, history=5, ttl=3600)
            assert await kv.put("hello", b"world") == 1
            for i in range(100):
                await kv.put(f"hello.{i}", b"Hello JS KV!")
            await kv.delete("hello.1")
            await kv.purge("hello.5")
            assert (await kv.status()).values == 102
            await kv.purge("hello.*")
            with pytest.raises(KeyNotFoundError):
                await kv.get("hello.5")
            with pytest.raises(KeyNotFoundError):
                await kv.get("hello.7")
            assert (await kv.status()).values == 2  # "hello" and the marker
            entry = await kv.get("hello")
            assert (entry.value, entry.revision) == (b"world", 1)
            for i in range(100, 200):
                await kv.put(f"hello.{i}", b"Hello JS KV!")
            assert (await kv.status()).values == 102
            entry = await kv.get("hello.102")
            assert (entry.value, entry.revision) == (b"Hello JS KV!", 107)
            # The marker's subject, as the stream keeps it: named by `%2A` (a literal `*`) or by the wildcard.
            info = await js.stream_info(f"KV_{bucket}", subjects_filter=f"$KV.{bucket}.hello.%2A")
            assert info.state.subjects == {f"$KV.{bucket}.hello.*": 1}
            info = await js.stream_info(f"KV_{bucket}", subjects_filter=f"$KV.{bucket}.hello.*")
            assert set(info.state.subjects) == {f"$KV.{bucket}.hello.*"} | {f"$KV.{bucket}.hello.{i}" for i in range(100, 200)}
        finally:
            await nc.close()

    run(body())


def test_kv_keys_with_wildcard_tokens_are_put_read_updated_and_deleted(server):
    """nats.py's test_key_validation_bypass, as nats-server 2.9.10 passes it: with `validate_keys=False` the
    keys `x.>` and `x.*` are subjects with a wildcard token; each is stored as its own key and read back
    under the subject it was written to (nats-py checks the subject a get answers with)."""

    async def body():
        nc = await connect(server)
        js = nc.jetstream()
        bucket = unique("kvk")
        try:
            kv = await js.create_key_value(bucket=bucket, history=5)
            await kv.put("x.1", b"one")
            for key in ("x.>", "x.*"):
                seq = await kv.put(key, b"value", validate_keys=False)
                entry = await kv.get(key, validate_keys=False)
                assert (entry.key, entry.value, entry.revision) == (key, b"value", seq)
                assert await kv.update(key, b"updated", last=seq, validate_keys=False) > seq
                assert (await kv.get(key, validate_keys=False)).value == b"updated"
                assert await kv.delete(key, validate_keys=False) is True
                with pytest.raises(KeyNotFoundError):
                    await kv.get(key, validate_keys=False)
            assert (await kv.get("x.1")).value == b"one"  # a literal key, untouched by either
        finally:
            await nc.close()

    run(body())


def test_kv_watch_sees_live_updates_and_deletes(server):
    async def body():
        nc = await connect(server)
        js = nc.jetstream()
        bucket = unique("kv")
        try:
            kv = await js.create_key_value(bucket=bucket, history=5)
            await kv.put("a", b"old")
            await kv.put("a", b"new")
            await kv.put("b", b"1")
            watcher = await kv.watchall()
            # last_per_subject: each key's latest value, then the end-of-initial marker (None).
            initial = [await watcher.updates(TIMEOUT) for _ in range(2)]
            assert [(e.key, e.value) for e in initial] == [("a", b"new"), ("b", b"1")]
            assert await watcher.updates(TIMEOUT) is None
            await kv.put("c", b"live")
            live = await watcher.updates(TIMEOUT)
            assert (live.key, live.value, live.operation) == ("c", b"live", None)
            await kv.delete("a")
            deleted = await watcher.updates(TIMEOUT)
            assert (deleted.key, deleted.operation) == ("a", "DEL")
            await watcher.stop()

            one = await kv.watch("b")
            assert (await one.updates(TIMEOUT)).value == b"1"
            assert await one.updates(TIMEOUT) is None
            await kv.put("c", b"not-b")
            await kv.put("b", b"2")
            assert (await one.updates(TIMEOUT)).value == b"2"
            await one.stop()
        finally:
            await js.delete_key_value(bucket)
            await nc.close()

    run(body())


def test_kv_watch_delivers_initial_values_without_waiting_a_poll_slice(server):
    # A watcher subscribes to its deliver inbox as it creates the push consumer; the first values must not
    # wait for the server's 200 ms poll slice (purge_deletes(olderthan=...) judges a marker's age by when
    # the watcher saw it, so a late delivery makes a fresh delete marker look old and purges it).
    async def body():
        nc = await connect(server)
        js = nc.jetstream()
        bucket = unique("kv")
        try:
            kv = await js.create_key_value(bucket=bucket, history=5)
            await kv.put("a", b"1")
            await kv.delete("a")
            loop = asyncio.get_running_loop()
            started = loop.time()
            watcher = await kv.watchall()
            first = await watcher.updates(TIMEOUT)
            waited = loop.time() - started
            assert (first.key, first.operation) == ("a", "DEL")
            assert waited < 0.1, f"first watch update took {waited:.3f}s"
            await watcher.stop()
            # The fresh marker is kept (keep=1 on its subject), as nats-server keeps it.
            await kv.purge_deletes(olderthan=5)
            info = await js.stream_info(f"KV_{bucket}")
            assert info.state.messages == 1
        finally:
            await js.delete_key_value(bucket)
            await nc.close()

    run(body())


def test_kv_watch_receives_idle_heartbeats_and_flow_control(server):
    async def body():
        nc = await connect(server)
        js = nc.jetstream()
        bucket = unique("kv")
        try:
            kv = await js.create_key_value(bucket=bucket)
            await kv.put("a", b"1")
            seen = []
            inbox = nc.new_inbox()

            async def on_message(msg):
                seen.append(msg)

            sub = await nc.subscribe(inbox, cb=on_message)
            await js._jsm.add_consumer(
                f"KV_{bucket}",
                config=nats.js.api.ConsumerConfig(
                    deliver_subject=inbox, deliver_policy=nats.js.api.DeliverPolicy.LAST_PER_SUBJECT,
                    ack_policy=nats.js.api.AckPolicy.NONE, flow_control=True, idle_heartbeat=0.5,
                    filter_subject=f"$KV.{bucket}.>", mem_storage=True))
            await asyncio.sleep(1.6)
            data = [m for m in seen if not m.headers or "Status" not in m.headers]
            control = [m for m in seen if m.headers and m.headers.get("Status") == "100"]
            assert [m.data for m in data] == [b"1"]
            flow = [m for m in control if describe(m) == "FlowControl Request"]
            beats = [m for m in control if describe(m) == "Idle Heartbeat"]
            assert len(flow) == 1 and flow[0].reply.startswith(f"$JS.FC.KV_{bucket}.")
            assert len(beats) >= 2
            assert beats[0].headers["Nats-Last-Consumer"] == "1"
            assert beats[0].headers["Nats-Last-Stream"] == str(data[0].metadata.sequence.stream)
            # Unanswered, the request is named in the heartbeat; answering it clears that.
            assert beats[-1].headers.get("Nats-Consumer-Stalled") == flow[0].reply
            await nc.publish(flow[0].reply, b"")
            await nc.flush()
            await asyncio.sleep(0.8)
            assert "Nats-Consumer-Stalled" not in seen[-1].headers
            await sub.unsubscribe()
        finally:
            await js.delete_key_value(bucket)
            await nc.close()

    run(body())


def test_kv_value_published_by_plain_nats_and_mqtt(make_server):
    from mqtt_client import V311, Paho

    srv = make_server()

    async def body():
        nc = await connect(srv)
        js = nc.jetstream()
        bucket = unique("kv")
        try:
            kv = await js.create_key_value(bucket=bucket)
            await nc.publish(f"$KV.{bucket}.plain", b"from-core-nats")
            await nc.flush()
            pub = Paho(srv.mqtt_port, V311)
            try:
                info_ = pub.client.publish(f"$KV/{bucket}/device", b"from-mqtt", qos=1)
                await asyncio.get_running_loop().run_in_executor(None, info_.wait_for_publish, 5.0)
                assert info_.is_published()
            finally:
                pub.client.loop_stop()
            for _ in range(50):
                try:
                    await kv.get("plain")
                    await kv.get("device")
                    break
                except KeyNotFoundError:
                    await asyncio.sleep(0.1)
            assert (await kv.get("plain")).value == b"from-core-nats"
            assert (await kv.get("device")).value == b"from-mqtt"
        finally:
            await js.delete_key_value(bucket)
            await nc.close()

    run(body())


def test_kv_bucket_keeps_its_settings_across_a_restart(make_server):
    """What JetStream says about a stream beyond the bus's own configuration (here a bucket's rollups,
    delete denial, description, republish) is stored beside its durable consumers: after a restart the bucket purges
    and reads as before."""
    srv = make_server()
    bucket = unique("kvr")

    async def before() -> None:
        nc = await connect(srv)
        js = nc.jetstream()
        try:
            kv = await js.create_key_value(
                bucket=bucket, history=5, description="kept", republish=nats.js.api.RePublish(dest=f"{bucket}r.>"))
            await kv.put("k", b"1")
            await kv.put("k", b"2")
        finally:
            await nc.close()

    run(before())
    srv.stop()
    srv.start()

    async def after() -> None:
        nc = await connect(srv)
        js = nc.jetstream()
        try:
            info = await js.stream_info(f"KV_{bucket}")
            assert info.config.allow_rollup_hdrs and info.config.deny_delete
            assert info.config.description == "kept"
            kv = await js.key_value(bucket)
            assert (await kv.get("k")).value == b"2"
            republished = await nc.subscribe(f"{bucket}r.>")
            await nc.flush()
            await kv.purge("k")  # a rollup: refused if the stream forgot allow_rollup_hdrs
            msg = await republished.next_msg(timeout=TIMEOUT)  # republishing starts again with the server
            assert msg.subject == f"{bucket}r.$KV.{bucket}.k" and msg.headers["KV-Operation"] == "PURGE"
            assert [entry.operation for entry in await kv.history("k")] == ["PURGE"]
            assert await js.delete_key_value(bucket)
        finally:
            await nc.close()

    run(after())

    srv.stop()
    srv.start()

    async def gone() -> None:
        nc = await connect(srv)
        js = nc.jetstream()
        try:
            with pytest.raises(BucketNotFoundError):
                await js.key_value(bucket)
        finally:
            await nc.close()

    run(gone())


def test_kv_republish_publishes_stored_values_again(server):
    """A stream's `republish` sends each stored message again on its destination (the source's `>`
    carried over), with Nats-Stream/Subject/Sequence headers; `headers_only` sends the size instead of
    the payload. A destination the stream itself captures is a cycle, refused."""

    async def body():
        nc = await connect(server)
        js = nc.jetstream()
        bucket = unique("rp")
        try:
            kv = await js.create_key_value(bucket=bucket, republish=nats.js.api.RePublish(src=">", dest=f"{bucket}x.>"))
            info = await js.stream_info(f"KV_{bucket}")
            assert info.config.republish.dest == f"{bucket}x.>"
            sub = await nc.subscribe(f"{bucket}x.>")
            await nc.flush()
            await kv.put("hello.world", b"Hello World!")
            msg = await sub.next_msg(timeout=TIMEOUT)
            assert msg.subject == f"{bucket}x.$KV.{bucket}.hello.world"
            assert msg.data == b"Hello World!" and "Nats-Msg-Size" not in (msg.headers or {})
            assert (msg.headers["Nats-Stream"], msg.headers["Nats-Sequence"]) == (f"KV_{bucket}", "1")
            assert msg.headers["Nats-Subject"] == f"$KV.{bucket}.hello.world"

            name = unique("RH")
            await js.add_stream(
                name=name, subjects=[f"{name}.*.in"],
                republish=nats.js.api.RePublish(src=f"{name}.*.in", dest=f"{name}out.*", headers_only=True))
            only = await nc.subscribe(f"{name}out.>")
            await nc.flush()
            await js.publish(f"{name}.eu.in", b"12345")
            msg = await only.next_msg(timeout=TIMEOUT)
            assert (msg.subject, msg.data, msg.headers["Nats-Msg-Size"]) == (f"{name}out.eu", b"", "5")
            with pytest.raises(nats.js.errors.APIError) as raised:
                await js.add_stream(
                    name=unique("RC"), subjects=[f"{name}c.>"],
                    republish=nats.js.api.RePublish(src=">", dest=f"{name}c.again.>"))
            assert raised.value.err_code == 10052
        finally:
            await nc.close()

    run(body())
