"""Durable storage (issue 7) with the real binary and stock clients: the server is killed with SIGKILL
at random points and restarted on the same data directory; whatever it acknowledged must be there.

- MQTT (paho-mqtt): QoS 1/2 messages acknowledged to their publisher reach a persistent subscriber
  after the restart, in order, QoS 2 exactly once; in-flight messages come back with their original
  packet identifiers; an inbound QoS 2 flow resumes without a duplicate; retained messages survive.
- History (native WebSocket `recover`, HTTP publish): every publish answered with an offset is in the
  log after the restart, same epoch, offsets continuing.
"""

from __future__ import annotations

import os
import random
import signal
import threading
import time

import pytest

from interop import run, unique, ws_clients
from mqtt_client import V5, V311, VERSIONS, Paho, Raw, connect_packet, publish_packet, subscribe_packet

DURABLE = {"history": [{"filter": "ledger/#", "count": 100000, "durable": True}]}


def kill9(srv) -> None:
    os.killpg(srv.proc.pid, signal.SIGKILL)
    srv.proc.wait(timeout=10)


def restart(srv) -> None:
    kill9(srv)
    srv.start()


def receive_acknowledged(srv, cid: str, acknowledged: list[str]) -> list[str]:
    """Resumes persistent session `cid` and reads until every acknowledged message ("m<N>") arrived:
    none may be missing, and they come in publication order. Returns everything received."""
    sub = persistent(srv.mqtt_port, V5, cid)
    received: list[str] = []
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and not set(acknowledged) <= set(received):
        try:
            received.append(sub.get(timeout=1.0).payload.decode())
        except Exception:
            pass
    sub.disconnect()
    missing = [m for m in acknowledged if m not in set(received)]
    assert not missing, f"{len(missing)} acknowledged messages lost, first {missing[:5]}"
    order = [m for m in received if m in set(acknowledged)]
    assert order == sorted(set(order), key=lambda m: int(m[1:])), "out of order"
    return received


def kill_during(srv, publish_until_stopped, rounds: int, seed: int) -> None:
    """`rounds` times: run `publish_until_stopped(stop)` in a thread, SIGKILL the server at a random moment
    0.2–0.8 s in, and start it again on the same data directory."""
    rng = random.Random(seed)
    for _round in range(rounds):
        stop = threading.Event()
        thread = threading.Thread(target=publish_until_stopped, args=(stop,))
        thread.start()
        time.sleep(rng.uniform(0.2, 0.8))
        kill9(srv)
        stop.set()
        thread.join(10)
        srv.start()


def persistent(port: int, version: int, cid: str) -> Paho:
    if version == V5:
        return Paho(port, version, cid, clean=False, session_expiry=3600)
    return Paho(port, version, cid, clean=False)


@pytest.mark.parametrize("version", VERSIONS, ids=["3.1.1", "5.0"])
@pytest.mark.parametrize("qos", [1, 2])
def test_acknowledged_messages_reach_an_offline_persistent_subscriber_after_kill9(make_server, version, qos):
    srv = make_server()
    topic = unique("crash/")
    cid = unique("sub")
    sub = persistent(srv.mqtt_port, version, cid)
    sub.subscribe(topic, qos=qos)
    sub.disconnect()
    pub = Paho(srv.mqtt_port, version)
    for i in range(20):
        pub.publish(topic, f"m{i}", qos=qos)  # returns once acknowledged
    pub.abort()
    restart(srv)
    sub = persistent(srv.mqtt_port, version, cid)
    assert sub.session_present
    got = [m.payload.decode() for m in sub.get_many(20)]
    assert got == [f"m{i}" for i in range(20)]
    assert sub.nothing(0.5)
    sub.disconnect()


def test_inflight_qos2_comes_back_with_its_packet_identifier(make_server):
    srv = make_server()
    topic = unique("crash/")
    cid = unique("raw")
    raw = Raw(srv.mqtt_port)
    raw.send(connect_packet(cid, version=5, clean=False, properties=props_expiry(3600)))
    raw.expect(2)
    raw.send(subscribe_packet(1, topic, 2))
    raw.expect(9)
    pub = Paho(srv.mqtt_port, V5)
    pub.publish(topic, b"exactly-once", qos=2)
    publish = raw.expect(3)
    pid = packet_id_of(publish[1:], topic)
    # Not acknowledged: killed with the message in flight.
    restart(srv)
    raw = Raw(srv.mqtt_port)
    raw.send(connect_packet(cid, version=5, clean=False, properties=props_expiry(3600)))
    connack = raw.expect(2)
    assert connack[0] & 1 == 1, "session present"
    again = raw.expect(3)
    assert again[0] & 0x08, "resent with DUP"
    assert packet_id_of(again[1:], topic) == pid
    raw.close()


def test_inbound_qos2_resumes_without_a_duplicate(make_server):
    srv = make_server()
    topic = unique("crash/")
    watcher_id = unique("w")
    watcher = persistent(srv.mqtt_port, V5, watcher_id)
    watcher.subscribe(topic, qos=2)
    cid = unique("pub")
    raw = Raw(srv.mqtt_port)
    raw.send(connect_packet(cid, version=5, clean=False, properties=props_expiry(3600)))
    raw.expect(2)
    raw.send(publish_packet(topic, b"once", qos=2, pid=7))
    raw.expect(5)  # PUBREC: stored
    assert watcher.get().payload == b"once"
    watcher.abort()
    restart(srv)
    raw = Raw(srv.mqtt_port)
    raw.send(connect_packet(cid, version=5, clean=False, properties=props_expiry(3600)))
    raw.expect(2)
    raw.send(publish_packet(topic, b"once", qos=2, pid=7, dup=True))
    raw.expect(5)
    raw.send(bytes([0x62, 0x02, 0x00, 0x07]))  # PUBREL 7
    raw.expect(7)  # PUBCOMP
    watcher = persistent(srv.mqtt_port, V5, watcher_id)
    assert watcher.nothing(1.0), "the resent QoS 2 PUBLISH was not delivered again"
    watcher.disconnect()
    raw.close()


def test_retained_message_survives_kill9(make_server):
    srv = make_server()
    topic = unique("crash/")
    pub = Paho(srv.mqtt_port, V5)
    pub.publish(topic, b"current", qos=1, retain=True)
    pub.abort()
    restart(srv)
    sub = Paho(srv.mqtt_port, V311)
    sub.subscribe(topic, qos=1)
    message = sub.get()
    assert message.payload == b"current" and message.retain
    sub.disconnect()


@pytest.mark.parametrize("qos", [1, 2])
def test_publishing_through_repeated_kill9_loses_nothing_acknowledged(make_server, qos):
    """Rounds of: a publisher sends QoS 1/2 messages as fast as they are acknowledged while the server is
    killed at a random moment. Every acknowledged message reaches the persistent subscriber, in order;
    with QoS 2 none twice."""
    qos_publishing_through_kill9(make_server(), qos, rounds=4, seed=0xC0FFEE + qos)


def qos_publishing_through_kill9(srv, qos: int, rounds: int, seed: int) -> None:
    """The body of the test above, for any store (test_storage_postgres runs it on PostgreSQL)."""
    topic = unique("crash/")
    cid = unique("sub")
    sub = persistent(srv.mqtt_port, V5, cid)
    sub.subscribe(topic, qos=qos)
    sub.disconnect()
    acknowledged: list[str] = []
    sequence = 0

    def publish_until_killed(stop: threading.Event) -> None:
        nonlocal sequence
        pub = Paho(srv.mqtt_port, V5)
        try:
            while not stop.is_set():
                text = f"m{sequence}"
                info = pub.client.publish(topic, text, qos=qos)
                info.wait_for_publish(2.0)
                if not info.is_published():
                    return
                acknowledged.append(text)
                sequence += 1
        except Exception:  # the server went away mid-publish: that message was not acknowledged
            return
        finally:
            pub.client.loop_stop()
            sequence += 1000  # a message sent but not acknowledged may still arrive: keep names unique

    kill_during(srv, publish_until_killed, rounds=rounds, seed=seed)
    assert len(acknowledged) > 20
    received = receive_acknowledged(srv, cid, acknowledged)
    if qos == 2:
        assert len(received) == len(set(received)), "QoS 2 delivered a message twice"


def test_durable_history_survives_kill9_with_its_epoch(make_server):
    srv = make_server(DURABLE)
    channel = unique("ledger/")
    positions = [srv.publish(channel, {"n": i}) for i in range(30)]
    epoch = positions[0]["epoch"]
    assert [p["offset"] for p in positions] == list(range(1, 31))
    restart(srv)

    async def body():
        async with ws_clients(srv.ws_url) as ws:
            s = await ws.subscribe(channel, recover={"offset": 10, "epoch": epoch})
            assert s["recovered"] is True, s
            assert [m["data"]["n"] for m in s["messages"]] == list(range(10, 30)), s

    run(body())
    assert srv.publish(channel, {"n": 30}) == {"offset": 31, "epoch": epoch}


def test_durable_history_through_repeated_kill9(make_server):
    """Publish over HTTP while the server is killed at random points: every publish answered with an
    offset is in the log afterwards, in order, in one epoch."""
    srv = make_server(DURABLE)
    channel = unique("ledger/")
    answered: dict[int, int] = {}
    counter = 0

    def publish_until_killed(stop: threading.Event) -> None:
        nonlocal counter
        while not stop.is_set():
            value = counter
            counter += 1
            try:
                r = srv.post("/api/publish", json={"channel": channel, "data": {"n": value}}, timeout=2)
            except Exception:
                return
            if r.status_code != 200:
                return
            answered[r.json()["offset"]] = value

    kill_during(srv, publish_until_killed, rounds=4, seed=7)
    history = srv.get(f"/api/history?channel={channel}&limit=100000").json()
    kept = {m["offset"]: m["data"]["n"] for m in history["messages"]}
    assert len(answered) > 20
    for offset, value in answered.items():
        assert kept.get(offset) == value, f"offset {offset} lost or changed"
    assert sorted(kept) == list(range(1, len(kept) + 1)), "offsets are contiguous"
    assert len({m["epoch"] for m in history["messages"]}) == 1


def props_expiry(seconds: int) -> bytes:
    return bytes([0x11]) + seconds.to_bytes(4, "big")


def packet_id_of(body: bytes, topic: str) -> int:
    length = int.from_bytes(body[0:2], "big")
    return int.from_bytes(body[2 + length:4 + length], "big")
