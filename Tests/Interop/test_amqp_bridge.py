"""AMQP on the one bus (DESIGN.md §2): `amq.topic` is the bus, so a publish there reaches MQTT, NATS and
WebSocket subscribers, and their publishes reach queues bound to `amq.topic` (routing key `a.b.c` ⇄
topic `a/b/c`). Also aio-pika (asyncio) request/reply Debian's amqp-tools, and RabbitMQ's direct reply-to."""

from __future__ import annotations

import asyncio
import subprocess
import time

import aio_pika
import nats
import pika
import pytest

from amqp_support import connect, drain
from interop import run, unique, ws_clients
from mqtt_client import V311, Paho


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
