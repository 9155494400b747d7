"""MQTT with paho-mqtt in both protocol versions: QoS 0/1/2, wildcards, shared subscriptions, retained
messages, no-local, takeover, keep-alive, $SYS (docs/protocols/mqtt.md maps the clauses)."""

from __future__ import annotations

import time
from collections import Counter

import pytest

from interop import unique
from mqtt_client import V5, V311, VERSIONS, Paho, client_id

pytestmark = pytest.mark.parametrize("version", VERSIONS, ids=["3.1.1", "5.0"])


def test_qos_0_1_2_round_trip_with_wildcards(server, version):
    base = unique("m")
    sub = Paho(server.mqtt_port, version)
    assert sub.subscribe(f"{base}/+/x", qos=2) and sub.subscribe(f"{base}/#", qos=1)
    pub = Paho(server.mqtt_port, version)
    for qos in (0, 1, 2):
        pub.publish(f"{base}/a/x", f"q{qos}".encode(), qos=qos)
    got = sub.get_many(6)
    # Overlapping subscriptions: one copy per matching subscription, QoS = min(publish, subscription).
    seen = Counter((m.payload, m.qos) for m in got)
    assert seen == Counter({(b"q0", 0): 2, (b"q1", 1): 2, (b"q2", 2): 1, (b"q2", 1): 1}), seen
    sub.nothing()
    pub.disconnect()
    sub.disconnect()


def test_shared_subscription_distributes_each_message_once(server, version):
    topic = f"jobs/{unique()}"
    workers = [Paho(server.mqtt_port, version) for _ in range(2)]
    for worker in workers:
        worker.subscribe(f"$share/g/{topic}", qos=1)
    pub = Paho(server.mqtt_port, version)
    for i in range(20):
        pub.publish(topic, str(i).encode(), qos=1)
    counts = []
    received = []
    for worker in workers:
        got = []
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and sum(counts) + len(got) < 20:
            try:
                got.append(worker.get(timeout=0.3).payload)
            except Exception:
                break
        counts.append(len(got))
        received += got
    assert sorted(received, key=int) == [str(i).encode() for i in range(20)], received
    assert all(c > 0 for c in counts), f"both group members get messages: {counts}"
    for client in workers + [pub]:
        client.disconnect()


def test_retained_store_deliver_and_clear(server, version):
    topic = f"state/{unique()}"
    pub = Paho(server.mqtt_port, version)
    pub.publish(topic, b"on", qos=1, retain=True)
    late = Paho(server.mqtt_port, version)
    late.subscribe(topic, qos=1)
    message = late.get()
    assert (message.payload, message.retain) == (b"on", True)
    # A live publication to an existing subscription is not flagged retained.
    pub.publish(topic, b"off", qos=1, retain=True)
    live = late.get()
    assert live.payload == b"off" and live.retain is False
    # An empty retained payload clears the topic.
    pub.publish(topic, b"", qos=1, retain=True)
    late.get()
    again = Paho(server.mqtt_port, version)
    again.subscribe(topic, qos=1)
    again.nothing()
    for client in (pub, late, again):
        client.disconnect()


def test_takeover_closes_the_older_connection(server, version):
    cid = client_id("take")
    first = Paho(server.mqtt_port, version, cid)
    second = Paho(server.mqtt_port, version, cid)
    assert first.disconnected.wait(5), "the first connection is closed"
    if version == V5:
        assert first.disconnect_reason == 0x8E, first.disconnect_reason
    topic = f"t/{unique()}"
    second.subscribe(topic)
    second.publish(topic, b"still here")
    assert second.get().payload == b"still here"
    second.disconnect()


def test_sys_topics(server, version):
    sub = Paho(server.mqtt_port, version)
    sub.subscribe("$SYS/broker/uptime")
    message = sub.get()
    assert int(message.payload) >= 0 and message.retain
    # '#' does not match '$' topics.
    other = Paho(server.mqtt_port, version)
    other.subscribe("#")
    deadline = time.monotonic() + 0.5
    while time.monotonic() < deadline:
        try:
            message = other.get(timeout=0.1)
        except Exception:
            break
        assert not message.topic.startswith("$"), message.topic
    sub.disconnect()
    other.disconnect()


def test_keep_alive_timeout_closes_a_silent_client(server, version):
    from mqtt_client import Raw, connect_packet

    raw = Raw(server.mqtt_port)
    raw.send(connect_packet(client_id("ka"), version=4 if version == V311 else 5, keepalive=1))
    raw.expect(2)
    start = time.monotonic()
    assert raw.closed(timeout=5), "closed after 1.5 x keep-alive"
    assert 1.2 < time.monotonic() - start < 3.5


def test_keep_alive_is_one_and_a_half_times_the_period(server, version):
    """[MQTT-3.1.2-24]: a client whose packets come 1.25 × keep-alive apart stays connected; silence
    ends the connection at 1.5 × keep-alive, not before (5.0: DISCONNECT 0x8D first)."""
    from mqtt_client import Raw, connect_packet, packet

    raw = Raw(server.mqtt_port)
    raw.send(connect_packet(client_id("ka"), version=4 if version == V311 else 5, keepalive=1))
    raw.expect(2)
    for _ in range(3):
        time.sleep(1.25)
        raw.send(packet(0xC0, b""))  # PINGREQ
        raw.expect(13)  # PINGRESP: still connected
    start = time.monotonic()
    if version == V5:
        assert raw.expect(14, timeout=5)[0] == 0x8D, "keep-alive timeout"
    assert raw.closed(timeout=5)
    elapsed = time.monotonic() - start
    assert 1.45 < elapsed < 2.5, elapsed
    raw.close()
