"""Persistent sessions: queued QoS 1/2 for offline clients, QoS 2 exactly once across a reconnect,
inflight retransmission with DUP, will messages on abrupt close."""

from __future__ import annotations

import struct
import time

import pytest

from interop import unique
from mqtt_client import (
    V5,
    V311,
    VERSIONS,
    Paho,
    Raw,
    client_id,
    connect_packet,
    packet,
    props,
    publish_packet,
    subscribe_packet,
)
from paho.mqtt.packettypes import PacketTypes


@pytest.mark.parametrize("version", VERSIONS, ids=["3.1.1", "5.0"])
def test_offline_messages_are_queued_and_delivered_exactly_once(server, version):
    cid = client_id("persist")
    topic = f"q/{unique()}"
    sub = Paho(server.mqtt_port, version, cid, clean=False, session_expiry=60)
    sub.subscribe(topic, qos=2)
    sub.disconnect()
    pub = Paho(server.mqtt_port, version)
    # QoS 0 first: the acknowledgements of the QoS 1/2 publications that follow prove the server has
    # handled it before the subscriber is back (published last, it could arrive live, after the resume).
    pub.publish(topic, b"qos0 is not kept", qos=0)
    for i in range(5):
        pub.publish(topic, f"m{i}".encode(), qos=2 if i % 2 else 1)
    sub.connect()
    assert sub.session_present is True
    got = [m.payload for m in sub.get_many(5)]
    # paho hands QoS 2 messages over only after PUBREL, so the order across QoS levels is the client's.
    assert sorted(got) == [f"m{i}".encode() for i in range(5)], got
    sub.nothing()
    sub.disconnect()
    # A clean start discards the session.
    fresh = Paho(server.mqtt_port, version, cid, clean=True)
    assert fresh.session_present is False
    pub.publish(topic, b"after clean", qos=1)
    fresh.nothing()
    fresh.disconnect()
    pub.disconnect()


@pytest.mark.parametrize("level", [4, 5], ids=["3.1.1", "5.0"])
def test_unacknowledged_qos2_is_resent_with_dup_after_reconnect(server, level):
    cid = client_id("dup")
    topic = f"d/{unique()}"
    props5 = b"\x11\x00\x00\x00\x3c" if level == 5 else b""  # session expiry 60 s
    raw = Raw(server.mqtt_port)
    raw.send(connect_packet(cid, version=level, clean=level == 5, properties=props5))
    raw.expect(2)
    raw.send(subscribe_packet(1, topic, 2, version=level))
    raw.expect(9)
    pub = Paho(server.mqtt_port, V5)
    pub.publish(topic, b"exactly once", qos=2)
    first = raw.expect(3)
    assert first[0] & 0x06 == 0x04 and not first[0] & 0x08, "QoS 2, DUP 0"
    pid = struct.unpack("!H", first[3 + len(topic):5 + len(topic)])[0]
    raw.close()  # no PUBREC: the message stays in flight
    again = Raw(server.mqtt_port)
    again.send(connect_packet(cid, version=level, clean=False, properties=props5))
    connack = again.expect(2)
    assert connack[0] == 1, "session present"
    resent = again.expect(3)
    assert resent[0] & 0x08, "resent with DUP"
    assert struct.unpack("!H", resent[3 + len(topic):5 + len(topic)])[0] == pid
    assert resent.endswith(b"exactly once")
    again.send(packet(0x50, struct.pack("!H", pid)))  # PUBREC
    assert again.expect(6)[:2] == struct.pack("!H", pid)  # PUBREL
    again.send(packet(0x70, struct.pack("!H", pid)))  # PUBCOMP
    with pytest.raises(TimeoutError):
        again.read(0.5)  # nothing more: the flow is complete
    again.close()
    pub.disconnect()


def test_resend_on_resume_respects_a_lowered_receive_maximum(server):
    """[MQTT-4.4.0-1] with [MQTT-3.3.4-9]: three QoS 1 messages in flight, the client comes back with
    Receive Maximum 1 — they are resent with DUP, in order, one at a time as each is acknowledged."""
    cid = client_id("rmr")
    topic = f"rmr/{unique()}"
    expiry = b"\x11\x00\x00\x00\x3c"  # session expiry 60 s
    raw = Raw(server.mqtt_port)
    raw.send(connect_packet(cid, clean=True, properties=expiry + b"\x21\x00\x03"))  # Receive Maximum 3
    raw.expect(2)
    raw.send(subscribe_packet(1, topic, 1))
    raw.expect(9)
    pub = Paho(server.mqtt_port, V5)
    for i in range(3):
        pub.publish(topic, f"m{i}".encode(), qos=1)
    first = [raw.expect(3) for _ in range(3)]
    pids = [struct.unpack("!H", p[3 + len(topic):5 + len(topic)])[0] for p in first]
    raw.close()  # none acknowledged
    again = Raw(server.mqtt_port)
    again.send(connect_packet(cid, clean=False, properties=expiry + b"\x21\x00\x01"))  # Receive Maximum 1
    assert again.expect(2)[0] == 1, "session present"
    for i, pid in enumerate(pids):
        resent = again.expect(3)
        assert resent[0] & 0x08 and resent.endswith(f"m{i}".encode()), resent
        assert struct.unpack("!H", resent[3 + len(topic):5 + len(topic)])[0] == pid
        with pytest.raises(TimeoutError):
            again.read(0.3)  # the window of 1 is full until this one is acknowledged
        again.send(packet(0x40, struct.pack("!H", pid)))  # PUBACK
    again.close()
    pub.disconnect()


@pytest.mark.parametrize("level", [4, 5], ids=["3.1.1", "5.0"])
def test_inbound_qos2_duplicate_reaches_the_bus_once(server, level):
    topic = f"x/{unique()}"
    sub = Paho(server.mqtt_port, V5)
    sub.subscribe(topic, qos=2)
    raw = Raw(server.mqtt_port)
    raw.send(connect_packet(client_id("q2"), version=level))
    raw.expect(2)
    raw.send(publish_packet(topic, b"once", qos=2, pid=7, version=level))
    assert raw.expect(5)[:2] == b"\x00\x07"
    # The client did not see PUBREC (as far as it knows) and retransmits with DUP.
    raw.send(publish_packet(topic, b"once", qos=2, pid=7, version=level, dup=True))
    assert raw.expect(5)[:2] == b"\x00\x07"
    raw.send(packet(0x62, b"\x00\x07"))
    assert raw.expect(7)[:2] == b"\x00\x07"
    assert sub.get().payload == b"once"
    sub.nothing()
    raw.close()
    sub.disconnect()


@pytest.mark.parametrize("level", [4, 5], ids=["3.1.1", "5.0"])
def test_inbound_qos2_exactly_once_across_a_reconnect(server, level):
    """[MQTT-4.3.3-10], [MQTT-4.4.0-1]: the client sent PUBLISH QoS 2, got PUBREC and lost the connection.
    On resuming the session it retransmits the PUBLISH with DUP: PUBREC again, not a second publication;
    then PUBREL → PUBCOMP. A second message's PUBREL retransmitted after another reconnect is completed."""
    topic = f"x/{unique()}"
    sub = Paho(server.mqtt_port, V5)
    sub.subscribe(topic, qos=2)
    cid = client_id("q2r")
    props5 = b"\x11\x00\x00\x00\x3c" if level == 5 else b""  # session expiry 60 s

    def resume(first: bool = False) -> Raw:
        raw = Raw(server.mqtt_port)
        raw.send(connect_packet(cid, version=level, clean=first and level == 5, properties=props5))
        assert raw.expect(2)[0] == (0 if first else 1), "session present"
        return raw

    raw = resume(first=True)
    raw.send(publish_packet(topic, b"once", qos=2, pid=9, version=level))
    assert raw.expect(5)[:2] == b"\x00\x09"
    raw.send(publish_packet(topic, b"twice?", qos=2, pid=10, version=level))
    assert raw.expect(5)[:2] == b"\x00\x0a"
    raw.close()
    raw = resume()
    raw.send(publish_packet(topic, b"once", qos=2, pid=9, version=level, dup=True))
    assert raw.expect(5)[:2] == b"\x00\x09"
    raw.send(packet(0x62, b"\x00\x09"))
    assert raw.expect(7)[:2] == b"\x00\x09"
    raw.close()
    raw = resume()
    raw.send(packet(0x62, b"\x00\x0a"))  # PUBREL only: the PUBLISH was acknowledged before
    pubcomp = raw.expect(7)
    assert pubcomp[:2] == b"\x00\x0a" and (level == 4 or len(pubcomp) == 2 or pubcomp[2] == 0), pubcomp
    assert sorted(m.payload for m in sub.get_many(2)) == [b"once", b"twice?"]
    sub.nothing()
    raw.close()
    sub.disconnect()


@pytest.mark.parametrize("version", VERSIONS, ids=["3.1.1", "5.0"])
def test_will_is_published_on_abrupt_close_only(server, version):
    topic = f"will/{unique()}"
    watcher = Paho(server.mqtt_port, version)
    watcher.subscribe(topic, qos=1)
    dying = Paho(server.mqtt_port, version, will=(topic, b"gone", 1, False))
    dying.abort()
    message = watcher.get()
    assert message.payload == b"gone" and message.qos == 1
    polite = Paho(server.mqtt_port, version, will=(topic, b"never", 1, False))
    polite.disconnect()
    watcher.nothing(0.7)
    watcher.disconnect()


def test_will_delay_is_cancelled_by_resuming_the_session(server):
    topic = f"will/{unique()}"
    watcher = Paho(server.mqtt_port, V5)
    watcher.subscribe(topic, qos=1)
    cid = client_id("wd")
    will_props = props(PacketTypes.WILLMESSAGE, WillDelayInterval=2)
    dying = Paho(server.mqtt_port, V5, cid, clean=False, session_expiry=60, will=(topic, b"late", 1, False),
                 will_properties=will_props)
    dying.abort()
    back = Paho(server.mqtt_port, V5, cid, clean=False, session_expiry=60)
    watcher.nothing(3.0)
    back.disconnect()
    # Without a resume, the delayed will arrives after the delay.
    dying2 = Paho(server.mqtt_port, V5, client_id("wd"), clean=False, session_expiry=60,
                  will=(topic, b"late", 1, False), will_properties=will_props)
    start = time.monotonic()
    dying2.abort()
    assert watcher.get(timeout=6).payload == b"late"
    assert time.monotonic() - start > 1.5
    watcher.disconnect()
