"""AMQP 0-9-1 with pika, as a RabbitMQ user would use it (docs/protocols/amqp.md): queues and exchanges,
consumers and acknowledgements, publisher confirms, transactions, dead-lettering, TTL, length limits,
priorities, and RabbitMQ's error codes on the channel that erred while other channels go on."""

from __future__ import annotations

import re
import time

import pika
import pytest
from pika.exceptions import ChannelClosedByBroker, UnroutableError

from amqp_support import connect, drain, get_all, pump
from interop import unique


def test_declare_bind_publish_consume_ack(server):
    with connect(server) as conn:
        ch = conn.channel()
        queue = ch.queue_declare(queue="", exclusive=True).method.queue
        assert queue.startswith("amq.gen-")
        exchange = unique("ex")
        ch.exchange_declare(exchange, "direct")
        ch.queue_bind(queue, exchange, "k")
        for i in range(20):
            ch.basic_publish(exchange, "k", f"m{i}".encode(), pika.BasicProperties(content_type="text/plain"))
        got = drain(ch, queue, 20)
        assert [body for _, _, body in got] == [f"m{i}".encode() for i in range(20)]
        assert got[0][1].content_type == "text/plain"
        assert got[0][0].exchange == exchange and got[0][0].routing_key == "k"
        assert ch.queue_declare(queue, passive=True).method.message_count == 0


def test_properties_and_typed_headers_round_trip(server):
    with connect(server) as conn:
        ch = conn.channel()
        queue = ch.queue_declare(queue="", exclusive=True).method.queue
        headers = {"s": "text", "i": 42, "neg": -7, "b": True, "big": 2**40, "nested": {"x": [1, "two"]}}
        sent = pika.BasicProperties(
            content_type="application/json", content_encoding="utf-8", headers=headers, delivery_mode=2,
            priority=3, correlation_id="c1", reply_to="r1", expiration="60000", message_id="m1", timestamp=1700000000,
            type="t", app_id="app")
        ch.basic_publish("", queue, b"{}", sent)
        method, got, body = ch.basic_get(queue, auto_ack=True)
        assert body == b"{}"
        for field in ("content_type", "content_encoding", "delivery_mode", "priority", "correlation_id", "reply_to",
                      "expiration", "message_id", "timestamp", "type", "app_id"):
            assert getattr(got, field) == getattr(sent, field), field
        assert got.headers == headers


def test_exchange_types_route_as_rabbitmq_does(server):
    with connect(server) as conn:
        ch = conn.channel()
        names = {kind: unique(kind) for kind in ("fanout", "topic", "headers")}
        for kind, name in names.items():
            ch.exchange_declare(name, kind)
        queues = [ch.queue_declare(queue="", exclusive=True).method.queue for _ in range(4)]
        ch.queue_bind(queues[0], names["fanout"])
        ch.queue_bind(queues[1], names["fanout"])
        ch.queue_bind(queues[2], names["topic"], "a.*.c")
        ch.queue_bind(queues[2], names["topic"], "x.#")
        ch.queue_bind(queues[3], names["headers"], arguments={"x-match": "all", "k": "v", "n": 1})
        ch.basic_publish(names["fanout"], "ignored", b"f")
        for key in ("a.b.c", "a.b", "x", "x.y.z", "a.b.c.d"):
            ch.basic_publish(names["topic"], key, key.encode())
        ch.basic_publish(names["headers"], "", b"both", pika.BasicProperties(headers={"k": "v", "n": 1}))
        ch.basic_publish(names["headers"], "", b"one", pika.BasicProperties(headers={"k": "v"}))
        assert get_all(ch, queues[0]) == [b"f"]
        assert get_all(ch, queues[1]) == [b"f"]
        assert get_all(ch, queues[2]) == [b"a.b.c", b"x", b"x.y.z"]
        assert get_all(ch, queues[3]) == [b"both"]


def test_errors_close_only_the_channel_with_rabbitmq_codes(server):
    with connect(server) as conn:
        keeper = conn.channel()
        queue = keeper.queue_declare(queue="", exclusive=True).method.queue
        ch = conn.channel()
        with pytest.raises(ChannelClosedByBroker) as error:
            ch.queue_declare(unique("missing"), passive=True)
        assert error.value.reply_code == 404 and "NOT_FOUND - no queue" in error.value.reply_text
        ch = conn.channel()
        name = unique("q")
        ch.queue_declare(name, auto_delete=True)
        with pytest.raises(ChannelClosedByBroker) as error:
            ch.queue_declare(name, durable=True, auto_delete=True)
        assert error.value.reply_code == 406 and "inequivalent arg 'durable'" in error.value.reply_text
        ch = conn.channel()
        with pytest.raises(ChannelClosedByBroker) as error:
            ch.exchange_declare("amq.mine", "direct")
        assert error.value.reply_code == 403
        ch = conn.channel()
        with pytest.raises(ChannelClosedByBroker) as error:
            ch.basic_publish(unique("nowhere"), "k", b"x")
            ch.queue_declare(queue="", exclusive=True)  # the close arrives with the next synchronous call
        assert error.value.reply_code == 404
        ch = conn.channel()
        with pytest.raises(ChannelClosedByBroker) as error:
            ch.basic_ack(99)
            ch.queue_declare(queue="", exclusive=True)
        assert error.value.reply_code == 406 and "unknown delivery tag 99" in error.value.reply_text
        # The first channel still works.
        keeper.basic_publish("", queue, b"still here")
        assert get_all(keeper, queue) == [b"still here"]
        ch = conn.channel()
        ch.queue_delete(name)


def test_exclusive_queue_belongs_to_its_connection(server):
    with connect(server) as owner, connect(server) as other:
        name = unique("excl")
        owner.channel().queue_declare(name, exclusive=True)
        with pytest.raises(ChannelClosedByBroker) as error:
            other.channel().queue_declare(name, passive=True)
        assert error.value.reply_code == 405
    with connect(server) as later:
        with pytest.raises(ChannelClosedByBroker) as error:
            later.channel().queue_declare(name, passive=True)
        assert error.value.reply_code == 404, "an exclusive queue goes with its connection"


def test_nack_requeues_with_the_redelivered_flag_and_reject_drops(server):
    with connect(server) as conn:
        ch = conn.channel()
        queue = ch.queue_declare(queue="", exclusive=True).method.queue
        ch.basic_publish("", queue, b"one")
        method, _, _ = ch.basic_get(queue)
        assert not method.redelivered
        ch.basic_nack(method.delivery_tag, requeue=True)
        method, _, body = ch.basic_get(queue)
        assert method.redelivered and body == b"one"
        ch.basic_reject(method.delivery_tag, requeue=False)
        assert ch.basic_get(queue)[0] is None


def test_unacked_messages_return_when_the_channel_closes(server):
    with connect(server) as conn:
        ch = conn.channel()
        queue = ch.queue_declare(queue=unique("q"), auto_delete=False).method.queue
        for i in range(3):
            ch.basic_publish("", queue, str(i).encode())
        consumer = conn.channel()
        got = drain(consumer, queue, 3, ack=False)
        assert len(got) == 3
        consumer.close()
        again = drain(ch, queue, 3)
        assert [body for _, _, body in again] == [b"0", b"1", b"2"]
        assert all(method.redelivered for method, _, _ in again)
        ch.queue_delete(queue)


def test_prefetch_shares_work_between_consumers(server):
    with connect(server) as conn:
        ch = conn.channel()
        queue = ch.queue_declare(queue="", exclusive=True).method.queue
        received: dict[str, list[bytes]] = {"a": [], "b": []}
        channels = {}
        for name in received:
            c = conn.channel()
            c.basic_qos(prefetch_count=1)
            c.basic_consume(queue, lambda chan, m, p, body, name=name: (received[name].append(body), chan.basic_ack(m.delivery_tag)))
            channels[name] = c
        for i in range(10):
            ch.basic_publish("", queue, str(i).encode())
        deadline = time.monotonic() + 5
        while sum(map(len, received.values())) < 10 and time.monotonic() < deadline:
            conn.process_data_events(time_limit=0.1)
        assert sum(map(len, received.values())) == 10
        assert len(received["a"]) >= 3 and len(received["b"]) >= 3, received


def test_prefetch_window_holds_deliveries_until_acks(server):
    with connect(server) as conn:
        ch = conn.channel()
        queue = ch.queue_declare(queue="", exclusive=True).method.queue
        for i in range(10):
            ch.basic_publish("", queue, str(i).encode())
        c = conn.channel()
        c.basic_qos(prefetch_count=3)
        held: list = []
        c.basic_consume(queue, lambda chan, m, p, body: held.append(m))
        assert pump(conn, held, 3) == 3
        c.basic_ack(held[-1].delivery_tag, multiple=True)
        assert pump(conn, held, 6) == 6


def test_mandatory_unroutable_message_is_returned_and_confirmed(server):
    with connect(server) as conn:
        ch = conn.channel()
        ch.confirm_delivery()
        exchange = unique("ex")
        ch.exchange_declare(exchange, "direct")
        with pytest.raises(UnroutableError):
            ch.basic_publish(exchange, "nobody", b"x", mandatory=True)
        ch.basic_publish(exchange, "nobody", b"x")  # not mandatory: confirmed, dropped


def test_publisher_confirms_and_reject_publish_overflow_nacks(server):
    from pika.exceptions import NackError

    with connect(server) as conn:
        ch = conn.channel()
        ch.confirm_delivery()
        queue = ch.queue_declare(
            queue="", exclusive=True, arguments={"x-max-length": 2, "x-overflow": "reject-publish"}).method.queue
        ch.basic_publish("", queue, b"1")
        ch.basic_publish("", queue, b"2")
        with pytest.raises(NackError):
            ch.basic_publish("", queue, b"3")
        assert get_all(ch, queue) == [b"1", b"2"]


def test_transactions_publish_on_commit_only(server):
    with connect(server) as conn:
        ch = conn.channel()
        queue = ch.queue_declare(queue="", exclusive=True).method.queue
        ch.tx_select()
        ch.basic_publish("", queue, b"rolled back")
        ch.tx_rollback()
        ch.basic_publish("", queue, b"committed")
        assert ch.queue_declare(queue, passive=True).method.message_count == 0
        ch.tx_commit()
        assert get_all(ch, queue) == [b"committed"]


def test_dead_lettering_with_x_death_after_reject_and_ttl(server):
    with connect(server) as conn:
        ch = conn.channel()
        dlx = unique("dlx")
        ch.exchange_declare(dlx, "fanout")
        dead = ch.queue_declare(queue="", exclusive=True).method.queue
        ch.queue_bind(dead, dlx)
        work = ch.queue_declare(
            queue="", exclusive=True, arguments={"x-dead-letter-exchange": dlx, "x-message-ttl": 200}).method.queue
        ch.basic_publish("", work, b"rejected")
        method, _, _ = ch.basic_get(work)
        ch.basic_reject(method.delivery_tag, requeue=False)
        ch.basic_publish("", work, b"expired")
        time.sleep(0.6)
        got = drain(ch, dead, 2)
        assert [body for _, _, body in got] == [b"rejected", b"expired"]
        deaths = [props.headers["x-death"][0] for _, props, _ in got]
        assert [d["reason"] for d in deaths] == ["rejected", "expired"]
        assert all(d["queue"] == work and d["count"] == 1 for d in deaths)


def test_per_message_expiration_and_max_length_drop_head(server):
    with connect(server) as conn:
        ch = conn.channel()
        queue = ch.queue_declare(queue="", exclusive=True, arguments={"x-max-length": 3}).method.queue
        ch.basic_publish("", queue, b"short", pika.BasicProperties(expiration="100"))
        for i in range(4):
            ch.basic_publish("", queue, str(i).encode())
        assert get_all(ch, queue) == [b"1", b"2", b"3"], "drop-head keeps the newest three"
        ch.basic_publish("", queue, b"gone", pika.BasicProperties(expiration="50"))
        time.sleep(0.3)
        assert get_all(ch, queue) == []


def test_priority_queue_delivers_higher_priorities_first(server):
    with connect(server) as conn:
        ch = conn.channel()
        queue = ch.queue_declare(queue="", exclusive=True, arguments={"x-max-priority": 10}).method.queue
        for priority in (1, 5, 3, 9, 0):
            ch.basic_publish("", queue, str(priority).encode(), pika.BasicProperties(priority=priority))
        assert get_all(ch, queue) == [b"9", b"5", b"3", b"1", b"0"]


def test_deleting_a_queue_cancels_its_consumers(server):
    with connect(server) as conn:
        ch = conn.channel()
        name = unique("q")
        ch.queue_declare(name)
        cancelled: list = []
        consumer = conn.channel()
        consumer.add_on_cancel_callback(lambda frame: cancelled.append(frame))
        consumer.basic_consume(name, lambda *args: None)
        ch.queue_delete(name)
        deadline = time.monotonic() + 5
        while not cancelled and time.monotonic() < deadline:
            conn.process_data_events(time_limit=0.1)
        assert cancelled, "basic.cancel from the server (consumer_cancel_notify)"


def test_queue_purge_and_delete_if_empty(server):
    with connect(server) as conn:
        ch = conn.channel()
        name = unique("q")
        ch.queue_declare(name)
        for i in range(5):
            ch.basic_publish("", name, b"x")
        with pytest.raises(ChannelClosedByBroker) as error:
            ch.queue_delete(name, if_empty=True)
        assert error.value.reply_code == 406
        ch = conn.channel()
        assert ch.queue_purge(name).method.message_count == 5
        assert ch.queue_delete(name, if_empty=True).method.message_count == 0


def test_queues_are_listed_with_depths_in_the_api(server):
    with connect(server) as conn:
        ch = conn.channel()
        name = unique("listed")
        ch.queue_declare(name, durable=True)
        for _ in range(3):
            ch.basic_publish("", name, b"x")
        ch.basic_get(name)  # one unacked
        listed = {q["name"]: q for q in server.session.get(server.http_url + "/api/queues", timeout=5).json()["queues"]}
        assert listed[name]["messages_ready"] == 2 and listed[name]["messages_unacknowledged"] == 1
        assert listed[name]["durable"] is True and listed[name]["consumers"] == 0
        assert listed[name]["consumer_details"] == []
        consumer = conn.channel()
        consumer.basic_qos(prefetch_count=7)
        consumer.basic_consume(name, lambda *args: None, consumer_tag="worker-1")
        conn.process_data_events(time_limit=0.2)
        listed = {q["name"]: q for q in server.session.get(server.http_url + "/api/queues", timeout=5).json()["queues"]}
        [detail] = listed[name]["consumer_details"]
        assert detail["consumer_tag"] == "worker-1" and detail["ack_required"] is True
        assert detail["prefetch_count"] == 7 and detail["messages_unacknowledged"] == 2, detail
        assert detail["channel_details"]["protocol"] == "amqp"
        assert detail["channel_details"]["number"] == consumer.channel_number
        ch.queue_delete(name)


def test_queue_depths_are_in_metrics_and_leave_with_the_queue(server):
    """/metrics carries RabbitMQ's three per-queue gauges, sampled every second."""
    metric = lambda text, name, queue: re.search(rf'^{name}{{queue="{queue}",vhost="/"}} ([0-9.]+)$', text, re.M)
    with connect(server) as conn:
        ch = conn.channel()
        name = unique("depth")
        ch.queue_declare(name)
        for _ in range(3):
            ch.basic_publish("", name, b"x")
        ch.basic_get(name)  # one unacked
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            text = server.get("/metrics").text
            ready = metric(text, "switchboard_queue_messages_ready", name)
            unacked = metric(text, "switchboard_queue_messages_unacknowledged", name)
            if ready and unacked and (float(ready.group(1)), float(unacked.group(1))) == (2.0, 1.0):
                break
            time.sleep(0.2)
        else:
            raise AssertionError(f"no depths for {name} in /metrics")
        assert float(metric(text, "switchboard_queue_consumers", name).group(1)) == 0.0
        ch.queue_delete(name)
    deadline = time.monotonic() + 5
    while metric(server.get("/metrics").text, "switchboard_queue_messages_ready", name):
        assert time.monotonic() < deadline, "a deleted queue's gauges stay"
        time.sleep(0.2)


def test_the_queue_list_wants_the_api_key_when_one_is_set(make_server):
    srv = make_server(args=["--api-key", "k3y"])
    assert srv.session.get(srv.http_url + "/api/queues", timeout=5).status_code == 401
    r = srv.session.get(srv.http_url + "/api/queues", headers={"X-API-Key": "k3y"}, timeout=5)
    assert r.status_code == 200 and r.json() == {"queues": []}


def test_global_prefetch_is_one_window_for_the_channels_consumers(server):
    """basic.qos with global=true: the channel's consumers share one window, across queues."""
    with connect(server) as conn:
        ch = conn.channel()
        queues = [ch.queue_declare(queue="", exclusive=True).method.queue for _ in range(2)]
        for queue in queues:
            for i in range(5):
                ch.basic_publish("", queue, f"{queue}-{i}".encode())
        c = conn.channel()
        c.basic_qos(prefetch_count=3, global_qos=True)
        held: list = []
        for queue in queues:
            c.basic_consume(queue, lambda chan, m, p, body: held.append(m))
        assert pump(conn, held, 3) == 3, "three unacked across both queues"
        c.basic_ack(held[-1].delivery_tag, multiple=True)
        assert pump(conn, held, 6) == 6
        c.basic_ack(held[-1].delivery_tag, multiple=True)
        c.basic_qos(prefetch_count=0, global_qos=True)
        assert pump(conn, held, 10) == 10, "no window: the rest arrive"
