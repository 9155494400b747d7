"""Issue 23 with issue 24's store: three instances joined through one redis-server (`--engine`) and sharing
one PostgreSQL database (`shared_instances=true`), as docs/operations.md deploys them. Redis routes live
messages between the instances; the database holds what must outlive any of them. With stock clients:

- a durable topic log (`--durable-history`) is one log for the three: a WebSocket subscriber on B gets,
  live, what MQTT on A and HTTP on C publish, at consecutive offsets of one epoch; after it drops it
  recovers on C exactly what it missed, then live again;
- a persistent MQTT session moves with its client: made on A, offline while B and C publish to it, it
  resumes on C with every message once, in order; then A's publishes reach it on C live;
- the client identifier connecting on another instance ends the connection on the first (0x8E), and the
  session the second one resumes is the one the first left.
"""

from __future__ import annotations

import asyncio
import json
import time

from interop import is_message, open_ws, run, unique
from mqtt_client import V5, V311, VERSIONS, Paho
from test_redis_scaleout import redis_server  # noqa: F401 (the fixture)
from test_storage_crash import persistent
from test_storage_postgres import PostgresServer, postgres  # noqa: F401  (the fixture)

import pika
import pytest

HISTORY = "ledger/#=1000"


def instances(make_server, redis_url: str, postgres: PostgresServer):  # noqa: F811
    args = ["--engine", redis_url, "--storage", postgres.url + "&shared_instances=true",
            "--durable-history", HISTORY]
    return [make_server({}, args=args) for _ in range(3)]


def test_a_durable_log_is_one_log_live_and_recovered_across_redis_joined_instances(
    make_server, redis_server, postgres  # noqa: F811
):
    a, b, c = instances(make_server, redis_server[0], postgres)
    channel = f"ledger/{unique()}"

    async def body():
        first = await open_ws(b.ws_url)
        opening = await first.subscribe(channel)
        assert opening["offset"] == 0, opening
        await asyncio.sleep(0.3)  # B's interest reaches Redis
        mqtt_a = Paho(a.mqtt_port, V5)
        try:
            for n in range(1, 4):
                await asyncio.to_thread(mqtt_a.publish, channel, f'{{"n": {n}}}', 1)
            for n in range(4, 6):
                await c.apublish(channel, {"n": n})
            got = await first.messages(channel, 5)
            assert [m["data"]["n"] for m in got] == [1, 2, 3, 4, 5], got
            assert [m["offset"] for m in got] == [1, 2, 3, 4, 5], got
            # One epoch: the writer's. (B's copy was empty when its subscriber opened, and B is not the
            # log's writer: the epoch it named then is replaced by the stored log's, with nothing lost.)
            epochs = {m["epoch"] for m in got}
            assert len(epochs) == 1, got
            epoch = epochs.pop()
            first.abort()

            # Missed while away: two on A over MQTT, two over HTTP on B.
            for n in range(6, 8):
                await asyncio.to_thread(mqtt_a.publish, channel, f'{{"n": {n}}}', 1)
            for n in range(8, 10):
                await b.apublish(channel, {"n": n})
        finally:
            mqtt_a.disconnect()

        second = await open_ws(c.ws_url)
        deadline = time.monotonic() + 10
        while True:
            resumed = await second.subscribe(channel, recover={"offset": 5, "epoch": epoch})
            assert resumed["recovered"] is True, resumed
            if len(resumed["messages"]) >= 4 or time.monotonic() > deadline:
                break
            # C's copy of the log follows the writer's commits a notification's round trip later.
            await second.expect({"type": "unsubscribe", "channel": channel}, "unsubscribed")
            await asyncio.sleep(0.05)
        assert [m["offset"] for m in resumed["messages"]] == [6, 7, 8, 9], resumed
        assert [m["data"]["n"] for m in resumed["messages"]] == [6, 7, 8, 9], resumed
        # Live again, from any instance, continuing the offsets once.
        await asyncio.sleep(0.3)
        await a.apublish(channel, {"n": 10})
        live = await second.message(channel)
        assert live["data"] == {"n": 10} and live["offset"] == 10 and live["epoch"] == epoch, live
        await asyncio.sleep(0.3)
        assert second.pending(is_message(channel)) == [], f"duplicates: {second.pending()}"
        await second.close()

    run(body())


@pytest.mark.parametrize("version", VERSIONS, ids=["3.1.1", "5.0"])
def test_a_persistent_mqtt_session_moves_with_its_client_between_redis_joined_instances(
    make_server, redis_server, postgres, version  # noqa: F811
):
    a, b, c = instances(make_server, redis_server[0], postgres)
    topic = f"orders/{unique()}"
    cid = unique("mover")
    sub = persistent(a.mqtt_port, version, cid)
    sub.subscribe(topic, qos=1)
    sub.disconnect()

    publishers = [Paho(server.mqtt_port, V311) for server in (b, c)]
    try:
        for n in range(10):
            publishers[n % 2].publish(topic, f"m{n}", qos=1)  # returns once acknowledged
    finally:
        for publisher in publishers:
            publisher.disconnect()

    moved = persistent(c.mqtt_port, version, cid)
    try:
        assert moved.session_present, "the session made on A was not found on C"
        got = [m.payload.decode() for m in moved.get_many(10, timeout=10)]
        assert got == [f"m{n}" for n in range(10)], got
        # Live now: published on A, routed through Redis to the session on C, once.
        on_a = Paho(a.mqtt_port, V5)
        on_a.publish(topic, "live", qos=1)
        on_a.disconnect()
        assert moved.get(timeout=10).payload == b"live"
        time.sleep(0.5)
        assert moved.messages.empty(), [m.payload for m in list(moved.messages.queue)]
    finally:
        moved.disconnect()


def test_the_client_id_connecting_on_another_instance_ends_the_first_and_keeps_the_session(
    make_server, redis_server, postgres  # noqa: F811
):
    """[MQTT-3.1.4-3] across instances sharing the store: B's CONNECT ends A's connection (0x8E) and B
    resumes the session A held, subscriptions and all."""
    a, b, _ = instances(make_server, redis_server[0], postgres)
    topic = f"orders/{unique()}"
    cid = unique("taken")
    first = persistent(a.mqtt_port, V5, cid)
    first.subscribe(topic, qos=1)
    time.sleep(0.3)
    second = persistent(b.mqtt_port, V5, cid)
    try:
        assert first.disconnected.wait(10), "the first connection was not ended"
        assert first.disconnect_reason is not None and first.disconnect_reason.value == 0x8E, first.disconnect_reason
        assert second.session_present, "the session A held was not resumed on B"
        publisher = Paho(a.mqtt_port, V5)
        publisher.publish(topic, "after the takeover", qos=1)
        publisher.disconnect()
        assert second.get(timeout=10).payload == b"after the takeover"
        assert not second.disconnected.is_set()
    finally:
        first.client.loop_stop()
        second.disconnect()


def test_a_stream_stores_each_publish_once_whichever_instance_hears_it(
    make_server, redis_server, postgres  # noqa: F811
):
    """A `file` stream the instances share through the store captures a publish once, on the instance it
    was published on: the others hear it through Redis and deliver it, but do not append it again."""
    from test_kafka_rest import Kafka, b64
    from test_storage_postgres_shared_streams import eventually, read_all

    a, b, c = instances(make_server, redis_server[0], postgres)
    on_a, on_c = Kafka(a), Kafka(c)
    topic = unique("captured")
    produced = on_a.produce(topic, [{"value": b64("k0")}], partition=0)
    assert [entry["offset"] for entry in produced["offsets"]] == [0], produced
    assert eventually(lambda: topic in on_c.call("GET", "/topics").json())
    # A subscriber on every instance: each instance hears every publish through Redis.
    subscribers = [Paho(server.mqtt_port, V5) for server in (a, b, c)]
    for subscriber in subscribers:
        subscriber.subscribe(topic, qos=1)
    time.sleep(0.5)  # every instance knows the stream, and the subscriptions reached Redis
    sent = []
    publishers = [Paho(server.mqtt_port, V5) for server in (b, c, a)]
    try:
        for n in range(6):
            publishers[n % 3].publish(topic, f"m{n}", qos=1)  # returns once acknowledged (stored)
            sent.append(f"m{n}")
        for subscriber in subscribers:
            assert [m.payload.decode() for m in subscriber.get_many(6, timeout=10)] == sent
    finally:
        for client in publishers + subscribers:
            client.disconnect()
    time.sleep(1.0)  # an instance appending what it heard would have done so by now
    group = unique("group")
    on_a.consumer(group, name="reader", **{"format": "binary", "auto.offset.reset": "earliest"})
    partitions = {"partitions": [{"topic": topic, "partition": 0}]}
    assert on_a.call("POST", on_a.instance(group, "reader") + "/assignments", partitions).status_code == 204
    got = read_all(on_a, group, "reader", 20)
    assert [(r["offset"], r["value"]) for r in got] == [(0, b64("k0"))] + [
        (i + 1, b64(value)) for i, value in enumerate(sent)
    ], got


def test_a_retained_message_changed_quickly_ends_as_its_last_value_everywhere(
    make_server, redis_server, postgres  # noqa: F811
):
    """Twenty retained values in quick succession on A: every instance, and an instance started after
    them (it reads the store), hands a new subscriber the last one — no instance's late copy of an older
    value overwrites it in the store."""
    a, b, c = instances(make_server, redis_server[0], postgres)
    topic = f"state/{unique()}"
    watchers = [Paho(server.mqtt_port, V5) for server in (b, c)]
    for watcher in watchers:
        watcher.subscribe(topic, qos=1)  # B and C hear every change through Redis
    time.sleep(0.5)
    publisher = Paho(a.mqtt_port, V5)
    try:
        for n in range(20):
            publisher.client.publish(topic, f"r{n}", qos=1, retain=True)
        last = publisher.client.publish(topic, "r20", qos=1, retain=True)
        last.wait_for_publish(10)
        for watcher in watchers:
            watcher.get_many(21, timeout=10)
    finally:
        publisher.disconnect()
        for watcher in watchers:
            watcher.disconnect()
    time.sleep(1.0)
    later = instances(make_server, redis_server[0], postgres)[0]
    for server in (a, b, c, later):
        fresh = Paho(server.mqtt_port, V5)
        try:
            fresh.subscribe(topic, qos=1)
            got = fresh.get(timeout=10)
            assert got.payload == b"r20" and got.retain, (server.http_url, got.payload)
        finally:
            fresh.disconnect()


def test_a_durable_queue_bound_to_a_topic_stores_each_publish_once(
    make_server, redis_server, postgres  # noqa: F811
):
    """A durable queue bound to `amq.topic` (its binding known on every instance: the store's), fed by
    AMQP, MQTT and HTTP publishes on three instances: one copy of each in the queue — the instance a
    publish was made on enqueues it; the others hear it through Redis for their subscribers only."""
    from amqp_support import connect, pump

    a, b, c = instances(make_server, redis_server[0], postgres)
    queue = unique("orders-q")
    key = unique("orders")
    setup = connect(a)
    channel = setup.channel()
    channel.queue_declare(queue, durable=True)
    channel.queue_bind(queue, "amq.topic", routing_key=f"{key}.#")
    setup.close()
    time.sleep(1.0)  # the binding travels to B and C
    # A subscriber of the topic on every instance: each hears every publish.
    watchers = [Paho(server.mqtt_port, V5) for server in (a, b, c)]
    for watcher in watchers:
        watcher.subscribe(f"{key}/#", qos=1)
    time.sleep(0.5)
    sent = []
    try:
        for n, server in enumerate((b, c, a, b, c, a)):
            publisher = connect(server)
            pub = publisher.channel()
            pub.confirm_delivery()
            pub.basic_publish("amq.topic", f"{key}.x", f"m{n}".encode(), pika.BasicProperties(delivery_mode=2))
            publisher.close()
            sent.append(f"m{n}")
        for watcher in watchers:
            assert [m.payload.decode() for m in watcher.get_many(6, timeout=10)] == sent
    finally:
        for watcher in watchers:
            watcher.disconnect()
    time.sleep(1.0)  # a second copy, if any instance enqueued what it heard, is stored by now
    consumer = connect(a)
    channel = consumer.channel()
    got: list = []
    channel.basic_consume(queue, lambda _ch, method, _props, body: got.append(body.decode()), auto_ack=True)
    pump(consumer, got, 20, timeout=3)
    consumer.close()
    assert got == sent, got


def test_a_record_change_reaches_every_instances_subscribers_once_and_its_feed_holds_it_once(
    make_server, redis_server, postgres  # noqa: F811
):
    """A record created and updated on A: an MQTT subscriber of its feed topic on each instance gets each
    change once (A's own delivery, Redis for B and C), and the collection's feed, read on C, holds each
    change once."""
    from test_records import make_collection
    from test_storage_postgres_shared_records import OPEN

    url = postgres.url + "&shared_instances=true"
    args = ["--engine", redis_server[0], "--storage", url]
    a = make_server({}, args=args)
    name = unique("tasks")
    make_collection(a, name, **OPEN)  # answered once stored
    b, c = make_server({}, args=args), make_server({}, args=args)
    watchers = [Paho(server.mqtt_port, V5) for server in (a, b, c)]
    for watcher in watchers:
        watcher.subscribe(f"collections/{name}/#", qos=1)
    time.sleep(0.5)
    base = f"/api/collections/{name}/records"
    try:
        created = a.post(base, json={"title": "t"}).json()
        updated = a.http("PATCH", f"{base}/{created['id']}", json={"title": "u"})
        assert updated.status_code == 200, updated.text
        for watcher in watchers:
            events = [json.loads(m.payload) for m in watcher.get_many(2, timeout=10)]
            assert [(e["action"], e["record"]["title"]) for e in events] == [("create", "t"), ("update", "u")]
        time.sleep(1.0)
        for watcher in watchers:
            assert watcher.messages.empty(), [m.payload for m in list(watcher.messages.queue)]
    finally:
        for watcher in watchers:
            watcher.disconnect()
    # The collection's feed stream, read on C: the two changes, once each.
    from test_records import wait_feed

    feed = wait_feed(c, name, 2)
    assert [m["data"]["action"] for m in feed["messages"]] == ["create", "update"], feed


def test_jetstream_publishes_on_any_instance_are_stored_once_and_pulled_once(
    make_server, redis_server, postgres  # noqa: F811
):
    """A JetStream stream made on A, published to on all three (each PubAck its own sequence, 1…9 once),
    with a core NATS subscriber of the subjects on each instance (so each hears every publish through
    Redis); a durable pull consumer on C gets each message once, in sequence."""
    import nats
    from nats.js import api

    a, b, c = instances(make_server, redis_server[0], postgres)
    stream = unique("ORDERS").replace("-", "_")
    subject = f"{stream.lower()}.new"

    async def body():
        conns = [await nats.connect(server.nats_url, connect_timeout=3, allow_reconnect=False) for server in (a, b, c)]
        try:
            js = [conn.jetstream() for conn in conns]
            await js[0].add_stream(name=stream, subjects=[f"{stream.lower()}.>"])
            heard = [await conn.subscribe(f"{stream.lower()}.>") for conn in conns]
            for conn in conns:
                await conn.flush()
            await asyncio.sleep(1.0)  # the stream is known everywhere, the subscriptions reached Redis
            seqs = []
            for n in range(9):
                ack = await js[n % 3].publish(subject, f"m{n}".encode(), timeout=10)
                assert ack.stream == stream, ack
                seqs.append(ack.seq)
            assert sorted(seqs) == list(range(1, 10)), seqs
            for sub in heard:
                got = [(await sub.next_msg(timeout=10)).data.decode() for _ in range(9)]
                assert sorted(got) == sorted(f"m{n}" for n in range(9)), got
            await asyncio.sleep(1.0)
            pull = await js[2].pull_subscribe(subject, durable="worker", config=api.ConsumerConfig(ack_policy="explicit"))
            pulled = []
            while len(pulled) < 20:
                try:
                    batch = await pull.fetch(20, timeout=2)
                except asyncio.TimeoutError:
                    # nats-py raises its own TimeoutError (a subclass), or asyncio's when its no-wait probe
                    # alone took the whole timeout (a loaded machine).
                    break
                for msg in batch:
                    pulled.append((msg.metadata.sequence.stream, msg.data.decode()))
                    await msg.ack()
            assert [seq for seq, _ in pulled] == list(range(1, 10)), pulled
            info = await js[1].stream_info(stream)
            assert info.state.messages == 9, info.state
        finally:
            for conn in conns:
                await conn.close()

    run(body())
