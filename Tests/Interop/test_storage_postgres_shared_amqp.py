"""AMQP durable queues across several instances on one PostgreSQL database (issue 24,
`shared_instances=true`; docs/storage.md "AMQP durable queues"). Two `switchboard serve` processes share
one PostgreSQL server the test starts, and pika talks to both.

- A durable queue is served by one instance at a time; a publish on the other is stored for it (and
  confirmed only once stored) and reaches the serving instance's consumer, live too.
- A consumer on B while A consumes the queue is refused with 405 RESOURCE_LOCKED; once A's consumer is
  gone, B takes the queue over with every message A held, transient ones included.
- A purge or delete on B claims the queue first and counts what the database holds (405 while A consumes).
- `kill -9` of the serving instance (idle, or under load): B takes the queue at once and gets every confirmed message not
  acknowledged on A exactly once, and none that was acknowledged; those A had delivered come `redelivered`.
"""

from __future__ import annotations

import threading
import time

import pika
import pytest
from pika.exceptions import ChannelClosedByBroker, UnroutableError

from amqp_support import connect, get_all, pump
from interop import unique
from stomp_support import Raw
from test_storage_crash import kill9
from test_storage_postgres import PostgresServer, postgres  # noqa: F401  (the fixture)
from test_storage_postgres_shared import shared

PERSISTENT = pika.BasicProperties(delivery_mode=2)


def declare(server, queue: str):
    connection = connect(server)
    channel = connection.channel()
    channel.queue_declare(queue, durable=True)
    return connection, channel


def publish_confirmed(server, queue: str, bodies: list[bytes], properties=PERSISTENT) -> None:
    """Publishes with publisher confirms: `basic_publish` returns once the broker confirmed (or raises)."""
    connection, channel = declare(server, queue)
    channel.confirm_delivery()
    for body in bodies:
        channel.basic_publish("", queue, body, properties)
    connection.close()


def consume(connection, channel, queue: str, count: int, timeout: float = 10.0) -> list[tuple[int, bytes]]:
    """Registers a manual-ack consumer and collects `count` deliveries (delivery tag, body), unacked."""
    got: list[tuple[int, bytes]] = []
    channel.basic_consume(queue, lambda _ch, method, _props, body: got.append((method.delivery_tag, body)))
    pump(connection, got, count, timeout=timeout)
    return got


def test_a_publish_on_b_reaches_the_consumer_on_a_and_is_confirmed_once_stored(make_server, postgres):  # noqa: F811
    a, b = shared(make_server, postgres)
    queue = unique("shared-q")
    on_a, channel_a = declare(a, queue)

    # Nobody serves the queue yet: B stores what it is given; A's consumer claims the queue and reads it.
    publish_confirmed(b, queue, [f"early{i}".encode() for i in range(20)])
    early = consume(on_a, channel_a, queue, 20)
    assert [body for _, body in early] == [f"early{i}".encode() for i in range(20)]

    # A serves it now: B's publishes reach A's consumer live (the store's notification), in order.
    publish_confirmed(b, queue, [f"live{i}".encode() for i in range(10)])
    live = consume_more(on_a, early, 30)
    assert [body for _, body in live[20:]] == [f"live{i}".encode() for i in range(10)]
    for tag, _ in live:
        channel_a.basic_ack(tag)
    on_a.process_data_events(time_limit=0.5)
    assert postgres.sql(f"SELECT count(*) FROM amqp_queue_message WHERE queue = '{queue}'") == "0"
    on_a.close()


def consume_more(connection, got: list, count: int) -> list:
    pump(connection, got, count, timeout=10.0)
    return got


def test_a_consumer_on_b_is_refused_while_a_consumes_and_takes_over_when_it_stops(make_server, postgres):  # noqa: F811
    a, b = shared(make_server, postgres)
    queue = unique("shared-q")
    on_a, channel_a = declare(a, queue)
    channel_a.basic_qos(prefetch_count=5)
    # Persistent and transient messages, published on A: with shared instances both are stored.
    publish_confirmed(a, queue, [f"p{i}".encode() for i in range(10)])
    publish_confirmed(a, queue, [f"t{i}".encode() for i in range(5)], pika.BasicProperties(delivery_mode=1))
    held = consume(on_a, channel_a, queue, 5)
    assert [body for _, body in held] == [f"p{i}".encode() for i in range(5)]

    on_b, channel_b = declare(b, queue)
    started = time.monotonic()
    with pytest.raises(ChannelClosedByBroker) as refused:
        channel_b.basic_consume(queue, lambda *_: None)
    assert refused.value.reply_code == 405, refused.value  # RESOURCE_LOCKED
    assert time.monotonic() - started < 5

    # A acknowledges two, and its connection goes: the other three come back; B may have the queue now.
    channel_a.basic_ack(held[0][0])
    channel_a.basic_ack(held[1][0])
    on_a.process_data_events(time_limit=0.3)
    on_a.close()
    channel_b = on_b.channel()
    rest = consume(on_b, channel_b, queue, 13)
    bodies = [body for _, body in rest]
    assert sorted(bodies) == sorted([f"p{i}".encode() for i in range(2, 10)] + [f"t{i}".encode() for i in range(5)])
    on_b.close()


def test_kill9_of_the_serving_instance_hands_every_unacked_confirmed_message_to_b_once(
    make_server, postgres  # noqa: F811
):
    a, b = shared(make_server, postgres)
    queue = unique("shared-q")
    on_a, channel_a = declare(a, queue)
    published = [f"b{i}".encode() for i in range(30)]
    publish_confirmed(b, queue, published[:15])
    got = consume(on_a, channel_a, queue, 15)
    publish_confirmed(b, queue, published[15:])
    got = consume_more(on_a, got, 30)
    assert [body for _, body in got] == published
    acked = set()
    for tag, body in got[:12]:
        channel_a.basic_ack(tag)
        acked.add(body)
    # The acknowledgements' deletions are written behind them: give them a commit.
    on_a.process_data_events(time_limit=1.0)
    kill9(a)

    on_b, channel_b = declare(b, queue)
    started = time.monotonic()
    rest = consume(on_b, channel_b, queue, 30 - 12, timeout=10.0)
    assert time.monotonic() - started < 5, "the dead instance's queue was not let go of at once"
    bodies = [body for _, body in rest]
    assert len(bodies) == len(set(bodies)), "a message was delivered twice"
    assert set(bodies) == set(published) - acked
    assert bodies == [body for body in published if body not in acked], "order"
    for tag, _ in rest:
        channel_b.basic_ack(tag)
    on_b.process_data_events(time_limit=0.5)
    channel_b.cancel()
    assert get_all(on_b.channel(), queue) == []
    on_b.close()


def test_messages_the_dead_owner_delivered_come_redelivered_on_the_next(make_server, postgres):  # noqa: F811
    """AMQP 0-9-1 basic.deliver `redelivered`: "this message may have been delivered before". The owner
    marks a stored message delivered when it first hands it out; the next owner sets the flag on exactly
    those, and not on the messages it is the first to deliver."""
    a, b = shared(make_server, postgres)
    queue = unique("shared-q")
    on_a, channel_a = declare(a, queue)
    channel_a.basic_qos(prefetch_count=5)
    published = [f"r{i}".encode() for i in range(10)]
    publish_confirmed(a, queue, published)
    got = []
    channel_a.basic_consume(queue, lambda _ch, method, _props, body: got.append((method, body)))
    pump(on_a, got, 5, timeout=10.0)
    assert [body for _, body in got] == published[:5]
    assert not any(method.redelivered for method, _ in got)
    channel_a.basic_ack(got[0][0].delivery_tag)
    channel_a.basic_ack(got[1][0].delivery_tag)
    # Two acknowledged make room in the prefetch window for two more: r0…r6 delivered on A, two of them
    # acknowledged.
    pump(on_a, got, 7, timeout=10.0)
    assert [body for _, body in got] == published[:7]
    # The marks are written behind the deliveries: wait for them (five delivered and not acknowledged).
    deadline = time.monotonic() + 10
    marked = f"SELECT count(*) FROM amqp_queue_message WHERE queue = '{queue}' AND redelivered"
    while postgres.sql(marked) != "5" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert postgres.sql(marked) == "5"
    kill9(a)

    on_b, channel_b = declare(b, queue)
    rest = []
    channel_b.basic_consume(queue, lambda _ch, method, _props, body: rest.append((method, body)), auto_ack=True)
    pump(on_b, rest, 8, timeout=10.0)
    assert [(body, method.redelivered) for method, body in rest] == [
        (body, index < 7) for index, body in enumerate(published) if index >= 2
    ]
    on_b.close()


def test_a_purge_or_delete_on_b_acts_on_the_stored_queue_and_counts_it(make_server, postgres):  # noqa: F811
    """AMQP 0-9-1 queue.purge-ok / queue.delete-ok message-count on an instance that does not serve the
    queue: the queue is claimed first (its idle owner lets go), so they count what the database holds;
    while the owner has a consumer they are refused with 405 RESOURCE_LOCKED."""
    a, b = shared(make_server, postgres)
    queue = unique("shared-q")
    on_a, channel_a = declare(a, queue)
    publish_confirmed(a, queue, [f"p{i}".encode() for i in range(10)])
    got = consume(on_a, channel_a, queue, 10)
    for tag, _ in got[:3]:
        channel_a.basic_ack(tag)
    # A's consumer is there, seven unacknowledged: B may neither purge nor delete it.
    on_b, channel_b = declare(b, queue)
    with pytest.raises(ChannelClosedByBroker) as refused:
        channel_b.queue_purge(queue)
    assert refused.value.reply_code == 405, refused.value
    channel_b = on_b.channel()
    with pytest.raises(ChannelClosedByBroker) as refused:
        channel_b.queue_delete(queue)
    assert refused.value.reply_code == 405, refused.value

    # A's connection goes (the seven come back, ready) and more are published on B for the queue.
    on_a.close()
    publish_confirmed(b, queue, [f"q{i}".encode() for i in range(5)])
    channel_b = on_b.channel()
    assert channel_b.queue_purge(queue).method.message_count == 12

    def eventually(query: str, expected: str) -> None:
        deadline = time.monotonic() + 10
        while postgres.sql(query) != expected:
            assert time.monotonic() < deadline, query
            time.sleep(0.05)

    eventually(f"SELECT count(*) FROM amqp_queue_message WHERE queue = '{queue}'", "0")
    # Published on A, which let go: stored for B, which takes it.
    publish_confirmed(a, queue, [b"after"])
    deadline = time.monotonic() + 10
    while channel_b.queue_declare(queue, durable=True, passive=True).method.message_count != 1:
        assert time.monotonic() < deadline, "the message published on A never reached B's queue"
        time.sleep(0.05)
    assert channel_b.queue_delete(queue).method.message_count == 1
    eventually(f"SELECT count(*) FROM amqp_queue WHERE name = '{queue}'", "0")
    eventually(f"SELECT count(*) FROM amqp_queue_message WHERE queue = '{queue}'", "0")
    on_b.close()


def test_kill9_of_the_serving_instance_under_load_loses_no_confirmed_message(make_server, postgres):  # noqa: F811
    """B publishes with confirms without pause while A consumes and acknowledges; A is killed mid-way. Every
    confirmed message was acknowledged on A or reaches the consumer B starts afterwards, which gets none
    twice (a message acknowledged on A in the last moment may come again: at least once)."""
    a, b = shared(make_server, postgres)
    queue = unique("shared-q")
    declare(a, queue)[0].close()
    confirmed: list[bytes] = []
    stop = threading.Event()

    def publish() -> None:
        connection, channel = declare(b, queue)
        channel.confirm_delivery()
        value = 0
        while not stop.is_set():
            body = f"m{value}".encode()
            value += 1
            channel.basic_publish("", queue, body, PERSISTENT)
            confirmed.append(body)  # returns once confirmed, or raises
        connection.close()

    publisher = threading.Thread(target=publish)
    publisher.start()
    on_a, channel_a = declare(a, queue)
    acked: list[bytes] = []

    def take(ch, method, _props, body) -> None:
        ch.basic_ack(method.delivery_tag)
        acked.append(body)

    channel_a.basic_consume(queue, take)
    deadline = time.monotonic() + 15
    while len(acked) < 150 and time.monotonic() < deadline:
        on_a.process_data_events(time_limit=0.05)
    kill9(a)
    time.sleep(0.3)
    stop.set()
    publisher.join(15)
    assert not publisher.is_alive(), "the publisher got no confirm for 15 s"
    assert len(acked) >= 150 and len(confirmed) > len(acked), (len(acked), len(confirmed))

    on_b, channel_b = declare(b, queue)
    rest: list[tuple[int, bytes]] = []
    channel_b.basic_consume(queue, lambda _ch, method, _props, body: rest.append((method.delivery_tag, body)))
    missing = set(confirmed) - set(acked)
    pump(on_b, rest, len(missing), timeout=15)
    bodies = [body for _, body in rest]
    assert len(bodies) == len(set(bodies)), "a message was delivered twice on B"
    lost = missing - set(bodies)
    assert not lost, f"{len(lost)} confirmed messages lost, e.g. {sorted(lost)[:5]}"
    on_b.close()


def test_stomp_queues_are_served_by_one_instance_too(make_server, postgres):  # noqa: F811
    """STOMP `/queue/` destinations are durable AMQP queues: a SEND on B is stored for the queue (its
    RECEIPT once stored), a SUBSCRIBE on A claims the queue and gets it, one on B meanwhile gets ERROR."""
    a, b = shared(make_server, postgres)
    queue = unique("stompq")
    sender = Raw(b)
    sender.connect("1.2")
    for i in range(5):
        sender.request("SEND", {"destination": f"/queue/{queue}", "persistent": "true"}, f"s{i}")
    receiver = Raw(a)
    receiver.connect("1.2")
    receiver.send("SUBSCRIBE", {"destination": f"/queue/{queue}", "id": "s1", "ack": "client-individual"})
    got = [receiver.message(timeout=10) for _ in range(5)]
    assert [frame.text for frame in got] == [f"s{i}" for i in range(5)]
    sender.send("SUBSCRIBE", {"destination": f"/queue/{queue}", "id": "s2"})
    error = sender.expect("ERROR", timeout=10)
    assert "served by another Switchboard instance" in error.get("message", "") + error.text, error
    sender.close()
    receiver.close()


def test_what_a_declares_after_b_started_is_known_on_b(make_server, postgres):  # noqa: F811
    """Exchanges, queues and bindings declared on A after B started reach B's broker through the store's
    notification (B reads them again), so a publish on B to A's exchange is routed to A's queue."""
    a, b = shared(make_server, postgres)
    exchange, queue = unique("shared-x"), unique("shared-q")
    on_a = connect(a)
    channel_a = on_a.channel()
    channel_a.exchange_declare(exchange, "direct", durable=True)
    channel_a.queue_declare(queue, durable=True)
    channel_a.queue_bind(queue, exchange, "orders")
    on_b = connect(b)
    deadline = time.monotonic() + 5
    while True:
        channel_b = on_b.channel()
        try:
            channel_b.queue_declare(queue, passive=True)
            channel_b.exchange_declare(exchange, passive=True)
            break
        except ChannelClosedByBroker as error:
            assert error.reply_code == 404, error
            assert time.monotonic() < deadline, "B never learned of A's queue and exchange"
            time.sleep(0.1)
    # The binding's own notification may be read a moment later: a mandatory publish comes back until then.
    channel_b.confirm_delivery()
    while True:
        try:
            channel_b.basic_publish(exchange, "orders", b"o0", PERSISTENT, mandatory=True)
            break
        except UnroutableError:
            assert time.monotonic() < deadline, "B never learned of A's binding"
            time.sleep(0.1)
    for i in range(1, 5):
        channel_b.basic_publish(exchange, "orders", f"o{i}".encode(), PERSISTENT, mandatory=True)
    got = consume(on_a, channel_a, queue, 5)
    assert [body for _, body in got] == [f"o{i}".encode() for i in range(5)]
    on_a.close()
    on_b.close()


def passive_refusal(server, declare) -> int | None:
    """The reply code of a passive declare on a fresh connection to `server` (None: it exists)."""
    connection = connect(server)
    try:
        declare(connection.channel())
        return None
    except ChannelClosedByBroker as error:
        return error.reply_code
    finally:
        if connection.is_open:
            connection.close()


def wait_until(check, what: str, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


def test_what_a_deletes_goes_on_b_too(make_server, postgres):  # noqa: F811
    """Deletions travel like declarations (`switchboard_amqp_topology` carries what went): a binding, an
    exchange-to-exchange binding, a queue and an exchange deleted on A are gone from B's broker, so B
    answers as RabbitMQ does for what does not exist — a mandatory publish comes back (`basic.return`),
    a passive declare and a publish to the exchange get 404 NOT_FOUND."""
    a, b = shared(make_server, postgres)
    exchange, upstream, queue = unique("shared-x"), unique("shared-up"), unique("shared-q")
    on_a = connect(a)
    channel_a = on_a.channel()
    channel_a.exchange_declare(exchange, "direct", durable=True)
    channel_a.exchange_declare(upstream, "fanout", durable=True)
    channel_a.queue_declare(queue, durable=True)
    channel_a.queue_bind(queue, exchange, "orders")
    channel_a.exchange_bind(exchange, upstream, "orders")

    def routed(source: str, key: str) -> bool:
        connection = connect(b)
        channel = connection.channel()
        channel.confirm_delivery()
        try:
            channel.basic_publish(source, key, b"probe", PERSISTENT, mandatory=True)
            return True
        except (UnroutableError, ChannelClosedByBroker):
            return False
        finally:
            if connection.is_open:
                connection.close()

    wait_until(lambda: routed(exchange, "orders"), "B never learned of A's binding")
    wait_until(lambda: routed(upstream, "orders"), "B never learned of A's exchange binding")

    channel_a.exchange_unbind(exchange, upstream, "orders")
    wait_until(lambda: not routed(upstream, "orders"), "A's exchange unbind never reached B")
    assert routed(exchange, "orders")  # the queue binding is untouched

    channel_a.queue_unbind(queue, exchange, "orders")
    wait_until(lambda: not routed(exchange, "orders"), "A's unbind never reached B")
    assert passive_refusal(b, lambda ch: ch.queue_declare(queue, passive=True)) is None

    channel_a.queue_delete(queue)
    wait_until(
        lambda: passive_refusal(b, lambda ch: ch.queue_declare(queue, passive=True)) == 404,
        "A's queue.delete never reached B",
    )
    channel_a.exchange_delete(exchange)
    wait_until(
        lambda: passive_refusal(b, lambda ch: ch.exchange_declare(exchange, passive=True)) == 404,
        "A's exchange.delete never reached B",
    )
    # A publish to the deleted exchange on B: channel error 404 NOT_FOUND, as for any missing exchange.
    connection = connect(b)
    channel = connection.channel()
    channel.confirm_delivery()
    with pytest.raises(ChannelClosedByBroker) as refused:
        channel.basic_publish(exchange, "orders", b"late", PERSISTENT)
    assert refused.value.reply_code == 404
    connection.close()
    # Nothing was stored for the deleted queue on B's side, and B still declares it afresh.
    assert postgres.sql(f"SELECT count(*) FROM amqp_queue_message WHERE queue = '{queue}'") == "0"
    on_b = connect(b)
    channel_b = on_b.channel()
    assert channel_b.queue_declare(queue, durable=True).method.message_count == 0
    on_b.close()
    on_a.close()


def test_what_a_deletes_while_bs_listening_connection_is_down_goes_on_b_too(make_server, postgres):  # noqa: F811
    """B's listening (ownership) connection is cut, and while B reconnects (a second later) A deletes a
    binding, a queue and an exchange: their notifications never reach B. Back, B reads the broker's tables
    again and drops what it holds that the store no longer does, so it answers 404 as for a deletion it
    heard. A durable queue B declared itself stays."""
    a, b = shared(make_server, postgres)
    exchange, queue, own = unique("gone-x"), unique("gone-q"), unique("b-own-q")
    on_a = connect(a)
    channel_a = on_a.channel()
    channel_a.exchange_declare(exchange, "direct", durable=True)
    channel_a.queue_declare(queue, durable=True)
    channel_a.queue_bind(queue, exchange, "orders")
    wait_until(lambda: passive_refusal(b, lambda ch: ch.queue_declare(queue, passive=True)) is None,
               "B never learned of A's queue")
    wait_until(lambda: passive_refusal(b, lambda ch: ch.exchange_declare(exchange, passive=True)) is None,
               "B never learned of A's exchange")
    on_b = connect(b)
    on_b.channel().queue_declare(own, durable=True)
    on_b.close()

    # B started second, so it holds slot 1; its ownership connection holds that slot's advisory lock.
    ended = postgres.sql(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_locks WHERE locktype = 'advisory' AND objsubid = 2 "
        "AND classid = 21346 AND objid = 1")
    assert ended == "1", ended
    channel_a.queue_unbind(queue, exchange, "orders")
    channel_a.queue_delete(queue)
    channel_a.exchange_delete(exchange)
    on_a.close()

    wait_until(lambda: passive_refusal(b, lambda ch: ch.queue_declare(queue, passive=True)) == 404,
               "the queue A deleted while B was not listening stayed on B", timeout=10)
    wait_until(lambda: passive_refusal(b, lambda ch: ch.exchange_declare(exchange, passive=True)) == 404,
               "the exchange A deleted while B was not listening stayed on B", timeout=10)
    assert passive_refusal(b, lambda ch: ch.queue_declare(own, passive=True)) is None
    assert passive_refusal(a, lambda ch: ch.queue_declare(own, passive=True)) is None
