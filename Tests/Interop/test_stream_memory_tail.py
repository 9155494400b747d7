"""`file` streams bounded by the disk, not by memory (issue 18, docs/storage.md "Streams"): with
`limits.stream_memory_tail_bytes` of 1 KiB each partition keeps only its newest records' bodies in memory,
and every read older than that — Kafka REST `GET records` from the beginning, the admin API, JetStream
pull consumers from the first sequence, `STREAM.MSG.GET`, a KV bucket's get, history and watch — comes
from the store and equals what was written, before and after a restart (SIGTERM and kill -9). The partition
reports what it keeps in `memory_bytes`.
"""

from __future__ import annotations

import asyncio
import base64
import os
import signal

import nats
import nats.js.api

from interop import run, unique
from test_kafka_rest import BINARY, Kafka, b64

TAIL = {"limits": {"stream_memory_tail_bytes": 1024}}


def memory_bytes(srv, stream: str) -> int:
    return srv.get(f"/api/streams/{stream}").json()["state"]["partitions"][0]["memory_bytes"]


def read_all(kafka: Kafka, topic: str) -> list[tuple[int, str, str]]:
    """Every record of the topic from the beginning, through a new consumer group."""
    group = unique("g")
    name = kafka.consumer(group, format="binary", **{"auto.offset.reset": "earliest"})
    r = kafka.call("POST", kafka.instance(group, name) + "/subscription", {"topics": [topic]})
    assert r.status_code == 204, r.text
    records: list[tuple[int, str, str]] = []
    while True:
        batch = kafka.records(group, name, timeout=200)
        if not batch:
            break
        records += [
            (rec["offset"], base64.b64decode(rec["key"]).decode(), base64.b64decode(rec["value"]).decode())
            for rec in batch
        ]
    kafka.call("DELETE", kafka.instance(group, name))
    return records


def test_kafka_reads_below_the_memory_tail_survive_restarts(make_server):
    srv = make_server(TAIL)
    kafka = Kafka(srv)
    topic = unique("tail")
    written = [(i, f"k{i}", f"value-{i}-" + "x" * (i % 200)) for i in range(2_000)]
    for start in range(0, len(written), 250):
        kafka.produce(topic, [{"key": b64(k), "value": b64(v), "partition": 0} for _, k, v in written[start:start + 250]])
    assert memory_bytes(srv, topic) <= 1024
    assert read_all(kafka, topic) == written
    # The admin API reads the same records, from any offset.
    page = srv.get(f"/api/streams/{topic}/messages?offset=11&limit=3").json()
    assert [m["offset"] for m in page["messages"]] == [11, 12, 13]

    srv.stop()
    srv.start()
    assert memory_bytes(srv, topic) <= 1024
    assert read_all(Kafka(srv), topic) == written
    os.killpg(srv.proc.pid, signal.SIGKILL)
    srv.proc.wait(timeout=10)
    srv.start()
    kafka = Kafka(srv)
    kafka.produce(topic, [{"key": b64("k-late"), "value": b64("late"), "partition": 0}])
    assert read_all(kafka, topic) == written + [(2_000, "k-late", "late")]


def test_jetstream_reads_below_the_memory_tail(make_server):
    srv = make_server(TAIL)

    async def body():
        nc = await nats.connect(srv.nats_url, connect_timeout=3, allow_reconnect=False)
        js = nc.jetstream()
        name = unique("TAIL")
        bucket = unique("kv")
        try:
            await js.add_stream(name=name, subjects=[f"{name}.>"])
            for i in range(1_000):
                await js.publish(f"{name}.s{i % 7}", f"m{i}-".encode() + b"y" * (i % 150), headers={"n": str(i)})
            # A pull consumer from the first sequence: every record, headers included, from the store.
            sub = await js.pull_subscribe(f"{name}.>", durable="all", stream=name)
            seen: list[tuple[str, bytes, str]] = []
            while len(seen) < 1_000:
                for msg in await sub.fetch(200, timeout=5):
                    seen.append((msg.subject, msg.data, msg.headers["n"]))
                    await msg.ack()
            assert seen == [
                (f"{name}.s{i % 7}", f"m{i}-".encode() + b"y" * (i % 150), str(i)) for i in range(1_000)
            ]
            first = await js.get_msg(name, seq=1)
            assert first.data == b"m0-" and first.subject == f"{name}.s0"
            last_s3 = await js.get_msg(name, subject=f"{name}.s3")
            assert last_s3.seq == 998
            # A filtered consumer from the start (the index picks the subjects, the store gives the bodies).
            filtered = await js.pull_subscribe(f"{name}.s5", durable="five", stream=name)
            got = [m.data for m in await filtered.fetch(20, timeout=5)]
            assert got[:3] == [b"m5-" + b"y" * 5, b"m12-" + b"y" * 12, b"m19-" + b"y" * 19]
            assert memory_bytes(srv, name) <= 1024

            kv = await js.create_key_value(bucket=bucket, history=3)
            for i in range(200):
                await kv.put(f"key{i % 40}", f"v{i}-".encode() + b"z" * 100)
            entry = await kv.get("key0")
            assert entry.value == b"v160-" + b"z" * 100
            history = await kv.history("key1")
            assert [e.value.split(b"-")[0] for e in history] == [b"v81", b"v121", b"v161"]
            watcher = await kv.watchall()
            initial = []
            while True:
                update = await watcher.updates(timeout=5)
                if update is None:
                    break
                initial.append((update.key, update.value.split(b"-")[0]))
            await watcher.stop()
            assert sorted(initial) == sorted((f"key{k}", f"v{160 + k}".encode()) for k in range(40))
            # keys() below the memory tail: its push consumer's rounds read the store, and keys() ends at the
            # first "nothing pending" its info says, so a round must be delivered before the info counts it.
            for _ in range(5):
                assert sorted(await kv.keys()) == sorted(f"key{k}" for k in range(40))
            assert memory_bytes(srv, f"KV_{bucket}") <= 1024
        finally:
            await nc.close()

    run(body())
