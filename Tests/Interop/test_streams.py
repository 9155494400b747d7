"""Streams (issue 18) with the real binary: a stream made through /api/streams captures publishes from
MQTT (paho-mqtt), NATS (nats-py) and the HTTP API into its partitions; counts, offsets and reads come
back through the API, and after a graceful restart and after kill -9 (SQLite and PostgreSQL) the stream
is there with the same epochs, its offsets continuing, its limits still enforced and every acknowledged
append kept.
"""

from __future__ import annotations

import os
import signal
import threading
import time

import nats
import pytest

from interop import run, unique
from mqtt_client import V5, V311, Paho
from test_storage_postgres import PostgresServer


def create(srv, name: str, filters: list[str], **fields) -> dict:
    r = srv.post("/api/streams", json={"name": name, "filters": filters, **fields})
    assert r.status_code == 201, r.text
    return r.json()


def info(srv, name: str) -> dict:
    r = srv.get(f"/api/streams/{name}")
    assert r.status_code == 200, r.text
    return r.json()


def wait_messages(srv, name: str, count: int, timeout: float = 10.0) -> dict:
    deadline = time.monotonic() + timeout
    current = info(srv, name)
    while current["state"]["messages"] < count and time.monotonic() < deadline:
        time.sleep(0.05)
        current = info(srv, name)
    assert current["state"]["messages"] == count, current
    return current


def read(srv, name: str, partition: int = 0, **query) -> dict:
    r = srv.get(f"/api/streams/{name}/messages", params={"partition": partition, "limit": 10000, **query})
    assert r.status_code == 200, r.text
    return r.json()


async def nats_publish(srv, subject: str, payloads: list[str]) -> None:
    nc = await nats.connect(srv.nats_url, allow_reconnect=False)
    for payload in payloads:
        await nc.publish(subject, payload.encode())
    await nc.flush()
    await nc.close()


def test_api_manages_streams_and_every_protocol_lands_in_them(make_server):
    srv = make_server()
    base = unique("st")
    created = create(srv, base, [f"{base}/#"], partitions=3, max_messages=1000)
    assert created["config"]["partitions"] == 3 and len(created["state"]["partitions"]) == 3
    assert srv.post("/api/streams", json={"name": base, "filters": ["x/#"]}).status_code == 409
    assert srv.post("/api/streams", json={"name": "bad name", "filters": ["x/#"]}).status_code == 400
    assert srv.get("/api/streams/nope").status_code == 404
    assert any(s["name"] == base for s in srv.get("/api/streams").json()["streams"])

    pub = Paho(srv.mqtt_port, V5)
    for i in range(5):
        pub.publish(f"{base}/mqtt", f"m{i}", qos=1)
    pub.disconnect()
    run(nats_publish(srv, f"{base}.nats", [f"n{i}" for i in range(5)]))
    keyed = srv.post("/api/publish", json={"channel": f"{base}/http", "text": "h", "key": "user-1"}).json()
    assert keyed["streams"][0]["stream"] == base and keyed["streams"][0]["offset"] >= 1
    current = wait_messages(srv, base, 11)

    # One subject stays in one partition, in order; the total is everything published.
    by_subject: dict[str, list[str]] = {}
    for p in current["state"]["partitions"]:
        for m in read(srv, base, p["partition"])["messages"]:
            by_subject.setdefault(m["subject"], []).append((p["partition"], m["text"] if "text" in m else m["data"]))
    assert [t for _, t in by_subject[f"{base}/mqtt"]] == [f"m{i}" for i in range(5)]
    assert [t for _, t in by_subject[f"{base}/nats"]] == [f"n{i}" for i in range(5)]
    assert len({p for p, _ in by_subject[f"{base}/mqtt"]}) == 1
    assert sum(p["messages"] for p in current["state"]["partitions"]) == 11
    for p in current["state"]["partitions"]:
        assert p["last_offset"] - p["first_offset"] + 1 == p["messages"] or p["messages"] == 0

    # Reads from the end, by time, within a byte budget.
    mqtt_partition = by_subject[f"{base}/mqtt"][0][0]
    everything = read(srv, base, mqtt_partition)["messages"]
    newest = read(srv, base, mqtt_partition, last=2)["messages"]
    assert [m["offset"] for m in newest] == [m["offset"] for m in everything[-2:]] and len(newest) == 2
    middle = everything[len(everything) // 2]
    by_time = read(srv, base, mqtt_partition, time=middle["time"])["messages"]
    assert by_time[0]["offset"] <= middle["offset"] and by_time[-1]["offset"] == everything[-1]["offset"]
    assert len(read(srv, base, mqtt_partition, max_bytes=1)["messages"]) == 1
    assert srv.get(f"/api/streams/{base}/messages", params={"partition": 9}).status_code == 404

    # Limits: update, then the purge; consumer group offsets.
    r = srv.http("PATCH", f"/api/streams/{base}", json={"max_messages": 2})
    assert r.status_code == 200, r.text
    assert all(p["messages"] <= 2 for p in r.json()["state"]["partitions"])
    assert srv.http("PATCH", f"/api/streams/{base}", json={"partitions": 7}).status_code == 400
    r = srv.post(f"/api/streams/{base}/groups/g1", json={"partition": 1, "offset": 3})
    assert r.status_code == 200 and r.json()["offset"] == 3
    assert srv.get(f"/api/streams/{base}/groups/g1").json()["offsets"][0]["offset"] == 3
    r = srv.post(f"/api/streams/{base}/purge", json={})
    assert r.status_code == 200 and info(srv, base)["state"]["messages"] == 0

    metrics = srv.get("/metrics").text
    deadline = time.monotonic() + 5
    while f'switchboard_stream_appends_total{{stream="{base}"}}' not in metrics and time.monotonic() < deadline:
        time.sleep(0.2)
        metrics = srv.get("/metrics").text
    assert f'switchboard_stream_messages{{stream="{base}"}}' in metrics

    assert srv.http("DELETE", f"/api/streams/{base}").status_code == 204
    assert srv.get(f"/api/streams/{base}").status_code == 404


def test_a_restarted_server_keeps_streams_epochs_offsets_and_limits(make_server):
    srv = make_server()
    name = unique("rs")
    created = create(srv, name, [f"{name}/#"], max_messages=5)
    epoch = created["state"]["partitions"][0]["epoch"]
    pub = Paho(srv.mqtt_port, V311)
    for i in range(8):
        pub.publish(f"{name}/a", f"m{i}", qos=1)
    pub.disconnect()
    run(nats_publish(srv, f"{name}.b", ["n0", "n1"]))
    deadline = time.monotonic() + 10
    while info(srv, name)["state"]["partitions"][0]["last_offset"] < 10 and time.monotonic() < deadline:
        time.sleep(0.05)
    before = info(srv, name)["state"]["partitions"][0]
    assert before["last_offset"] == 10 and before["first_offset"] == 6
    srv.post(f"/api/streams/{name}/groups/readers", json={"partition": 0, "offset": 8})

    srv.stop()
    srv.start()
    after = info(srv, name)
    partition = after["state"]["partitions"][0]
    assert partition["epoch"] == epoch and partition["last_offset"] == 10 and partition["first_offset"] == 6
    assert [m["offset"] for m in read(srv, name)["messages"]] == [6, 7, 8, 9, 10]
    group = srv.get(f"/api/streams/{name}/groups/readers").json()["offsets"]
    assert group == [{"partition": 0, "offset": 8, "epoch": epoch, "current": True}]
    answer = srv.publish(f"{name}/a", "next")
    assert answer["streams"][0]["offset"] == 11 and answer["streams"][0]["epoch"] == epoch
    assert info(srv, name)["state"]["messages"] == 5  # the limit still holds


@pytest.mark.parametrize("storage", ["sqlite", "postgres"])
def test_every_acknowledged_append_survives_kill9(make_server, tmp_path, storage):
    if storage == "postgres":
        database = PostgresServer(tmp_path / "postgres").start()
        try:
            appends_survive_kill9(make_server(args=["--storage", database.url]))
        finally:
            database.stop()
    else:
        appends_survive_kill9(make_server())


def kill9_once_answered(srv, publish_until_stopped, stop: threading.Event, acknowledged: list) -> None:
    """Runs `publish_until_stopped` in a thread, SIGKILLs the server while it publishes, once some 20
    publishes were answered (however slow the machine is today), and starts it again."""
    thread = threading.Thread(target=publish_until_stopped)
    thread.start()
    deadline = time.monotonic() + 15
    while len(acknowledged) < 20 and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.2)
    os.killpg(srv.proc.pid, signal.SIGKILL)
    srv.proc.wait(timeout=10)
    stop.set()
    thread.join(10)
    assert len(acknowledged) >= 20
    srv.start()


def appends_survive_kill9(srv) -> None:
    name = unique("k9")
    epoch = create(srv, name, [f"{name}/#"], partitions=2)["state"]["partitions"][0]["epoch"]
    acknowledged: list[tuple[int, int, str]] = []
    stop = threading.Event()

    def publish_until_stopped() -> None:
        i = 0
        while not stop.is_set():
            try:
                r = srv.post("/api/publish", json={"channel": f"{name}/x{i % 5}", "text": f"m{i}"}, timeout=2)
            except Exception:
                return
            if r.status_code == 200:
                ack = r.json()["streams"][0]
                acknowledged.append((ack["partition"], ack["offset"], f"m{i}"))
            i += 1

    kill9_once_answered(srv, publish_until_stopped, stop, acknowledged)
    kept: dict[tuple[int, int], str] = {}
    for p in info(srv, name)["state"]["partitions"]:
        for m in read(srv, name, p["partition"])["messages"]:
            kept[(p["partition"], m["offset"])] = m["text"]
    missing = [a for a in acknowledged if kept.get((a[0], a[1])) != a[2]]
    assert not missing, f"{len(missing)} acknowledged appends lost, first {missing[:5]}"
    assert info(srv, name)["state"]["partitions"][0]["epoch"] == epoch
    # Offsets continue after the newest one stored.
    newest = max((o for (p, o) in kept if p == 0), default=0)
    again = srv.post("/api/publish", json={"channel": f"{name}/again", "text": "z", "partition": 0}).json()
    assert again["streams"][0]["offset"] > newest


def test_streams_from_the_config_file(make_server):
    name = unique("cf")
    srv = make_server({"streams": [{"name": name, "filters": [f"{name}/#"], "partitions": 2, "max_age_seconds": 600}]})
    current = info(srv, name)
    assert current["config"]["partitions"] == 2 and current["config"]["max_age_seconds"] == 600
    pub = Paho(srv.mqtt_port, V5)
    pub.publish(f"{name}/one", "1", qos=1)
    pub.disconnect()
    wait_messages(srv, name, 1)
    srv.stop()
    srv.start()
    assert info(srv, name)["state"]["messages"] == 1


def test_stream_routes_are_admin_routes_and_put_creates_or_updates(make_server):
    srv = make_server({"api_key": "sekret"})
    name = unique("pk")
    assert srv.get("/api/streams").status_code == 401
    assert srv.http("PUT", f"/api/streams/{name}", json={"filters": [f"{name}/#"]}).status_code == 401
    auth = {"Authorization": "Bearer sekret"}
    r = srv.http("PUT", f"/api/streams/{name}", json={"filters": [f"{name}/#"], "partitions": 2}, headers=auth)
    assert r.status_code == 201 and r.json()["config"]["partitions"] == 2, r.text
    r = srv.http("PUT", f"/api/streams/{name}", json={"max_bytes": 1000, "filters": [f"{name}/x"]}, headers=auth)
    assert r.status_code == 200 and r.json()["config"]["max_bytes"] == 1000, r.text
    assert r.json()["config"]["filters"] == [f"{name}/x"]
    assert srv.http("PUT", f"/api/streams/{name}", json={"name": "other"}, headers=auth).status_code == 400
    assert srv.get("/api/streams", headers=auth).status_code == 200
    assert srv.http("DELETE", f"/api/streams/{name}", headers=auth).status_code == 204


@pytest.mark.parametrize("qos", [1, 2])
def test_mqtt_publishes_acknowledged_into_a_stream_survive_kill9(make_server, qos):
    """A QoS 1/2 publish to a topic a stream captures is acknowledged (PUBACK / PUBREC) only once the stream
    stored it: after kill -9 every acknowledged payload is in the stream, in publication order."""
    from mqtt_client import V5, V311, Paho

    srv = make_server()
    name = unique("mq")
    create(srv, name, [f"{name}/#"])
    other = unique("plain")  # a topic no stream captures, interleaved: its acknowledgements keep their order
    acknowledged: list[str] = []
    stop = threading.Event()

    def publish_until_stopped() -> None:
        pub = None
        try:
            pub = Paho(srv.mqtt_port, V5 if qos == 2 else V311)
            i = 0
            while not stop.is_set():
                info_ = pub.client.publish(f"{name}/x", f"m{i}", qos=qos)
                pub.client.publish(f"{other}/y", f"o{i}", qos=qos)
                info_.wait_for_publish(2.0)
                if not info_.is_published() or not pub.accepted(info_):
                    return
                acknowledged.append(f"m{i}")
                i += 1
        except Exception:
            return
        finally:
            if pub is not None:
                pub.client.loop_stop()

    kill9_once_answered(srv, publish_until_stopped, stop, acknowledged)
    kept = [m["text"] for m in read(srv, name, 0)["messages"]]
    assert kept[: len(acknowledged)] == acknowledged, "an acknowledged publish is missing or out of order"


def test_amqp_confirms_into_a_stream_survive_kill9(make_server):
    """A confirmed publish to `amq.topic` whose topic a stream captures is confirmed only once the stream
    stored it: after kill -9 every confirmed body is in the stream, in order."""
    import pika

    from amqp_support import connect

    srv = make_server()
    name = unique("aq")
    create(srv, name, [f"{name}/#"])
    confirmed: list[str] = []
    stop = threading.Event()

    def publish_until_stopped() -> None:
        try:
            with connect(srv) as conn:
                channel = conn.channel()
                channel.confirm_delivery()
                i = 0
                while not stop.is_set():
                    channel.basic_publish("amq.topic", f"{name}.x", f"a{i}".encode(), pika.BasicProperties(delivery_mode=2))
                    confirmed.append(f"a{i}")  # basic_publish returned: the broker confirmed it
                    i += 1
        except Exception:
            return

    kill9_once_answered(srv, publish_until_stopped, stop, confirmed)
    kept = [m["text"] for m in read(srv, name, 0)["messages"]]
    assert kept[: len(confirmed)] == confirmed, "a confirmed publish is missing or out of order"


def test_a_stream_that_refuses_a_confirmed_publish_nacks_it(make_server):
    import pika
    import pika.exceptions

    from amqp_support import connect

    srv = make_server()
    name = unique("full")
    create(srv, name, [f"{name}/#"], max_messages=1, discard="new")
    with connect(srv) as conn:
        channel = conn.channel()
        channel.confirm_delivery()
        channel.basic_publish("amq.topic", f"{name}.x", b"first")
        with pytest.raises(pika.exceptions.NackError):
            channel.basic_publish("amq.topic", f"{name}.x", b"refused: the stream is full")
    assert [m["text"] for m in read(srv, name, 0)["messages"]] == ["first"]


@pytest.mark.parametrize("version", [V311, V5], ids=["3.1.1", "5.0"])
def test_a_stream_that_refuses_an_mqtt_qos1_publish_answers_it_at_once(make_server, version):
    """A stream refusing a QoS 1 publish as it comes (full, discard new) — decided before anything is
    stored — is answered as a store failure is: 5.0's PUBACK 0x80, 3.1.1's connection closed (it has no
    refusal code). Before, that answer came inside the publish, before the publish waited for it, and the
    client never got one. The publishes after it on 5.0 are answered in order."""
    srv = make_server()
    name = unique("full")
    create(srv, name, [f"{name}/#"], max_messages=1, discard="new")
    pub = Paho(srv.mqtt_port, version)
    try:
        first = pub.client.publish(f"{name}/x", "first", qos=1)
        first.wait_for_publish(5)
        assert first.is_published() and pub.accepted(first)
        refused = pub.client.publish(f"{name}/x", "refused: the stream is full", qos=1)
        if version == V311:
            assert pub.disconnected.wait(5), "3.1.1: the connection stays open after a refused publish"
        else:
            refused.wait_for_publish(5)
            assert refused.is_published(), "no PUBACK for the refused publish"
            assert pub.publish_codes[refused.mid] == 0x80, pub.publish_codes[refused.mid]
            other = pub.client.publish(unique("plain/"), "after", qos=1)
            other.wait_for_publish(5)
            assert other.is_published() and pub.accepted(other)
    finally:
        pub.client.disconnect()  # also ends the network thread's wait to reconnect (3.1.1)
        pub.client.loop_stop()
    assert [m["text"] for m in read(srv, name, 0)["messages"]] == ["first"]


def test_stomp_receipts_into_a_stream_survive_kill9(make_server):
    """A STOMP SEND to `/topic/` with a receipt, whose topic a stream captures, is receipted only once the
    stream stored it (stomp.py): after kill -9 every receipted body is in the stream, in order."""
    from stomp_support import Stock

    srv = make_server()
    name = unique("sq")
    create(srv, name, [f"{name}/#"])
    receipted: list[str] = []
    stop = threading.Event()
    producer = Stock(srv, "1.2")

    def publish_until_stopped() -> None:
        i = 0
        try:
            while not stop.is_set():
                producer.send(f"/topic/{name}.x", f"s{i}")  # waits for the RECEIPT
                receipted.append(f"s{i}")
                i += 1
        except Exception:
            return

    kill9_once_answered(srv, publish_until_stopped, stop, receipted)
    kept = [m["text"] for m in read(srv, name, 0)["messages"]]
    assert kept[: len(receipted)] == receipted, "a receipted SEND is missing or out of order"


def test_a_stream_that_refuses_a_receipted_stomp_send_answers_error_with_the_receipt(make_server):
    from stomp_support import Stock

    srv = make_server()
    name = unique("sfull")
    create(srv, name, [f"{name}/#"], max_messages=1, discard="new")
    producer = Stock(srv, "1.2")
    producer.send(f"/topic/{name}.x", "first")
    producer.conn.send(f"/topic/{name}.x", "refused: the stream is full", headers={"receipt": "r-full"})
    error = producer.wait(lambda f: f.command in ("ERROR", "RECEIPT"), desc="ERROR")
    assert error.command == "ERROR" and error.get("receipt-id") == "r-full", error
    assert error.get("message") == "Message rejected", error
    assert [m["text"] for m in read(srv, name, 0)["messages"]] == ["first"]
