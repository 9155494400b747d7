"""MQTT 5.0 features end to end with paho-mqtt: properties, request/response, message expiry, topic
aliases, subscription identifiers, subscription options, CONNACK limits."""

from __future__ import annotations

import struct
import time

from interop import unique
import pytest

from mqtt_client import V5, Paho, Raw, client_id, connect_packet, packet, props, publish_packet, subscribe_packet
from paho.mqtt.packettypes import PacketTypes


def test_properties_travel_end_to_end(server):
    topic = f"p/{unique()}"
    sub = Paho(server.mqtt_port, V5)
    sub.subscribe(topic, qos=1, identifier=42)
    pub = Paho(server.mqtt_port, V5)
    sent = props(
        PacketTypes.PUBLISH, PayloadFormatIndicator=1, ContentType="text/plain", ResponseTopic=f"{topic}/reply",
        CorrelationData=b"corr-1", UserProperty=[("k", "v"), ("k", "w")], MessageExpiryInterval=120)
    pub.publish(topic, "héllo", qos=1, properties=sent)
    got = sub.get().properties
    assert got.PayloadFormatIndicator == 1
    assert got.ContentType == "text/plain"
    assert got.ResponseTopic == f"{topic}/reply"
    assert got.CorrelationData == b"corr-1"
    assert got.UserProperty == [("k", "v"), ("k", "w")], "order and duplicates kept"
    assert got.SubscriptionIdentifier == [42]
    assert 118 <= got.MessageExpiryInterval <= 120, "remaining lifetime"
    sub.disconnect()
    pub.disconnect()


def test_request_response(server):
    service_topic = f"svc/{unique()}"
    responder = Paho(server.mqtt_port, V5)
    responder.subscribe(service_topic, qos=1)
    requester = Paho(server.mqtt_port, V5)
    reply_topic = f"replies/{requester.cid}"
    requester.subscribe(reply_topic, qos=1)
    requester.publish(service_topic, b"2+2", qos=1,
                      properties=props(PacketTypes.PUBLISH, ResponseTopic=reply_topic, CorrelationData=b"\x00\xffid-7"))
    request = responder.get()
    responder.publish(request.properties.ResponseTopic, b"4", qos=1,
                      properties=props(PacketTypes.PUBLISH, CorrelationData=request.properties.CorrelationData))
    reply = requester.get()
    assert (reply.payload, reply.properties.CorrelationData) == (b"4", b"\x00\xffid-7"), "binary correlation data"
    responder.disconnect()
    requester.disconnect()


def test_response_information_is_a_base_for_response_topics(server):
    """§4.10.1, [MQTT-3.1.2-28]: Request Response Information 1 → CONNACK Response Information (the
    client's own base under $rpc/); 0 or absent → none."""
    requester = Paho(server.mqtt_port, V5, connect_properties={"RequestResponseInformation": 1})
    base = requester.connack_properties.ResponseInformation
    assert base == f"$rpc/mqtt/{requester.cid}"
    quiet = Paho(server.mqtt_port, V5, connect_properties={"RequestResponseInformation": 0})
    assert not hasattr(quiet.connack_properties, "ResponseInformation")
    quiet.disconnect()
    service_topic = f"svc/{unique()}"
    responder = Paho(server.mqtt_port, V5)
    responder.subscribe(service_topic, qos=1)
    requester.subscribe(f"{base}/#", qos=1)
    requester.publish(service_topic, b"ping", qos=1,
                      properties=props(PacketTypes.PUBLISH, ResponseTopic=f"{base}/1", CorrelationData=b"c1"))
    request = responder.get()
    responder.publish(request.properties.ResponseTopic, b"pong", qos=1,
                      properties=props(PacketTypes.PUBLISH, CorrelationData=request.properties.CorrelationData))
    reply = requester.get()
    assert (reply.topic, reply.payload, reply.properties.CorrelationData) == (f"{base}/1", b"pong", b"c1")
    responder.disconnect()
    requester.disconnect()


def test_expired_messages_are_never_delivered(server):
    cid = client_id("exp")
    topic = f"e/{unique()}"
    sub = Paho(server.mqtt_port, V5, cid, clean=False, session_expiry=60)
    sub.subscribe(topic, qos=1)
    sub.disconnect()
    pub = Paho(server.mqtt_port, V5)
    pub.publish(topic, b"short", qos=1, properties=props(PacketTypes.PUBLISH, MessageExpiryInterval=1))
    pub.publish(topic, b"long", qos=1, properties=props(PacketTypes.PUBLISH, MessageExpiryInterval=60))
    pub.publish(f"{topic}/r", b"retained", qos=1, retain=True,
                properties=props(PacketTypes.PUBLISH, MessageExpiryInterval=1))
    time.sleep(2.2)
    sub.connect()
    message = sub.get()
    assert message.payload == b"long" and message.properties.MessageExpiryInterval <= 58
    sub.nothing()
    sub.subscribe(f"{topic}/r", qos=1)
    sub.nothing()
    sub.disconnect()
    pub.disconnect()


def test_connack_states_limits(server):
    client = Paho(server.mqtt_port, V5, cid="")
    p = client.connack_properties
    assert p.AssignedClientIdentifier, "an empty client id gets one assigned"
    assert p.ReceiveMaximum >= 1 and p.TopicAliasMaximum >= 1 and p.MaximumPacketSize >= 1024
    client.disconnect()


def test_server_keep_alive_replaces_the_clients_and_is_enforced(make_server):
    """[MQTT-3.2.2-21], [MQTT-3.1.2-24] with mqtt.max_keep_alive_seconds: a longer keep-alive, or 0, is
    replaced by CONNACK Server Keep Alive; paho-mqtt then pings at that period and stays connected, and a
    silent client is disconnected (0x8D) after 1.5 × the server's value."""
    srv = make_server({"mqtt": {"max_keep_alive_seconds": 1}})
    stock = Paho(srv.mqtt_port, V5, keepalive=60)
    assert stock.connack_properties.ServerKeepAlive == 1
    within = Paho(srv.mqtt_port, V5, keepalive=1)
    assert not hasattr(within.connack_properties, "ServerKeepAlive"), "not sent when the client's is kept"
    within.disconnect()
    raw = Raw(srv.mqtt_port)
    raw.send(connect_packet(client_id("ska"), keepalive=0))
    connack = raw.expect(2)
    assert b"\x13\x00\x01" in connack[2:], f"Server Keep Alive 1 for keep-alive 0: {connack!r}"
    start = time.monotonic()
    assert raw.expect(14, timeout=5)[0] == 0x8D
    assert 1.45 < time.monotonic() - start < 2.5
    raw.close()
    time.sleep(1.0)
    assert not stock.disconnected.is_set(), "paho-mqtt follows Server Keep Alive"
    topic = f"ska/{unique()}"
    stock.subscribe(topic, qos=1)
    stock.publish(topic, b"alive", qos=1)
    assert stock.get().payload == b"alive"
    stock.disconnect()


@pytest.mark.parametrize("reference", [None, "mqtt-2.example:1883"], ids=["0x8B", "server reference"])
def test_shutdown_disconnects_with_0x8B_or_names_another_server(make_server, reference):
    """§4.11 / §3.14.2.1: on shutdown a 5.0 client gets DISCONNECT 0x8B, or with mqtt.server_reference set,
    0x9C (Use another server) and the Server Reference."""
    srv = make_server({"mqtt": {"server_reference": reference}} if reference else {})
    client = Paho(srv.mqtt_port, V5)
    srv.terminate()
    assert client.disconnected.wait(5), "no DISCONNECT on shutdown"
    if reference is None:
        assert client.disconnect_reason.value == 0x8B
        assert not hasattr(client.disconnect_properties, "ServerReference")
    else:
        assert client.disconnect_reason.value == 0x9C
        assert client.disconnect_properties.ServerReference == reference
    client.client.loop_stop()


def test_outbound_flow_control_respects_the_clients_receive_maximum(server):
    """[MQTT-3.3.4-9], [MQTT-4.9.0-2]: with Receive Maximum 2, the third QoS 1/2 PUBLISH waits until one
    of the first two is acknowledged."""
    topic = f"rm/{unique()}"
    raw = Raw(server.mqtt_port)
    raw.send(connect_packet(client_id("rm"), properties=b"\x21\x00\x02"))  # Receive Maximum 2
    raw.expect(2)
    raw.send(subscribe_packet(1, topic, 2))
    raw.expect(9)
    pub = Paho(server.mqtt_port, V5)
    for i, qos in enumerate([1, 2, 1]):
        pub.publish(topic, f"m{i}".encode(), qos=qos)
    first, second = raw.expect(3), raw.expect(3)
    with pytest.raises(TimeoutError):
        raw.read(0.5)  # the window is full
    pid = struct.unpack("!H", first[3 + len(topic):5 + len(topic)])[0]
    raw.send(packet(0x40, struct.pack("!H", pid)))  # PUBACK for m0
    third = raw.expect(3)
    assert [p.endswith(m) for p, m in ((first, b"m0"), (second, b"m1"), (third, b"m2"))] == [True] * 3
    raw.close()
    pub.disconnect()


def test_subscription_options_no_local_retain_as_published_retain_handling(server):
    topic = f"o/{unique()}"
    me = Paho(server.mqtt_port, V5)
    me.subscribe(topic, qos=1, noLocal=True)
    me.publish(topic, b"mine", qos=1)
    me.nothing()
    pub = Paho(server.mqtt_port, V5)
    pub.publish(topic, b"kept", qos=1, retain=True)
    assert me.get().retain is False
    rap = Paho(server.mqtt_port, V5)
    rap.subscribe(topic, qos=1, retainAsPublished=True, retainHandling=2)
    rap.nothing()  # retain handling 2: no retained message on subscribe
    pub.publish(topic, b"again", qos=1, retain=True)
    assert rap.get().retain is True  # retain as published
    once = Paho(server.mqtt_port, V5)
    once.subscribe(topic, qos=1, retainHandling=1)
    assert once.get().payload == b"again"
    once.subscribe(topic, qos=1, retainHandling=1)
    once.nothing()  # retain handling 1: not for an existing subscription
    for client in (me, pub, rap, once):
        client.disconnect()


def test_topic_aliases_from_the_client(server):
    topic = f"alias/{unique()}"
    sub = Paho(server.mqtt_port, V5)
    sub.subscribe(topic)
    raw = Raw(server.mqtt_port)
    raw.send(connect_packet(client_id("alias")))
    raw.expect(2)
    alias = b"\x23\x00\x01"
    raw.send(publish_packet(topic, b"first", properties=alias))
    raw.send(publish_packet("", b"second", properties=alias))
    assert [sub.get().payload, sub.get().payload] == [b"first", b"second"]
    # An alias above the maximum: DISCONNECT 0x94.
    raw.send(publish_packet(topic, b"x", properties=b"\x23\xff\xff"))
    got = raw.expect(14)
    assert got[0] == 0x94, got
    assert raw.closed()
    sub.disconnect()


def test_nothing_larger_than_the_clients_maximum_packet_size_is_sent(server):
    topic = f"size/{unique()}"
    small = Paho(server.mqtt_port, V5, maximum_packet_size=128)
    small.subscribe(topic, qos=1)
    pub = Paho(server.mqtt_port, V5)
    pub.publish(topic, b"x" * 500, qos=1)
    pub.publish(topic, b"fits", qos=1)
    assert small.get().payload == b"fits", "the large message was not sent (MQTT-3.1.2-25)"
    small.nothing()
    small.disconnect()
    pub.disconnect()


def test_topic_aliases_towards_the_client(server):
    topic = f"alias/out/{unique()}"
    raw = Raw(server.mqtt_port)
    raw.send(connect_packet(client_id("aliasout"), properties=b"\x22\x00\x02"))  # Topic Alias Maximum 2
    raw.expect(2)
    from mqtt_client import subscribe_packet

    raw.send(subscribe_packet(1, topic, 0))
    raw.expect(9)
    pub = Paho(server.mqtt_port, V5)
    pub.publish(topic, b"one")
    pub.publish(topic, b"two")
    first, second = raw.expect(3), raw.expect(3)
    # first: topic + alias 1; second: empty topic + alias 1 (MQTT 5.0 §3.3.2.3.4)
    # (expect(3) returns the fixed header's first byte, then the body)
    length = struct.unpack("!H", first[1:3])[0]
    assert first[3:3 + length].decode() == topic
    assert first[3 + length:3 + length + 4] == b"\x03\x23\x00\x01" and first.endswith(b"one")
    assert second[1:3] == b"\x00\x00" and second[3:7] == b"\x03\x23\x00\x01" and second.endswith(b"two")
    pub.disconnect()
    raw.close()


def test_payload_not_matching_its_utf8_format_indicator_is_refused(server):
    topic = f"pfi/{unique()}"
    sub = Paho(server.mqtt_port, V5)
    sub.subscribe(topic, qos=1)
    raw = Raw(server.mqtt_port)
    raw.send(connect_packet(client_id("pfi")))
    raw.expect(2)
    raw.send(publish_packet(topic, b"\xff\xfe", qos=1, pid=4, properties=b"\x01\x01"))
    assert raw.expect(4) == b"\x00\x04\x99", "PUBACK 0x99 payload format invalid"
    raw.send(publish_packet(topic, "ok é".encode(), qos=1, pid=5, properties=b"\x01\x01"))
    assert raw.expect(4)[:2] == b"\x00\x05"
    assert sub.get().payload == "ok é".encode()
    sub.nothing()
    raw.close()
    sub.disconnect()


@pytest.mark.parametrize("single", [False, True], ids=["one-per-subscription", "single-copy"])
def test_overlapping_subscriptions_carry_their_identifiers(make_server, single):
    """[MQTT-3.3.4-2..5]: one PUBLISH per matching subscription with its own identifier (the default), or,
    with mqtt.single_copy_for_overlaps, one PUBLISH at the highest QoS carrying every identifier."""
    srv = make_server(args=["--set", f"mqtt.single_copy_for_overlaps={'true' if single else 'false'}"])
    topic = f"ov/{unique()}/x"
    sub = Paho(srv.mqtt_port, V5)
    pub = Paho(srv.mqtt_port, V5)
    try:
        sub.subscribe(topic.rsplit("/", 1)[0] + "/+", qos=0, identifier=2)
        sub.subscribe(topic.split("/", 1)[0] + "/#", qos=1, identifier=3)
        sub.subscribe(topic, qos=0)  # no identifier
        pub.publish(topic, b"m", qos=1)
        if single:
            message = sub.get()
            assert message.qos == 1, "the highest QoS of the matching subscriptions"
            assert sorted(message.properties.SubscriptionIdentifier) == [2, 3]
            assert sub.nothing(0.5), "one copy only"
        else:
            copies = sub.get_many(3)
            ids = sorted(tuple(getattr(m.properties, "SubscriptionIdentifier", [])) for m in copies)
            assert ids == [(), (2,), (3,)]
    finally:
        sub.disconnect()
        pub.disconnect()
