"""Issue 23, per protocol: three Switchboard instances joined through one redis-server and nothing else (each
instance has its own SQLite store), driven by the stock clients the rest of the suite uses — stomp.py,
pika, paho-mqtt (3.1.1 and 5.0), nats-py, requests against the Kafka REST v2 API and /poll (SSE after `kill -9`: test_redis_history.py).
Each test publishes on one instance and receives on another, or kills (-9) the instance a client was on
and resumes on another. docs/redis.md ("Protocols across instances") maps each point to its test."""

from __future__ import annotations

import asyncio
import time

import nats
import pika

from amqp_support import connect as amqp_connect
from amqp_support import drain, pump
from interop import run, unique
from mqtt_client import V5, V311, Paho
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from stomp_support import Stock
from test_redis_scaleout import cluster, redis_server  # noqa: F401 (fixtures)

# An instance's Redis subscription for a new local subscriber is confirmed a moment after the subscriber's
# own acknowledgement (docs/redis.md, "What it guarantees": a publish before that is not delivered there).
PROPAGATION = 0.5


# --------------------------------------------------------------------------- STOMP


def test_a_stomp_subscriber_gets_a_stomp_send_and_an_mqtt_publish_made_on_other_instances(cluster):
    a, b, c = cluster
    name = unique("stomp")
    destination = f"/topic/{name}.events"
    with Stock(b) as subscriber, Stock(a) as sender:
        subscriber.subscribe(destination, "s1")
        time.sleep(PROPAGATION)
        sender.send(destination, "from-stomp-on-a", content_type="text/plain")
        got = subscriber.message()
        assert got.body == b"from-stomp-on-a", got
        assert got["destination"] == destination and got["subscription"] == "s1", got
        assert got.get("content-type", "").startswith("text/plain"), got
        mqtt_c = Paho(c.mqtt_port, V311)
        try:
            mqtt_c.publish(f"{name}/events", "from-mqtt-on-c", qos=1)
            got = subscriber.message()
            assert got.body == b"from-mqtt-on-c" and got["destination"] == destination, got
        finally:
            mqtt_c.disconnect()
        subscriber.nothing(0.5)  # each once


# --------------------------------------------------------------------------- AMQP


def test_an_amqp_queue_bound_on_one_instance_gets_publishes_made_on_the_others(cluster):
    a, b, c = cluster
    name = unique("orders")
    consumer = amqp_connect(b)
    publisher = amqp_connect(a)
    try:
        channel = consumer.channel()
        queue = channel.queue_declare("", exclusive=True).method.queue
        channel.queue_bind(queue, "amq.topic", routing_key=f"{name}.*")
        time.sleep(PROPAGATION)
        publisher.channel().basic_publish(
            "amq.topic", f"{name}.eu", b"from-amqp-on-a",
            pika.BasicProperties(content_type="text/plain", headers={"origin": "a"}))
        mqtt_c = Paho(c.mqtt_port, V5)
        try:
            mqtt_c.publish(f"{name}/us", "from-mqtt-on-c", qos=1)
        finally:
            mqtt_c.disconnect()

        async def from_nats():
            nc = await nats.connect(c.nats_url)
            await nc.publish(f"{name}.asia", b"from-nats-on-c")
            await nc.flush()
            await nc.close()

        run(from_nats())
        got = drain(channel, queue, 3, timeout=10)
        assert [(m.routing_key, body) for m, _, body in got] == [
            (f"{name}.eu", b"from-amqp-on-a"),
            (f"{name}.us", b"from-mqtt-on-c"),
            (f"{name}.asia", b"from-nats-on-c"),
        ], got
        assert all(m.exchange == "amq.topic" for m, _, _ in got), got
        first = got[0][1]
        assert first.content_type == "text/plain" and first.headers == {"origin": "a"}, first
        # Each once: nothing more is queued.
        assert channel.basic_get(queue, auto_ack=True)[0] is None
    finally:
        consumer.close()
        publisher.close()


# --------------------------------------------------------------------------- MQTT 3.1.1


def test_an_mqtt_311_subscriber_gets_a_publish_made_on_another_instance(cluster):
    a, b, _ = cluster
    topic = f"meters/{unique()}/kwh"
    subscriber = Paho(b.mqtt_port, V311)
    publisher = Paho(a.mqtt_port, V311)
    try:
        subscriber.subscribe("meters/+/kwh", qos=1)
        time.sleep(PROPAGATION)
        for n in range(5):
            publisher.publish(topic, f"{n}", qos=1)
        got = subscriber.get_many(5, timeout=10)
        assert [(m.topic, m.payload, m.qos) for m in got] == [(topic, f"{n}".encode(), 1) for n in range(5)], got
        assert subscriber.nothing(0.5)
    finally:
        subscriber.disconnect()
        publisher.disconnect()


def test_an_mqtt_311_client_id_taken_on_another_instance_closes_the_first_connection(cluster):
    """[MQTT-3.1.4-3] across instances, 3.1.1: there is no DISCONNECT from the server in 3.1.1, so the
    first connection (on A) is closed when the same client identifier connects on B; B's stays."""
    a, b, _ = cluster
    cid = f"meter-{unique()}"
    first = Paho(a.mqtt_port, V311, cid)
    time.sleep(0.3)
    second = Paho(b.mqtt_port, V311, cid)
    try:
        assert first.disconnected.wait(5), "the first connection was not ended"
        assert not second.disconnected.wait(1.0), "the taking connection was ended too"
        # The one that took over works: it gets a publish made on A.
        second.subscribe(f"{cid}/cmd", qos=1)
        time.sleep(PROPAGATION)
        publisher = Paho(a.mqtt_port, V311)
        publisher.publish(f"{cid}/cmd", "on", qos=1)
        publisher.disconnect()
        assert second.get().payload == b"on"
    finally:
        first.client.loop_stop()
        second.disconnect()


# --------------------------------------------------------------------------- SSE and /poll after kill -9


def test_a_long_poll_cursor_continues_on_another_instance_after_kill9_of_its_own(cluster):
    a, b, c = cluster
    ch = f"chat/{unique()}"

    start = b.poll(ch)
    assert start.status_code == 204, start.status_code
    cursor = start.headers["etag"].strip('"')
    a.publish(ch, {"n": 1})
    first = b.poll(ch, cursor)
    assert first.status_code == 200 and [m["data"]["n"] for m in first.json()["messages"]] == [1], first.text
    cursor = first.json()["cursor"]
    b.proc.kill()  # kill -9 of the instance the client polled
    b.proc.wait(5)
    for n, server in ((2, a), (3, c), (4, a)):
        server.publish(ch, {"n": n})
    r = c.poll(ch, cursor)
    assert r.status_code == 200, (r.status_code, r.text)
    got = r.json()
    assert "reset" not in got, got
    assert [m["data"]["n"] for m in got["messages"]] == [2, 3, 4], got
    assert [m["offset"] for m in got["messages"]] == [2, 3, 4], got
    # Then a held poll on A gets the next publish, once.
    cursor = got["cursor"]
    c.publish(ch, {"n": 5})
    r = a.poll(ch, cursor, timeout=5)
    assert r.status_code == 200 and [m["data"]["n"] for m in r.json()["messages"]] == [5], r.text
    assert c.poll(ch, r.json()["cursor"]).status_code == 204


# --------------------------------------------------------------------------- Kafka REST


def test_a_kafka_rest_produce_reaches_mqtt_and_nats_subscribers_on_another_instance(cluster):
    """A produce is a publish to the topic: routed through Redis like any other. The records themselves are
    durable state, which stays in the store of the instance that stored them (docs/operations.md "Durable
    state shared too": with per-instance SQLite stores, `file` streams and their Kafka consumers stay on
    the instance; docs/storage.md "Streams are shared" needs one PostgreSQL database). So a consumer on A
    reads them; B, with Redis alone, has no such topic (40401) — it is not a replica."""
    from test_kafka_rest import BINARY, Kafka, b64

    a, b, _ = cluster
    topic = unique("kafka")
    on_a, on_b = Kafka(a), Kafka(b)

    async def body():
        mqtt_b = Paho(b.mqtt_port, V5)
        mqtt_b.subscribe(topic, qos=1)
        nc = await nats.connect(b.nats_url)
        sub = await nc.subscribe(topic)
        await nc.flush()
        await asyncio.sleep(PROPAGATION)
        produced = await asyncio.to_thread(
            on_a.produce, topic, [{"value": b64(f"r{n}")} for n in range(3)], BINARY, 0)
        assert [o["offset"] for o in produced["offsets"]] == [0, 1, 2], produced
        got_mqtt = [m.payload for m in await asyncio.to_thread(mqtt_b.get_many, 3, 10)]
        got_nats = [(await sub.next_msg(timeout=5)).data for _ in range(3)]
        assert got_mqtt == got_nats == [b"r0", b"r1", b"r2"], (got_mqtt, got_nats)
        assert mqtt_b.nothing(0.5)
        mqtt_b.disconnect()
        await nc.close()

    run(body())
    # The documented split: A's store has the records, B's has no such topic.
    group = unique("group")
    on_a.consumer(group, name="reader", **{"format": "binary", "auto.offset.reset": "earliest"})
    partitions = {"partitions": [{"topic": topic, "partition": 0}]}
    assert on_a.call("POST", on_a.instance(group, "reader") + "/assignments", partitions).status_code == 204
    records: list = []
    deadline = time.monotonic() + 10
    while len(records) < 3 and time.monotonic() < deadline:
        records += on_a.records(group, "reader", timeout=500)
    assert [(r["offset"], r["value"]) for r in records] == [(n, b64(f"r{n}")) for n in range(3)], records
    missing = on_b.call("GET", f"/topics/{topic}")
    assert missing.status_code == 404 and missing.json()["error_code"] == 40401, missing.text


# --------------------------------------------------------------------------- request/reply


def test_an_mqtt5_request_is_answered_on_another_instance_with_response_topic_and_correlation_data(cluster):
    a, b, _ = cluster
    service = f"svc/{unique()}/get"
    inbox = f"replies/{unique()}"
    requester = Paho(a.mqtt_port, V5)
    responder = Paho(b.mqtt_port, V5)
    try:
        requester.subscribe(inbox, qos=1)
        responder.subscribe(service, qos=1)
        time.sleep(PROPAGATION)
        for n in range(3):
            props = Properties(PacketTypes.PUBLISH)
            props.ResponseTopic = inbox
            props.CorrelationData = f"req-{n}".encode()
            requester.publish(service, f"q{n}", qos=1, properties=props)
            request = responder.get(timeout=10)
            assert request.payload == f"q{n}".encode(), request
            assert request.properties.ResponseTopic == inbox, request.properties
            assert request.properties.CorrelationData == f"req-{n}".encode(), request.properties
            answer = Properties(PacketTypes.PUBLISH)
            answer.CorrelationData = request.properties.CorrelationData
            responder.publish(request.properties.ResponseTopic, f"a{n}", qos=1, properties=answer)
            reply = requester.get(timeout=10)
            assert reply.topic == inbox and reply.payload == f"a{n}".encode(), reply
            assert reply.properties.CorrelationData == f"req-{n}".encode(), reply.properties
        assert requester.nothing(0.3) and responder.nothing(0.3)
    finally:
        requester.disconnect()
        responder.disconnect()


def test_an_amqp_request_is_answered_on_another_instance_with_reply_to_and_correlation_id(cluster):
    """The RabbitMQ RPC pattern over `amq.topic` (the exchange the bus bridges): the requester on A binds its
    exclusive reply queue under a routing key it names in `reply_to`; the worker on B answers to that
    routing key with the request's `correlation_id`."""
    a, b, _ = cluster
    service, replies = unique("rpc") + ".get", unique("replies") + ".client"
    requester = amqp_connect(a)
    worker = amqp_connect(b)
    try:
        asking = requester.channel()
        reply_queue = asking.queue_declare("", exclusive=True).method.queue
        asking.queue_bind(reply_queue, "amq.topic", routing_key=replies)
        serving = worker.channel()
        work_queue = serving.queue_declare("", exclusive=True).method.queue
        serving.queue_bind(work_queue, "amq.topic", routing_key=service)
        time.sleep(PROPAGATION)
        for n in range(3):
            asking.basic_publish(
                "amq.topic", service, f"q{n}".encode(),
                pika.BasicProperties(reply_to=replies, correlation_id=f"corr-{n}"))
            [(_, props, body)] = drain(serving, work_queue, 1, timeout=10)
            assert body == f"q{n}".encode(), body
            assert props.reply_to == replies and props.correlation_id == f"corr-{n}", props
            serving.basic_publish(
                "amq.topic", props.reply_to, f"a{n}".encode(),
                pika.BasicProperties(correlation_id=props.correlation_id))
            [(method, answer, body)] = drain(asking, reply_queue, 1, timeout=10)
            assert (method.routing_key, body, answer.correlation_id) == (replies, f"a{n}".encode(), f"corr-{n}")
        assert asking.basic_get(reply_queue, auto_ack=True)[0] is None
        assert serving.basic_get(work_queue, auto_ack=True)[0] is None
    finally:
        requester.close()
        worker.close()



def test_an_amqp_direct_reply_to_request_is_answered_on_another_instance(cluster):
    """RabbitMQ's direct reply-to (`amq.rabbitmq.reply-to`, the RPC pattern pika's docs use): the requester
    on A consumes the pseudo-queue and sends its request with `reply_to` naming it; the worker on B answers
    through the default exchange to the address it was given. Before, the reply was dropped on B (the
    consumer's address was known only to A)."""
    a, b, _ = cluster
    service = unique("rpc") + ".direct"
    requester = amqp_connect(a)
    worker = amqp_connect(b)
    try:
        serving = worker.channel()
        work_queue = serving.queue_declare("", exclusive=True).method.queue
        serving.queue_bind(work_queue, "amq.topic", routing_key=service)
        asking = requester.channel()
        replies: list[tuple[str, bytes]] = []
        asking.basic_consume(
            "amq.rabbitmq.reply-to", lambda _ch, _m, props, body: replies.append((props.correlation_id, body)),
            auto_ack=True)
        time.sleep(PROPAGATION)
        for n in range(3):
            asking.basic_publish(
                "amq.topic", service, f"q{n}".encode(),
                pika.BasicProperties(reply_to="amq.rabbitmq.reply-to", correlation_id=f"corr-{n}"))
            [(_, props, body)] = drain(serving, work_queue, 1, timeout=10)
            assert body == f"q{n}".encode() and props.correlation_id == f"corr-{n}", props
            assert props.reply_to.startswith("amq.rabbitmq.reply-to."), props
            serving.basic_publish(
                "", props.reply_to, f"a{n}".encode(), pika.BasicProperties(correlation_id=props.correlation_id))
            assert pump(requester, replies, n + 1, timeout=10) == n + 1, replies
        assert replies == [(f"corr-{n}", f"a{n}".encode()) for n in range(3)], replies
    finally:
        requester.close()
        worker.close()
