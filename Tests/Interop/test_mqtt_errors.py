"""Bad input: malformed packets and violations get DISCONNECT with the reason code (5.0) or a closed
connection (3.1.1), CONNACK refusals, and no effect on other clients."""

from __future__ import annotations

import pytest

from interop import unique
from mqtt_client import V5, V311, Paho, Raw, client_id, connect_packet, packet, publish_packet, s, subscribe_packet


def connected(server, level: int) -> Raw:
    raw = Raw(server.mqtt_port)
    raw.send(connect_packet(client_id("bad"), version=level))
    assert raw.expect(2)[1] == 0
    return raw


@pytest.mark.parametrize(
    "name,data,reason",
    [
        ("qos 3", publish_packet("a", b"x", version=5)[:0] + bytes([0x36, 4]) + s("a") + b"\x00", 0x81),
        ("reserved type", bytes([0x00, 0x00]), 0x81),
        ("subscribe flags", packet(0x80, b"\x00\x01\x00" + s("a") + b"\x00"), 0x81),
        ("wildcard topic", publish_packet("a/#", b"x"), 0x90),
        ("second connect", connect_packet("again"), 0x82),
        ("property twice", publish_packet("a", b"x", properties=b"\x01\x00\x01\x00"), 0x82),
        ("invalid utf-8", packet(0x30, b"\x00\x01\xff\x00"), 0x81),
        ("no local on shared", subscribe_packet(1, "$share/g/x", 0x05), 0x82),
        ("alias zero", publish_packet("a", b"x", properties=b"\x23\x00\x00"), 0x94),
        ("auth packet", packet(0xF0, b"\x00"), 0x82),
    ],
)
def test_violations_disconnect_with_reason_code_5(server, name, data, reason):
    bystander = Paho(server.mqtt_port, V5)
    topic = f"ok/{unique()}"
    bystander.subscribe(topic)
    raw = connected(server, 5)
    raw.send(data)
    got = raw.expect(14)
    assert got[0] == reason, f"{name}: {got!r}"
    assert raw.closed()
    bystander.publish(topic, b"unaffected")
    assert bystander.get().payload == b"unaffected"
    bystander.disconnect()


def test_disconnect_fits_the_clients_maximum_packet_size(server):
    """[MQTT-3.14.2-3], [MQTT-3.1.2-25]: the reason string is left out when it would make DISCONNECT larger
    than the client's Maximum Packet Size; the reason code still arrives."""
    raw = Raw(server.mqtt_port)
    raw.send(connect_packet(client_id("small"), properties=b"\x27\x00\x00\x00\x10"))  # Maximum Packet Size 16
    assert raw.expect(2)[1] == 0
    raw.send(bytes([0x36, 4]) + s("a") + b"\x00")  # QoS 3
    body = raw.expect(14)
    assert body[0] == 0x81 and len(body) + 2 <= 16, body
    assert raw.closed()
    raw.close()


def test_a_client_still_sending_reads_the_disconnect(server):
    """§3.3.4: one QoS 2 publication past Receive Maximum (64; the client breaks [MQTT-3.3.4-7]) → 0x93.
    The client here keeps answering PUBRECs with PUBREL while it reads, as the Paho conformance client's flow_control2
    does: the server half-closes and drops further input (lingering close), so the client is not reset
    before it has read the reason code."""
    raw = connected(server, 5)
    raw.send(b"".join(publish_packet("linger/x", b"m", qos=2, pid=i) for i in range(1, 66)))
    while True:
        got = raw.read()
        assert got is not None, "connection closed before DISCONNECT"
        if got[0] >> 4 == 5:  # PUBREC
            raw.send(packet(0x62, got[1][:2]))  # PUBREL, after the server has decided to close
            continue
        assert got[0] >> 4 == 14, got
        assert got[1][0] == 0x93, got
        break
    assert raw.closed()
    raw.close()


@pytest.mark.parametrize(
    "data",
    [bytes([0x36, 4]) + s("a") + b"\x00", bytes([0x00, 0x00]), publish_packet("a/+", b"x", version=4),
     connect_packet("again", version=4)],
    ids=["qos 3", "reserved type", "wildcard topic", "second connect"],
)
def test_violations_close_the_connection_3_1_1(server, data):
    raw = connected(server, 4)
    raw.send(data)
    assert raw.read() is None, "3.1.1: the connection is closed without a packet"


def test_packet_too_large(make_server):
    srv = make_server({"mqtt": {"max_packet_size": 1024}})
    raw = connected(srv, 5)
    raw.send(publish_packet("big", b"x" * 2000))
    assert raw.expect(14)[0] == 0x95
    assert raw.closed()


def test_first_packet_must_be_connect(server):
    raw = Raw(server.mqtt_port)
    raw.send(bytes([0xC0, 0x00]))
    assert raw.read() is None


def test_bad_password_3_1_1_return_code(make_server):
    srv = make_server({"anonymous": False, "tokens": {"t": "u"}})
    raw = Raw(srv.mqtt_port)
    body = s("MQTT") + bytes([4, 0xC2, 0, 30]) + s("c") + s("u") + s("wrong")
    raw.send(packet(0x10, body))
    assert raw.expect(2) == b"\x00\x04", "CONNACK return code 4: bad user name or password"
    assert raw.closed()


def test_unsupported_protocol_level(server):
    raw = Raw(server.mqtt_port)
    body = s("MQTT") + bytes([6, 2, 0, 30]) + s("c")
    raw.send(packet(0x10, body))
    assert raw.expect(2)[1] == 0x01, "CONNACK 0x01 unacceptable protocol version"
    assert raw.closed()


def test_authentication_with_token_as_password(make_server):
    srv = make_server({"anonymous": False, "tokens": {"secret-token": "alice"}})
    for version in (V5, V311):
        refused = Paho(srv.mqtt_port, version, password="wrong", username="alice", connect=False).connect(
            expect_success=False)
        # 0x86 (5.0); paho reports the 3.1.1 return code 4 as the same reason.
        assert refused.reason_code.value == 0x86, refused.reason_code
        anonymous = Paho(srv.mqtt_port, version, connect=False).connect(expect_success=False)
        assert anonymous.reason_code.is_failure
        ok = Paho(srv.mqtt_port, version, username="alice", password="secret-token")
        connections = srv.get("/api/connections").json()
        listed = connections["connections"]
        assert any(c["protocol"] == "mqtt" and c["user"] == "alice" and c["name"] == ok.cid for c in listed), listed
        ok.disconnect()
