"""STOMP messaging with the stock stomp.py client, on STOMP 1.0, 1.1 and 1.2 over TCP and WebSocket
(docs/protocols/stomp.md, as RabbitMQ's STOMP plugin): SEND/SUBSCRIBE/UNSUBSCRIBE, the MESSAGE headers,
ack modes auto/client/client-individual, NACK and redelivery, prefetch-count, transactions, receipts and
DISCONNECT. Every wait is bounded; a RECEIPT is the barrier that says a frame has been handled."""

from __future__ import annotations

import pytest

from interop import unique
from stomp_support import TRANSPORTS, VERSIONS, Raw, Stock, on_rabbitmq

CASES = [(v, t) for v in VERSIONS for t in TRANSPORTS]
IDS = [f"{v}-{t}" for v, t in CASES]


@pytest.mark.parametrize("version,transport", CASES, ids=IDS)
def test_topic_round_trip_and_message_headers(server, version, transport):
    word = unique("rt")
    with Stock(server, version, transport) as sub, Stock(server, version, transport) as pub:
        sub.subscribe(f"/topic/{word}.x", "s1")
        pub.send(f"/topic/{word}.x", b"hello", content_type="text/plain", **{"x-trace": "abc", "priority-ish": "7"})
        msg = sub.message()
        assert msg.body == b"hello"
        assert msg["destination"] == f"/topic/{word}.x"
        assert msg["subscription"] == "s1"
        assert msg.get("message-id"), msg
        assert msg["content-type"] == "text/plain"
        assert msg["content-length"] == "5"
        assert msg["x-trace"] == "abc" and msg["priority-ish"] == "7", msg
        sub.nothing(0.2)


@pytest.mark.parametrize("version,transport", CASES, ids=IDS)
def test_queue_consumers_share_the_messages(server, version, transport):
    queue = f"/queue/{unique('q')}"
    with Stock(server, version, transport) as a, Stock(server, version, transport) as b, \
            Stock(server, version, transport) as pub:
        a.subscribe(queue, "a")
        b.subscribe(queue, "b")
        for i in range(10):
            pub.send(queue, f"m{i}", receipt=(i == 9))
        got: list[bytes] = []
        for client in (a, b):
            while True:
                try:
                    got.append(client.message(timeout=0.5 if got else 5.0).body)
                except AssertionError:
                    break
        assert sorted(got) == sorted(f"m{i}".encode() for i in range(10)), got


@pytest.mark.parametrize("version,transport", CASES, ids=IDS)
def test_unsubscribe_stops_deliveries(server, version, transport):
    dest = f"/topic/{unique('un')}"
    with Stock(server, version, transport) as sub, Stock(server, version, transport) as pub:
        sub.subscribe(dest, "s1")
        pub.send(dest, "one")
        assert sub.message().body == b"one"
        sub.unsubscribe("s1", dest)
        pub.send(dest, "two")
        sub.nothing(0.3)


@pytest.mark.parametrize("version", VERSIONS)
def test_client_ack_is_cumulative(server, version):
    """ack:client — an ACK acknowledges the message and every earlier one of the subscription."""
    queue = f"/queue/{unique('ca')}"
    with Stock(server, version) as pub:
        consumer = Stock(server, version)
        consumer.subscribe(queue, "s1", ack="client")
        for i in range(3):
            pub.send(queue, f"m{i}")
        got = consumer.messages(3)
        if version == "1.2":
            assert all(m.get("ack") for m in got), got
        consumer.ack(got[2])
        consumer.disconnect()
        again = Stock(server, version)
        again.subscribe(queue, "s2", ack="client")
        again.nothing(0.3)
        again.disconnect()


@pytest.mark.parametrize("version,transport", CASES, ids=IDS)
def test_client_individual_ack_and_redelivery_after_disconnect(server, version, transport):
    queue = f"/queue/{unique('ci')}"
    with Stock(server, version, transport) as pub:
        consumer = Stock(server, version, transport)
        consumer.subscribe(queue, "s1", ack="client-individual")
        for i in range(3):
            pub.send(queue, f"m{i}")
        got = consumer.messages(3)
        assert [m.body for m in got] == [b"m0", b"m1", b"m2"]
        consumer.ack(got[1])
        consumer.disconnect()  # m0 and m2 were never acknowledged: back to the queue
        again = Stock(server, version, transport)
        again.subscribe(queue, "s2", ack="client-individual")
        back = again.messages(2)
        assert sorted(m.body for m in back) == [b"m0", b"m2"]
        assert all(m.get("redelivered") == "true" for m in back), back
        for m in back:
            again.ack(m)
        again.nothing(0.2)
        again.disconnect()


@pytest.mark.parametrize("version,transport", [(v, t) for v, t in CASES if v != "1.0"],
                         ids=[i for i in IDS if not i.startswith("1.0")])
def test_nack_requeues_with_redelivered(server, version, transport):
    queue = f"/queue/{unique('nk')}"
    with Stock(server, version, transport) as consumer, Stock(server, version, transport) as pub:
        consumer.subscribe(queue, "s1", ack="client-individual")
        pub.send(queue, "again")
        first = consumer.message()
        assert first.get("redelivered", "false") == "false", first
        consumer.nack(first)
        second = consumer.message()
        assert second.body == b"again" and second.get("redelivered") == "true", second
        consumer.ack(second)
        consumer.nothing(0.2)


@pytest.mark.parametrize("version", VERSIONS)
def test_prefetch_count_limits_unacked_messages(server, version):
    queue = f"/queue/{unique('pf')}"
    with Stock(server, version) as consumer, Stock(server, version) as pub:
        consumer.subscribe(queue, "s1", ack="client-individual", **{"prefetch-count": "2"})
        for i in range(5):
            pub.send(queue, f"m{i}")
        held = consumer.messages(2)
        consumer.nothing(0.4)
        consumer.ack(held[0])
        third = consumer.message()
        assert third.body == b"m2"
        consumer.nothing(0.3)
        for m in (held[1], third, *consumer.messages(0)):
            consumer.ack(m)
        rest = consumer.messages(2)
        assert [m.body for m in rest] == [b"m3", b"m4"]


@pytest.mark.parametrize("version,transport", CASES, ids=IDS)
def test_transaction_sends_take_effect_on_commit_only(server, version, transport):
    dest = f"/queue/{unique('tx')}"
    with Stock(server, version, transport) as sub, Stock(server, version, transport) as pub:
        sub.subscribe(dest, "s1")
        pub.transaction("BEGIN", "t1")
        # No RECEIPT wait inside the transaction: RabbitMQ holds those receipts until the COMMIT.
        pub.send(dest, "in t1 a", transaction="t1", receipt=False)
        pub.send(dest, "in t1 b", transaction="t1", receipt=False)
        pub.send(dest, "outside")
        assert sub.message().body == b"outside"
        sub.nothing(0.3)
        pub.transaction("COMMIT", "t1")
        assert [m.body for m in sub.messages(2)] == [b"in t1 a", b"in t1 b"]
        pub.transaction("BEGIN", "t2")
        pub.send(dest, "aborted", transaction="t2", receipt=False)
        pub.transaction("ABORT", "t2")
        pub.send(dest, "after abort")
        assert sub.message().body == b"after abort"
        sub.nothing(0.2)


@pytest.mark.parametrize("version", VERSIONS)
def test_transaction_acks_take_effect_on_commit_only(server, version):
    queue = f"/queue/{unique('txa')}"
    with Stock(server, version) as pub:
        consumer = Stock(server, version)
        consumer.subscribe(queue, "s1", ack="client-individual")
        pub.send(queue, "aborted ack")
        pub.send(queue, "committed ack")
        first, second = consumer.messages(2)
        consumer.transaction("BEGIN", "ta")
        consumer.ack(first, transaction="ta")
        consumer.transaction("ABORT", "ta")  # the ACK of `first` is dropped
        consumer.transaction("BEGIN", "tc")
        consumer.ack(second, transaction="tc")
        consumer.transaction("COMMIT", "tc")
        consumer.disconnect()
        again = Stock(server, version)
        again.subscribe(queue, "s2", ack="client-individual")
        back = again.message()
        assert back.body == b"aborted ack" and back.get("redelivered") == "true", back
        again.ack(back)
        again.nothing(0.3)
        again.disconnect()


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_receipts_for_every_frame_and_disconnect(server, transport):
    raw = Raw(server, transport)
    try:
        raw.connect("1.2")
        dest = f"/queue/{unique('rc')}"
        raw.request("SUBSCRIBE", {"destination": dest, "id": "s1", "ack": "client-individual"})
        raw.request("SEND", {"destination": dest}, "x")
        msg = raw.message()
        raw.request("BEGIN", {"transaction": "t"})
        raw.request("ACK", {"id": msg["ack"], "transaction": "t"})
        raw.request("COMMIT", {"transaction": "t"})
        raw.request("BEGIN", {"transaction": "t2"})
        raw.request("ABORT", {"transaction": "t2"})
        raw.request("UNSUBSCRIBE", {"id": "s1"})
        raw.send("DISCONNECT", {"receipt": "bye"})
        if not (on_rabbitmq(server) and transport == "ws"):  # Web-STOMP closes ("STOMP died") without it
            assert raw.expect("RECEIPT")["receipt-id"] == "bye"
        assert raw.wait_closed(), "the server closes after the DISCONNECT receipt"
    finally:
        raw.close()


def test_stock_clients_of_different_versions_talk(server):
    dest = f"/topic/{unique('mix')}"
    clients = [Stock(server, v, t) for v in VERSIONS for t in TRANSPORTS]
    try:
        for i, c in enumerate(clients):
            c.subscribe(dest, f"s{i}")
        clients[0].send(dest, "to all")
        for c in clients:
            assert c.message().body == b"to all"
    finally:
        for c in clients:
            c.disconnect()
