"""STOMP durability and TLS against the real binary. A persistent SEND whose RECEIPT came back is in its
durable queue after `kill -9` and a restart on the same data directory; one the consumer acknowledged
is not; a durable topic subscription collects persistent messages across the restart. And STOMP over
TLS on `stomp.tls_port` with stomp.py's own SSL support."""

from __future__ import annotations

import ssl
import threading
import time

import stomp

from interop import free_port, unique
from security_support import CertificateAuthority
from stomp_support import Stock
from test_storage_crash import kill9


def test_receipted_persistent_sends_survive_kill9_and_acked_ones_stay_gone(make_server):
    srv = make_server()
    queue = unique("jobs")
    producer = Stock(srv, "1.2")
    try:
        for i in range(30):
            producer.send(f"/queue/{queue}", f"m{i}", persistent="true")  # waits for each RECEIPT
        producer.send(f"/queue/{queue}", "transient")
    finally:
        producer.disconnect()
    consumer = Stock(srv, "1.2")
    try:
        consumer.subscribe(f"/queue/{queue}", "s", ack="client-individual", **{"prefetch-count": "5"})
        for _ in range(5):
            consumer.ack(consumer.message())  # waits for each RECEIPT
    finally:
        consumer.disconnect()
    time.sleep(0.3)  # the acks' deletes are committed with the next group commit
    kill9(srv)
    srv.start()
    after = Stock(srv, "1.2")
    try:
        after.subscribe(f"/queue/{queue}", "s", ack="auto")
        bodies = [m.body for m in after.messages(25)]
        after.nothing(0.5)
    finally:
        after.disconnect()
    assert bodies == [f"m{i}".encode() for i in range(5, 30)], "persistent ones back, acked and transient gone"


def test_receipts_under_kill9_lose_nothing(make_server):
    """SENDs race a kill -9: every one whose RECEIPT arrived is there after the restart."""
    srv = make_server()
    queue = unique("race")
    receipted: list[str] = []
    producer = Stock(srv, "1.2")
    stop = threading.Event()

    def produce() -> None:
        i = 0
        try:
            while not stop.is_set():
                producer.send(f"/queue/{queue}", f"m{i}", persistent="true")
                receipted.append(f"m{i}")
                i += 1
        except Exception:  # the server died under us
            pass

    worker = threading.Thread(target=produce, daemon=True)
    worker.start()
    deadline = time.monotonic() + 10
    while len(receipted) < 200 and time.monotonic() < deadline:
        time.sleep(0.01)
    kill9(srv)
    stop.set()
    worker.join(timeout=10)
    assert len(receipted) >= 200, "the producer got going"
    srv.start()
    after = Stock(srv, "1.2")
    try:
        after.subscribe(f"/queue/{queue}", "s", ack="auto")
        got: list[str] = []
        deadline = time.monotonic() + 10
        while len(got) < len(receipted) and time.monotonic() < deadline:
            got.append(after.message().body.decode())
    finally:
        after.disconnect()
    assert got[: len(receipted)] == receipted, "a receipted message was lost or reordered"


def test_durable_topic_subscription_survives_a_restart(make_server):
    srv = make_server()
    topic = unique("news")
    subscriber = Stock(srv, "1.2")
    subscriber.subscribe(f"/topic/{topic}", "d1", ack="client", durable="true", **{"auto-delete": "false"})
    subscriber.disconnect()
    publisher = Stock(srv, "1.2")
    try:
        publisher.send(f"/topic/{topic}", "kept", persistent="true")
        publisher.send(f"/queue/{unique('barrier')}", "x", persistent="true")  # a receipt after the store
    finally:
        publisher.disconnect()
    time.sleep(0.3)
    kill9(srv)
    srv.start()
    again = Stock(srv, "1.2")
    try:
        again.subscribe(f"/topic/{topic}", "d1", ack="client", durable="true", **{"auto-delete": "false"})
        message = again.message()
        assert message.body == b"kept"
        assert message["destination"] == f"/topic/{topic}"
        again.ack(message)
    finally:
        again.disconnect()


def test_stomp_over_tls(make_server, tmp_path):
    ca = CertificateAuthority(tmp_path / "ca")
    port = free_port()
    srv = make_server(
        {"tls": {"cert_file": str(ca.server_cert), "key_file": str(ca.server_key)}},
        args=["--tls-port", f"stomp={port}"])
    deadline = time.monotonic() + 10
    received: list[bytes] = []
    done = threading.Event()

    class Listener(stomp.ConnectionListener):
        def on_message(self, frame):
            received.append(frame.body)
            done.set()

    conn = stomp.Connection12([("127.0.0.1", port)], vhost="/", auto_decode=False)
    conn.set_ssl(for_hosts=[("127.0.0.1", port)], ca_certs=str(ca.ca_cert), ssl_version=ssl.PROTOCOL_TLS_CLIENT)
    conn.set_listener("l", Listener())
    while True:
        try:
            conn.connect(wait=True)
            break
        except stomp.exception.ConnectFailedException:
            assert time.monotonic() < deadline, "no STOMP over TLS"
            time.sleep(0.2)
    try:
        conn.subscribe("/topic/secure.x", id="1", ack="auto")
        time.sleep(0.2)
        srv.publish("secure/x", "over tls")
        assert done.wait(5), "no MESSAGE over TLS"
        assert b"over tls" in received[0]
    finally:
        conn.disconnect()
