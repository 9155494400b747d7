"""AMQP on the one bus (DESIGN.md §2): `amq.topic` is the bus, so a publish there reaches MQTT, NATS and
WebSocket subscribers, and their publishes reach queues bound to `amq.topic` (routing key `a.b.c` ⇄
topic `a/b/c`). Also aio-pika (asyncio) request/reply Debian's amqp-tools, RabbitMQ's direct reply-to, and
requests answered across protocols (reply_to ⇄ MQTT 5 Response Topic, NATS reply subjects)."""

from __future__ import annotations

import asyncio
import re
import subprocess
import threading
import time

import aio_pika
import nats
import pika
import pytest

from amqp_support import connect, drain, pump
from interop import run, unique, ws_clients
from mqtt_client import V311, Paho
from nats_support import upper_responder


def test_amq_topic_publish_reaches_mqtt_nats_and_websocket(server):
    word = unique("room")
    topic = f"bridge/{word}/temp"

    async def body():
        nc = await nats.connect(server.nats_url)
        sub = await nc.subscribe(f"bridge.{word}.*")
        await nc.flush()
        mqtt = Paho(server.mqtt_port, V311)
        mqtt.subscribe(f"bridge/{word}/#", qos=1)
        async with ws_clients(server.ws_url, 1) as ws:
            await ws.subscribe(topic)
            with connect(server) as conn:
                ch = conn.channel()
                ch.basic_publish(
                    "amq.topic", f"bridge.{word}.temp", b'{"c":21}', pika.BasicProperties(content_type="application/json"))
            got_ws = await ws.messages(topic, 1)
        got_nats = await sub.next_msg(timeout=5)
        got_mqtt = mqtt.get()
        mqtt.disconnect()
        await nc.close()
        return got_ws, got_nats, got_mqtt

    got_ws, got_nats, got_mqtt = run(body())
    assert got_ws[0]["data"] == {"c": 21}
    assert got_nats.subject == f"bridge.{word}.temp" and got_nats.data == b'{"c":21}'
    assert got_mqtt.topic == topic and got_mqtt.payload == b'{"c":21}'


def test_mqtt_and_nats_publishes_reach_a_queue_bound_to_amq_topic(server):
    word = unique("dev")
    with connect(server) as conn:
        ch = conn.channel()
        queue = ch.queue_declare(queue="", exclusive=True).method.queue
        ch.queue_bind(queue, "amq.topic", f"sensors.{word}.*")
        ch.queue_bind(queue, "amq.topic", f"sensors.{word}.#")  # overlapping bindings: still one copy
        ch.queue_bind(queue, "amq.topic", f"alerts.#.{word}")  # `#` in the middle
        mqtt = Paho(server.mqtt_port, V311)
        mqtt.publish(f"sensors/{word}/t1", b"from mqtt", qos=1)

        async def nats_publish():
            nc = await nats.connect(server.nats_url)
            await nc.publish(f"sensors.{word}.t2", b"from nats")
            await nc.publish(f"alerts.eu.fr.{word}", b"deep")
            await nc.publish(f"alerts.eu.fr.other", b"not for us")
            await nc.flush()
            await nc.close()

        run(nats_publish())
        got = drain(ch, queue, 3)
        mqtt.disconnect()
    assert sorted((method.routing_key, body) for method, _, body in got) == sorted(
        [(f"sensors.{word}.t1", b"from mqtt"), (f"sensors.{word}.t2", b"from nats"), (f"alerts.eu.fr.{word}", b"deep")])
    assert all(method.exchange == "amq.topic" for method, _, _ in got)


def test_aio_pika_request_reply(server):
    async def body():
        connection = await aio_pika.connect_robust(server.amqp_url)
        async with connection:
            channel = await connection.channel()
            requests = await channel.declare_queue(unique("rpc"), auto_delete=True)

            async def serve(message: aio_pika.abc.AbstractIncomingMessage):
                async with message.process():
                    await channel.default_exchange.publish(
                        aio_pika.Message(body=message.body.upper(), correlation_id=message.correlation_id),
                        routing_key=message.reply_to)

            await requests.consume(serve)
            callback = await channel.declare_queue(exclusive=True)
            answers: asyncio.Queue = asyncio.Queue()
            await callback.consume(lambda m: answers.put_nowait(m), no_ack=True)
            await channel.default_exchange.publish(
                aio_pika.Message(body=b"ping", correlation_id="42", reply_to=callback.name), routing_key=requests.name)
            answer = await asyncio.wait_for(answers.get(), 5)
            return answer.body, answer.correlation_id

    assert run(body()) == (b"PING", "42")


def test_amqp_tools_publish_and_consume(server):
    queue = unique("tools")
    with connect(server) as conn:
        ch = conn.channel()
        ch.queue_declare(queue)
        url = f"amqp://guest:guest@127.0.0.1:{server.amqp_port}"
        subprocess.run(["amqp-publish", "-u", url, "-r", queue, "-b", "hello from amqp-tools"], check=True, timeout=10)
        out = subprocess.run(
            ["amqp-consume", "-u", url, "-q", queue, "-c", "1", "cat"], check=True, timeout=10, capture_output=True)
        assert out.stdout == b"hello from amqp-tools"
        ch.queue_delete(queue)


def test_direct_reply_to_rpc(server):
    """RabbitMQ's direct reply-to: the requester consumes `amq.rabbitmq.reply-to` (no-ack), publishes with
    that reply-to, and the server's answer comes straight back through the default exchange."""
    with connect(server) as server_conn, connect(server) as client_conn:
        service = server_conn.channel()
        requests = service.queue_declare(queue="", exclusive=True).method.queue

        def answer(ch, method, props, body):
            assert props.reply_to.startswith("amq.rabbitmq.reply-to.")
            ch.basic_publish("", props.reply_to, body[::-1], pika.BasicProperties(correlation_id=props.correlation_id))
            ch.basic_ack(method.delivery_tag)

        service.basic_consume(requests, answer)
        client = client_conn.channel()
        replies: list = []
        client.basic_consume("amq.rabbitmq.reply-to", lambda ch, m, p, body: replies.append((p.correlation_id, body)),
                             auto_ack=True)
        client.basic_publish("", requests, b"olleh", pika.BasicProperties(reply_to="amq.rabbitmq.reply-to",
                                                                           correlation_id="7"))
        deadline = time.monotonic() + 5
        while not replies and time.monotonic() < deadline:
            server_conn.process_data_events(time_limit=0.05)
            client_conn.process_data_events(time_limit=0.05)
        assert replies == [("7", b"hello")]


def test_direct_reply_to_needs_a_no_ack_consumer_first(server):
    from pika.exceptions import ChannelClosedByBroker

    with connect(server) as conn:
        ch = conn.channel()
        with pytest.raises(ChannelClosedByBroker) as error:
            ch.basic_publish("", "anything", b"x", pika.BasicProperties(reply_to="amq.rabbitmq.reply-to"))
            ch.queue_declare(queue="", exclusive=True)
        assert error.value.reply_code == 406 and "fast reply consumer does not exist" in error.value.reply_text
        ch = conn.channel()
        with pytest.raises(ChannelClosedByBroker) as error:
            ch.basic_consume("amq.rabbitmq.reply-to", lambda *a: None, auto_ack=False)
        assert error.value.reply_code == 406


def test_what_amqp_cannot_spell_is_skipped_or_left_out(server):
    """A topic longer than an AMQP routing key (255 bytes) never reaches a queue; an MQTT 5 content type or
    user property name longer than an AMQP short string is left out of the delivered properties."""
    from mqtt_client import V5, props
    from paho.mqtt.packettypes import PacketTypes

    word = unique("long")
    with connect(server) as conn:
        ch = conn.channel()
        queue = ch.queue_declare(queue="", exclusive=True).method.queue
        ch.queue_bind(queue, "amq.topic", f"{word}.#")
        mqtt = Paho(server.mqtt_port, V5)
        mqtt.publish(f"{word}/" + "x" * 300, b"too long a topic", qos=1)
        mqtt.publish(f"{word}/ok", b"fits", qos=1, properties=props(
            PacketTypes.PUBLISH, ContentType="t/" + "y" * 300, UserProperty=[("k", "v"), ("n" * 300, "w")]))
        got = drain(ch, queue, 1)
        mqtt.disconnect()
    assert [body for _, _, body in got] == [b"fits"]
    _, properties, _ = got[0]
    assert properties.content_type is None and properties.headers == {"k": "v"}


# Request/reply across protocols (docs/protocols/amqp.md, "Request/reply across protocols"): the bus reply-to
# is always a topic. A `reply_to` is read as an `amq.topic` routing key (`replies.<word>` → `replies/<word>`),
# so the requester takes replies on a queue bound with that key; a direct reply-to address is its consumer's
# inbox topic `$amqp-reply-to/<token>`.

REPLY_KINDS = ["bound-queue", "direct-reply-to"]


def take_replies(ch, word: str, kind: str, replies: list) -> str:
    """Starts the requester's reply consumer; returns the `reply_to` its requests carry."""
    def collect(channel, method, properties, body):
        replies.append((properties, body))

    if kind == "direct-reply-to":
        ch.basic_consume("amq.rabbitmq.reply-to", collect, auto_ack=True)
        return "amq.rabbitmq.reply-to"
    queue = ch.queue_declare(queue="", exclusive=True).method.queue
    ch.queue_bind(queue, "amq.topic", f"replies.{word}")
    ch.basic_consume(queue, collect, auto_ack=True)
    return f"replies.{word}"


def reply_topic_matches(topic: str, word: str, kind: str) -> bool:
    if kind == "direct-reply-to":
        return re.fullmatch(r"\$amqp-reply-to/[0-9a-z]+", topic) is not None
    return topic == f"replies/{word}"


@pytest.mark.parametrize("kind", REPLY_KINDS)
def test_an_amqp_request_is_answered_by_an_mqtt5_responder_at_its_response_topic(server, kind):
    from mqtt_client import V5, props
    from paho.mqtt.packettypes import PacketTypes

    word = unique("rpc")
    responder = Paho(server.mqtt_port, V5)
    responder.subscribe(f"svc/{word}/ask", qos=1)
    replies: list = []
    try:
        with connect(server) as conn:
            ch = conn.channel()
            reply_to = take_replies(ch, word, kind, replies)
            ch.basic_publish("amq.topic", f"svc.{word}.ask", b"ping",
                             pika.BasicProperties(reply_to=reply_to, correlation_id="c7"))
            request = responder.get()
            response_topic = request.properties.ResponseTopic
            assert reply_topic_matches(response_topic, word, kind), response_topic
            assert request.properties.CorrelationData == b"c7"
            responder.publish(response_topic, request.payload.upper(), qos=1, properties=props(
                PacketTypes.PUBLISH, CorrelationData=request.properties.CorrelationData))
            pump(conn, replies, 1)
    finally:
        responder.disconnect()
    assert [(p.correlation_id, body) for p, body in replies] == [("c7", b"PING")]


@pytest.mark.parametrize("kind", REPLY_KINDS)
def test_an_amqp_request_is_answered_by_a_nats_responder_with_msg_respond(server, kind):
    word = unique("rpc")

    def request() -> list:
        replies: list = []
        with connect(server) as conn:
            ch = conn.channel()
            reply_to = take_replies(ch, word, kind, replies)
            ch.basic_publish("amq.topic", f"svc.{word}.ask", b"ping",
                             pika.BasicProperties(reply_to=reply_to, correlation_id="c8"))
            pump(conn, replies, 1)
        return replies

    async def body():
        async with upper_responder(server, f"svc.{word}.ask") as subjects:
            return subjects, await asyncio.to_thread(request)

    subjects, replies = run(body())
    assert len(subjects) == 1 and reply_topic_matches(subjects[0].replace(".", "/"), word, kind), subjects
    assert [body for _, body in replies] == [b"PING"]


def test_an_mqtt5_request_is_answered_by_an_amqp_responder_through_amq_topic(server):
    """The MQTT 5 Response Topic reaches the AMQP responder as the routing key it publishes its reply to
    `amq.topic` with, and the Correlation Data as `correlation_id`."""
    from mqtt_client import V5, props
    from paho.mqtt.packettypes import PacketTypes

    word = unique("rpc")
    requester = Paho(server.mqtt_port, V5)
    requester.subscribe(f"replies/{word}", qos=1)
    try:
        with connect(server) as conn:
            ch = conn.channel()
            queue = ch.queue_declare(queue="", exclusive=True).method.queue
            ch.queue_bind(queue, "amq.topic", f"svc.{word}.ask")
            requester.publish(f"svc/{word}/ask", b"ping", qos=1, properties=props(
                PacketTypes.PUBLISH, ResponseTopic=f"replies/{word}", CorrelationData=b"c9"))
            [(_, properties, body)] = drain(ch, queue, 1)
            assert (properties.reply_to, properties.correlation_id) == (f"replies.{word}", "c9")
            ch.basic_publish("amq.topic", properties.reply_to, body.upper(),
                             pika.BasicProperties(correlation_id=properties.correlation_id))
        answer = requester.get()
    finally:
        requester.disconnect()
    assert (answer.topic, answer.payload, answer.properties.CorrelationData) == (f"replies/{word}", b"PING", b"c9")


def test_a_nats_request_is_answered_by_an_amqp_responder_at_its_reply_to(server):
    """nats-py's `request`: its `_INBOX` reply subject reaches the AMQP responder as `reply_to` (a routing
    key), and the reply it publishes to `amq.topic` with that key is the NATS request's answer."""
    word = unique("rpc")
    with connect(server) as conn:
        ch = conn.channel()
        queue = ch.queue_declare(queue="", exclusive=True).method.queue
        ch.queue_bind(queue, "amq.topic", f"svc.{word}.ask")

        async def ask():
            nc = await nats.connect(server.nats_url)
            try:
                return await nc.request(f"svc.{word}.ask", b"ping", timeout=10)
            finally:
                await nc.close()

        answers: list = []
        asker = threading.Thread(target=lambda: answers.append(run(ask())))
        asker.start()
        [(_, properties, body)] = drain(ch, queue, 1)
        assert properties.reply_to.startswith("_INBOX."), properties.reply_to
        ch.basic_publish("amq.topic", properties.reply_to, body.upper())
        asker.join(15)
    assert [a.data for a in answers] == [b"PING"], answers
