"""STOMP destinations (DESIGN.md §2, as RabbitMQ's STOMP plugin): /topic/a.b is bus topic a/b (`*` one
word, `#` the rest), /queue/q is AMQP queue q on the default exchange, /amq/queue/q an existing queue only,
/exchange/x/key an AMQP exchange, /temp-queue/ with reply-to rewriting, and durable topic subscriptions."""

from __future__ import annotations

import pika
import pytest

from amqp_support import connect, drain
from interop import unique
from stomp_support import TRANSPORTS, VERSIONS, Raw, Stock


def test_topic_wildcards(server):
    word = unique("wc")
    with Stock(server) as sub, Stock(server) as pub:
        sub.subscribe(f"/topic/{word}.*", "one")
        sub.subscribe(f"/topic/{word}.#", "rest")
        pub.send(f"/topic/{word}.a", "a")
        pub.send(f"/topic/{word}.a.b", "a.b")
        got = sorted((m["subscription"], m.body) for m in sub.messages(3))
        assert got == [("one", b"a"), ("rest", b"a"), ("rest", b"a.b")], got
        sub.nothing(0.2)


def test_amq_topic_publish_reaches_a_stomp_topic_subscriber(server):
    word = unique("at")
    with Stock(server) as sub, connect(server) as conn:
        sub.subscribe(f"/topic/{word}.temp", "s1")
        conn.channel().basic_publish("amq.topic", f"{word}.temp", b"from amqp",
                                     pika.BasicProperties(content_type="text/plain", headers={"x-k": "v"}))
        msg = sub.message()
        assert msg.body == b"from amqp" and msg["destination"] == f"/topic/{word}.temp"
        assert msg["content-type"] == "text/plain" and msg["x-k"] == "v", msg


@pytest.mark.parametrize("version", VERSIONS)
def test_queue_is_shared_with_amqp(server, version):
    name = unique("shared")
    with Stock(server, version) as stomp_client, connect(server) as conn:
        ch = conn.channel()
        stomp_client.subscribe(f"/queue/{name}", "s1")  # declares the queue on first use
        ch.queue_declare(name, passive=True)
        ch.basic_publish("", name, b"from pika", pika.BasicProperties(content_type="application/json"))
        msg = stomp_client.message()
        assert msg.body == b"from pika" and msg["content-type"] == "application/json"
        stomp_client.unsubscribe("s1", f"/queue/{name}")
        stomp_client.send(f"/queue/{name}", "from stomp", content_type="text/plain", **{"x-h": "1"})
        got = drain(ch, name, 1)
        assert [body for _, _, body in got] == [b"from stomp"]
        assert got[0][1].content_type == "text/plain" and got[0][1].headers.get("x-h") == "1", got[0][1]
        ch.queue_delete(name)


def test_amq_queue_needs_an_existing_queue(server):
    name = unique("existing")
    with connect(server) as conn:
        ch = conn.channel()
        ch.queue_declare(name, auto_delete=False)
        with Stock(server) as client:
            client.subscribe(f"/amq/queue/{name}", "s1")
            client.send(f"/amq/queue/{name}", "to an existing queue")
            assert client.message().body == b"to an existing queue"
        ch.queue_delete(name)
    missing = unique("missing")
    raw = Raw(server)
    try:
        raw.connect("1.2")
        raw.send("SUBSCRIBE", {"destination": f"/amq/queue/{missing}", "id": "s1"})
        error = raw.expect("ERROR")
        assert missing in error.get("message", "") + error.text, error
    finally:
        raw.close()


def test_exchange_destination(server):
    exchange = unique("ex")
    with connect(server) as conn:
        ch = conn.channel()
        ch.exchange_declare(exchange, "direct")
        bound = ch.queue_declare(queue="", exclusive=True).method.queue
        ch.queue_bind(bound, exchange, "k1")
        with Stock(server) as sub, Stock(server) as pub:
            sub.subscribe(f"/exchange/{exchange}/k1", "s1")  # a private queue bound with k1
            ch.basic_publish(exchange, "k1", b"from pika")
            ch.basic_publish(exchange, "k2", b"other key")
            assert sub.message().body == b"from pika"
            pub.send(f"/exchange/{exchange}/k1", "from stomp")
            assert sub.message().body == b"from stomp"
            sub.nothing(0.2)
        assert sorted(body for _, _, body in drain(ch, bound, 2)) == [b"from pika", b"from stomp"]
        ch.exchange_delete(exchange)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_temp_queue_request_reply(server, transport):
    service = f"/queue/{unique('svc')}"
    with Stock(server, "1.2", transport) as responder, Stock(server, "1.2", transport) as requester:
        responder.subscribe(service, "svc")
        requester.send(service, "ping", **{"reply-to": "/temp-queue/answers", "correlation-id": "c1"})
        request = responder.message()
        reply_to = request["reply-to"]
        assert reply_to != "/temp-queue/answers" and reply_to.startswith("/"), request  # rewritten to a real queue
        responder.send(reply_to, request.body.upper(), **{"correlation-id": request["correlation-id"]})
        answer = requester.message()
        assert answer.body == b"PING" and answer["correlation-id"] == "c1", answer
        assert answer["subscription"] == "/temp-queue/answers", answer


@pytest.mark.parametrize("flag", ["durable", "persistent"])
@pytest.mark.parametrize("version", VERSIONS)
def test_durable_topic_subscription_keeps_messages_while_away(server, version, flag):
    dest, sub_id = f"/topic/{unique('dur')}", unique("sub")
    headers = {flag: "true", "auto-delete": "false"}
    with Stock(server, version) as pub:
        first = Stock(server, version)
        first.subscribe(dest, sub_id, **headers)
        pub.send(dest, "while here")
        assert first.message().body == b"while here"
        first.disconnect()
        for i in range(3):
            pub.send(dest, f"away {i}")
        back = Stock(server, version)
        back.subscribe(dest, sub_id, **headers)
        assert [m.body for m in back.messages(3)] == [b"away 0", b"away 1", b"away 2"]
        # UNSUBSCRIBE with the flag ends the durable subscription (RabbitMQ deletes its queue).
        receipt = "unsub"
        back.conn.unsubscribe(id=sub_id, headers={flag: "true", "receipt": receipt, "destination": dest})
        back.receipt(receipt)
        back.disconnect()
        pub.send(dest, "after the end")
        again = Stock(server, version)
        again.subscribe(dest, sub_id, **headers)
        again.nothing(0.3)
        again.conn.unsubscribe(id=sub_id, headers={flag: "true", "receipt": "u2", "destination": dest})
        again.receipt("u2")
        again.disconnect()
