"""Presence is part of the shared connection lifecycle: subscribers of every protocol are listed on a
channel with presence, and leave it when they unsubscribe or disconnect."""

from __future__ import annotations

import socket
import time

from interop import unique
from mqtt_client import V5, V311, Paho


def _present(server, channel):
    r = server.get("/api/presence", params={"channel": channel})
    assert r.status_code == 200, r.text
    return r.json()["clients"]


def _wait_for(predicate, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    return predicate()


def test_mqtt_subscriber_is_present_until_it_unsubscribes_or_leaves(server):
    room = f"chat/{unique()}"
    for version in (V311, V5):
        client = Paho(server.mqtt_port, version)
        client.subscribe(room, qos=1)
        entries = _wait_for(lambda: [c for c in _present(server, room) if c["protocol"] == "mqtt"])
        assert len(entries) == 1, entries
        assert entries[0]["name"] == client.cid, entries
        client.client.unsubscribe(room)
        assert _wait_for(lambda: not _present(server, room)), _present(server, room)
        client.subscribe(room)
        assert _wait_for(lambda: _present(server, room))
        client.disconnect()
        assert _wait_for(lambda: not _present(server, room)), _present(server, room)


def test_persistent_mqtt_session_is_present_only_while_connected(server):
    room = f"chat/{unique()}"
    client = Paho(server.mqtt_port, V5, clean=False, session_expiry=300)
    client.subscribe(room, qos=1)
    assert _wait_for(lambda: _present(server, room))
    client.disconnect()
    assert _wait_for(lambda: not _present(server, room)), _present(server, room)
    again = Paho(server.mqtt_port, V5, client.cid, clean=False, session_expiry=300)
    entries = _wait_for(lambda: _present(server, room))
    assert [e["name"] for e in entries] == [client.cid], entries
    again.disconnect()


def test_nats_and_mqtt_subscribers_share_the_channel_presence(server):
    token = unique()
    nats = socket.create_connection(("127.0.0.1", server.nats_port), timeout=5)
    nats.recv(4096)
    nats.sendall(f'CONNECT {{"verbose":false,"name":"svc"}}\r\nSUB chat.{token} 1\r\nPING\r\n'.encode())
    assert b"PONG" in nats.recv(4096)
    mqtt = Paho(server.mqtt_port, V311)
    mqtt.subscribe(f"chat/{token}")
    entries = _wait_for(lambda: len(_present(server, f"chat/{token}")) == 2 and _present(server, f"chat/{token}"))
    assert sorted(e["protocol"] for e in entries) == ["mqtt", "nats"], entries
    nats.close()
    mqtt.disconnect()


def test_mqtt_subscribers_get_no_message_for_joins_and_leaves(make_server):
    """Presence events have no MQTT form: an MQTT subscriber of a channel with presence receives the
    channel's publications only, not an empty message for each join and leave."""
    srv = make_server({"presence": ["room/#"]})
    room = f"room/{unique()}"
    watcher = Paho(srv.mqtt_port, V5)
    watcher.subscribe(room, qos=1)
    other = Paho(srv.mqtt_port, V311)
    other.subscribe(room)
    assert _wait_for(lambda: len(_present(srv, room)) == 2)
    other.disconnect()
    watcher.publish(room, "only this", qos=1)
    assert watcher.get().payload == b"only this"
    assert watcher.nothing(0.5)
    watcher.disconnect()
