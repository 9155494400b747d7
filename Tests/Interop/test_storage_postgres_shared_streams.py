"""Streams across several instances on one PostgreSQL database (issue 24, `shared_instances=true`;
docs/storage.md "Streams are shared"), with requests (Kafka REST) and nats-py (JetStream) against two
`switchboard serve` processes started before any stream exists:

- a stream created, changed or deleted on one instance is known on the other (every stream write
  announces itself; the other reads the stream fresh);
- a partition is appended to by one instance at a time (its writer claim): producing on both numbers the
  records once — every offset unique, none lost — and each instance's readers get the other's records.
"""

from __future__ import annotations

import asyncio
import threading
import time

import nats
from nats.js import api
from nats.js.errors import NotFoundError

from interop import run, unique
from mqtt_client import V5, Paho
from test_kafka_rest import Kafka, b64
from test_storage_crash import kill9
from test_storage_postgres import PostgresServer, postgres  # noqa: F401  (the fixture)
from test_storage_postgres_shared import shared

TIMEOUT = 5.0


def eventually(check, timeout: float = 10.0):
    """`check()`'s first truthy value within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.05)


def read_all(kafka: Kafka, group: str, name: str, count: int) -> list:
    got: list = []
    deadline = time.monotonic() + 15
    while len(got) < count and time.monotonic() < deadline:
        got += kafka.records(group, name, timeout=500)
    return got


def offsets_of(result: dict) -> list[int]:
    for entry in result["offsets"]:
        assert entry.get("error_code") is None, result
    return [entry["offset"] for entry in result["offsets"]]


def test_a_topic_produced_on_a_is_listed_and_consumed_on_b_and_both_produce_once(make_server, postgres):  # noqa: F811
    a, b = shared(make_server, postgres)
    on_a, on_b = Kafka(a), Kafka(b)
    topic = unique("shared-topic")
    produced = on_a.produce(topic, [{"value": b64(f"a{i}")} for i in range(5)], partition=0)
    assert offsets_of(produced) == [0, 1, 2, 3, 4]
    # Auto-created on A after B started: listed on B.
    assert eventually(lambda: topic in on_b.call("GET", "/topics").json()), on_b.call("GET", "/topics").text

    config = {"format": "binary", "auto.offset.reset": "earliest"}
    group = unique("group")
    on_b.consumer(group, name="reader", **config)
    partitions = {"partitions": [{"topic": topic, "partition": 0}]}
    assert on_b.call("POST", on_b.instance(group, "reader") + "/assignments", partitions).status_code == 204
    got = read_all(on_b, group, "reader", 5)
    assert [(r["offset"], r["value"]) for r in got] == [(i, b64(f"a{i}")) for i in range(5)]

    # B takes the partition over after reading its tail fresh: offsets continue.
    assert offsets_of(on_b.produce(topic, [{"value": b64(f"b{i}")} for i in range(3)], partition=0)) == [5, 6, 7]
    assert offsets_of(on_a.produce(topic, [{"value": b64("a5")}], partition=0)) == [8]

    # Both at once, one record a request: every record gets its own offset, none is lost. Each produce
    # takes the partition's claim from the other instance; one not had in 2 s (a loaded machine: seen once
    # with the interop files in parallel) is refused with 50002 "try again" and nothing stored
    # (docs/protocols/kafka-rest.md), so the producer sends that record again, as a client would.
    results: dict[str, list] = {"a": [], "b": []}
    errors: list = []

    def produce_once(kafka: Kafka, value: str) -> int:
        for _ in range(10):
            answer = kafka.produce(topic, [{"value": value}], partition=0)
            if answer["offsets"][0].get("error_code") != 50002:
                return offsets_of(answer)[0]
        raise AssertionError(f"{value} refused ten times: {answer}")

    def producer(kafka: Kafka, tag: str):
        try:
            for i in range(15):
                value = b64(f"{tag}-{i}")
                results[tag].append((produce_once(kafka, value), value))
        except BaseException as error:  # noqa: BLE001  (reported below)
            errors.append(error)

    threads = [threading.Thread(target=producer, args=(kafka, tag)) for kafka, tag in ((on_a, "a"), (on_b, "b"))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors, errors
    produced = results["a"] + results["b"]
    assert len(produced) == 30
    assert sorted(offset for offset, _ in produced) == list(range(9, 39))

    # B's reader follows A's records (notification, fresh read): all 39, each once, as produced.
    rest = read_all(on_b, group, "reader", 34)
    assert [r["offset"] for r in rest] == list(range(5, 39))
    expected = {offset: value for offset, value in produced}
    for record in rest[4:]:
        assert record["value"] == expected[record["offset"]]
    # And a reader on A sees the same log.
    group_a = unique("group")
    on_a.consumer(group_a, name="reader", **config)
    assert on_a.call("POST", on_a.instance(group_a, "reader") + "/assignments", partitions).status_code == 204
    on_a_records = read_all(on_a, group_a, "reader", 39)
    assert [(r["offset"], r["value"]) for r in on_a_records] == [(r["offset"], r["value"]) for r in got + rest]


def test_an_mqtt_publish_a_stream_captures_waits_for_the_partitions_claim_on_either_instance(
    make_server, postgres  # noqa: F811
):
    """A publish a `file` stream captures, on an instance that does not hold the partition's writer claim
    (the other one wrote it last, or nobody has since start), waits for the claim and is stored at the next
    offset: its MQTT 5 PUBACK is a success, never the refusal 0x80 it was before."""
    a, b = shared(make_server, postgres)
    on_a, on_b = Kafka(a), Kafka(b)
    topic = unique("captured")
    assert offsets_of(on_a.produce(topic, [{"value": b64("k0")}], partition=0)) == [0]
    assert eventually(lambda: topic in on_b.call("GET", "/topics").json()), on_b.call("GET", "/topics").text

    publishers = {"a": Paho(a.mqtt_port, V5), "b": Paho(b.mqtt_port, V5)}
    sent = []
    try:
        # The first publish on B after its start, then the claim passing back and forth each time.
        for i in range(6):
            tag = "b" if i % 2 == 0 else "a"
            paho = publishers[tag]
            info = paho.client.publish(topic, f"{tag}{i}", qos=1)
            info.wait_for_publish(TIMEOUT)
            assert info.is_published(), f"publish {i} on {tag} not acknowledged"
            assert paho.accepted(info), f"publish {i} on {tag} refused: {paho.publish_codes.get(info.mid)}"
            sent.append(f"{tag}{i}")
    finally:
        for paho in publishers.values():
            paho.disconnect()

    # Each stored once, in order, at the offsets after the produce's: on both instances' readers.
    config = {"format": "binary", "auto.offset.reset": "earliest"}
    partitions = {"partitions": [{"topic": topic, "partition": 0}]}
    for kafka in (on_a, on_b):
        group = unique("group")
        kafka.consumer(group, name="reader", **config)
        assert kafka.call("POST", kafka.instance(group, "reader") + "/assignments", partitions).status_code == 204
        got = read_all(kafka, group, "reader", 7)
        assert [(r["offset"], r["value"]) for r in got] == [(0, b64("k0"))] + [
            (i + 1, b64(value)) for i, value in enumerate(sent)
        ]


async def connect(server):
    return await nats.connect(server.nats_url, connect_timeout=3, allow_reconnect=False)


def test_a_jetstream_stream_is_created_written_and_deleted_across_instances(make_server, postgres):  # noqa: F811
    a, b = shared(make_server, postgres)
    name = unique("JS").replace("-", "_")

    async def body():
        na, nb = await connect(a), await connect(b)
        ja, jb = na.jetstream(), nb.jetstream()
        await ja.add_stream(name=name, subjects=[f"{name}.>"])

        async def known_on_b():
            deadline = time.monotonic() + 10
            while True:
                try:
                    return await jb.stream_info(name)
                except NotFoundError:
                    if time.monotonic() > deadline:
                        raise
                    await asyncio.sleep(0.05)

        info = await known_on_b()
        assert info.config.subjects == [f"{name}.>"]

        # Published on A and on B alternately: one sequence, each number once.
        seqs = []
        for i in range(10):
            seqs.append((await ja.publish(f"{name}.a", f"a{i}".encode())).seq)
            seqs.append((await jb.publish(f"{name}.b", f"b{i}".encode())).seq)
        assert seqs == list(range(1, 21))

        async def state(js):
            deadline = time.monotonic() + 10
            while True:
                info = await js.stream_info(name)
                if info.state.messages == 20 or time.monotonic() > deadline:
                    return info.state
                await asyncio.sleep(0.05)

        for js in (ja, jb):
            s = await state(js)
            assert (s.messages, s.first_seq, s.last_seq) == (20, 1, 20)

        # A pull consumer on either instance sees every message once.
        expected = [f"{side}{i}".encode() for i in range(10) for side in "ab"]
        for js, durable in ((jb, "on_b"), (ja, "on_a")):
            await js.add_consumer(name, config=api.ConsumerConfig(durable_name=durable, ack_policy="explicit"))
            sub = await js.pull_subscribe_bind(durable, stream=name)
            got = []
            while len(got) < 20:
                batch = await sub.fetch(20 - len(got), timeout=TIMEOUT)
                for m in batch:
                    await m.ack()
                got += batch
            assert [m.data for m in got] == expected
            assert [m.metadata.sequence.stream for m in got] == list(range(1, 21))

        # Deleted on A: 10059 on B.
        await ja.delete_stream(name)
        deadline = time.monotonic() + 10
        while True:
            try:
                await jb.stream_info(name)
            except NotFoundError as error:
                assert error.err_code == 10059
                break
            assert time.monotonic() < deadline, "still known on B"
            await asyncio.sleep(0.05)
        await na.close()
        await nb.close()

    run(body(), timeout=60)


def test_a_stream_changed_purged_or_deleted_on_a_is_so_on_b(make_server, postgres):  # noqa: F811
    a, b = shared(make_server, postgres)
    on_a, on_b = Kafka(a), Kafka(b)
    topic = unique("changed")
    on_a.produce(topic, [{"value": b64(str(i))} for i in range(6)], partition=0)
    path = f"/api/streams/{topic}"

    def state_on_b():
        r = b.get(path)
        return r.json()["state"] if r.status_code == 200 else None

    assert eventually(lambda: (state_on_b() or {}).get("messages") == 6), state_on_b()
    # New limits on A: B's copy drops what they no longer allow.
    r = a.http("PATCH", path, json={"max_messages": 4})
    assert r.status_code == 200, r.text
    assert eventually(lambda: state_on_b()["messages"] == 4), state_on_b()
    assert b.get(path).json()["config"]["max_messages"] == 4, b.get(path).text
    # Purged on A: empty on B, offsets kept.
    assert a.post(f"{path}/purge", json={}).status_code == 200
    assert eventually(lambda: state_on_b()["messages"] == 0), state_on_b()
    assert state_on_b()["partitions"][0]["last_offset"] == 6
    # Deleted on A: 404 on B, for the API and the proxy.
    assert a.http("DELETE", path).status_code == 204
    assert eventually(lambda: b.get(path).status_code == 404)
    assert on_b.call("GET", f"/topics/{topic}").status_code == 404


def test_after_kill9_of_the_writer_the_other_continues_its_offsets(make_server, postgres):  # noqa: F811
    """The writer dies holding the partition's claim: the database lets go of it with its connection, and
    the other instance, reading the tail fresh, continues after every record the dead one acknowledged."""
    a, b = shared(make_server, postgres)
    on_a, on_b = Kafka(a), Kafka(b)
    topic = unique("orphaned")
    acknowledged = []
    for i in range(10):
        acknowledged += offsets_of(on_a.produce(topic, [{"value": b64(f"a{i}")}], partition=0))
    assert acknowledged == list(range(10))
    kill9(a)
    assert eventually(lambda: topic in on_b.call("GET", "/topics").json())
    produced = on_b.produce(topic, [{"value": b64(f"b{i}")} for i in range(5)], partition=0)
    assert offsets_of(produced) == [10, 11, 12, 13, 14]
    group = unique("group")
    on_b.consumer(group, name="reader", format="binary", **{"auto.offset.reset": "earliest"})
    partitions = {"partitions": [{"topic": topic, "partition": 0}]}
    assert on_b.call("POST", on_b.instance(group, "reader") + "/assignments", partitions).status_code == 204
    got = read_all(on_b, group, "reader", 15)
    assert [(r["offset"], r["value"]) for r in got] == [(i, b64(f"a{i}")) for i in range(10)] + [
        (10 + i, b64(f"b{i}")) for i in range(5)
    ]
