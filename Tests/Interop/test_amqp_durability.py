"""AMQP durability with pika against the real binary, killed with SIGKILL and restarted on the same data
directory: a persistent message confirmed to its publisher in a durable queue is there after the restart,
one acked by its consumer is not; durable exchanges and bindings come back, transient ones do not."""

from __future__ import annotations

import random
import threading
import time

import pika
from pika.exceptions import AMQPError

from amqp_support import connect, get_all
from interop import unique
from test_storage_crash import kill9


def _declare(ch, queue: str, exchange: str) -> None:
    ch.exchange_declare(exchange, "topic", durable=True)
    ch.queue_declare(queue, durable=True, arguments={"x-max-priority": 5})
    ch.queue_bind(queue, exchange, "orders.#")


def test_confirmed_persistent_messages_survive_kill9_and_acked_ones_stay_gone(make_server):
    srv = make_server()
    queue, exchange = unique("durable"), unique("dx")
    with connect(srv) as conn:
        ch = conn.channel()
        _declare(ch, queue, exchange)
        ch.queue_declare(unique("transient"), durable=False)
        ch.confirm_delivery()
        for i in range(50):
            ch.basic_publish(exchange, "orders.eu", f"m{i}".encode(), pika.BasicProperties(delivery_mode=2))
        ch.basic_publish(exchange, "orders.eu", b"not persistent", pika.BasicProperties(delivery_mode=1))
        # Consume and ack the first ten.
        for _ in range(10):
            method, _, _ = ch.basic_get(queue)
            ch.basic_ack(method.delivery_tag)
        ch.queue_declare(queue, passive=True)  # a round trip: the acks were handled
    time.sleep(0.3)  # the acks' deletes are committed with the next group commit
    kill9(srv)
    srv.start()
    with connect(srv) as conn:
        ch = conn.channel()
        assert ch.queue_declare(queue, passive=True).method.message_count == 40
        ch.exchange_declare(exchange, "topic", passive=True)
        ch.basic_publish(exchange, "orders.us", b"routed after restart", pika.BasicProperties(delivery_mode=2))
        bodies = get_all(ch, queue)
    assert bodies[:40] == [f"m{i}".encode() for i in range(10, 50)]
    assert bodies[40:] == [b"routed after restart"], "the durable binding came back"


def test_exchange_to_exchange_bindings_of_durable_exchanges_survive_kill9(make_server):
    srv = make_server()
    front, back, brief, queue = unique("front"), unique("back"), unique("brief"), unique("e2e")
    with connect(srv) as conn:
        ch = conn.channel()
        ch.exchange_declare(front, "topic", durable=True)
        ch.exchange_declare(back, "fanout", durable=True)
        ch.exchange_declare(brief, "fanout", durable=False)
        ch.queue_declare(queue, durable=True)
        ch.queue_bind(queue, back)
        ch.queue_bind(queue, brief)
        ch.exchange_bind(back, front, "orders.*")
        ch.exchange_bind(brief, front, "#")  # a transient end: not kept
        ch.exchange_bind(back, front, "old.*")
        ch.exchange_unbind(back, front, "old.*")  # unbound: stays unbound
        ch.queue_declare(queue, passive=True)
    time.sleep(0.3)  # the bindings are committed with the next group commit
    kill9(srv)
    srv.start()
    with connect(srv) as conn:
        ch = conn.channel()
        for key in ("orders.eu", "old.eu", "other"):
            ch.basic_publish(front, key, key.encode())
        ch.queue_declare(queue, passive=True)
        assert get_all(ch, queue) == [b"orders.eu"], "only the durable binding came back"


def test_confirms_under_kill9_lose_nothing(make_server):
    confirmed_under_kill9(make_server(), rounds=3, seed=14)


def confirmed_under_kill9(srv, rounds: int, seed: int) -> None:
    """`rounds` times: publish persistent messages with confirms into a durable queue, SIGKILL the server at
    a random moment and start it again; afterwards every confirmed message is in the queue (the PostgreSQL
    store runs the same through test_storage_postgres)."""
    queue, exchange = unique("durable"), unique("dx")
    with connect(srv) as conn:
        _declare(conn.channel(), queue, exchange)
    confirmed: list[str] = []
    rng = random.Random(seed)
    for round_ in range(rounds):
        stop = threading.Event()

        def publish() -> None:
            try:
                with connect(srv) as conn:
                    ch = conn.channel()
                    ch.confirm_delivery()
                    n = 0
                    while not stop.is_set():
                        body = f"r{round_}-{n}"
                        ch.basic_publish(exchange, "orders.x", body.encode(), pika.BasicProperties(delivery_mode=2))
                        confirmed.append(body)  # basic_publish returned: the broker confirmed it
                        n += 1
            except AMQPError:
                pass  # the server died mid-publish: that message was not confirmed

        thread = threading.Thread(target=publish)
        thread.start()
        time.sleep(rng.uniform(0.3, 0.8))
        kill9(srv)
        stop.set()
        thread.join(timeout=10)
        srv.start()
    with connect(srv) as conn:
        bodies = {body.decode() for body in get_all(conn.channel(), queue)}
    missing = [body for body in confirmed if body not in bodies]
    assert confirmed and not missing, f"{len(missing)} of {len(confirmed)} confirmed messages lost: {missing[:5]}"
