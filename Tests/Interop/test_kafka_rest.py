"""Kafka REST Proxy v2 (issue 18) with the real binary and `requests`, on the frontend's own port: topics
are streams, produce answers once stored, keys land where Kafka's murmur2 partitioner puts them, consumer
instances balance a group's partitions and rebalance when one leaves, offsets commit and read back,
`GET records` long-polls, errors carry the proxy's codes, and records bridge to and from MQTT (paho-mqtt)
and NATS (nats-py). docs/protocols/kafka-rest.md maps each endpoint and code to these tests.
"""

from __future__ import annotations

import asyncio
import base64
import json
import threading
import time

import nats
import pytest
import requests

from interop import unique
from mqtt_client import V5, Paho
from security_support import ISSUER, JWT_SECRET, hash_password, make_jwt
from test_streams import kill9_once_answered

V2 = "application/vnd.kafka.v2+json"
BINARY = "application/vnd.kafka.binary.v2+json"
JSON = "application/vnd.kafka.json.v2+json"


class Kafka:
    """The proxy's API on one server's `kafka_rest` port."""

    def __init__(self, srv, auth=None) -> None:
        self.url = f"http://127.0.0.1:{srv.ports['kafka_rest']}"
        self.session = requests.Session()
        self.session.trust_env = False
        self.session.auth = auth

    def call(self, method: str, path: str, body=None, content_type: str | None = V2, **headers) -> requests.Response:
        if body is not None and content_type:
            headers["Content-Type"] = content_type
        data = json.dumps(body) if body is not None else None
        return self.session.request(method, self.url + path, data=data, headers=headers, timeout=30)

    def produce(self, topic: str, records: list, content_type: str = BINARY, partition: int | None = None) -> dict:
        path = f"/topics/{topic}" + (f"/partitions/{partition}" if partition is not None else "")
        r = self.call("POST", path, {"records": records}, content_type)
        assert r.status_code == 200, r.text
        return r.json()

    def consumer(self, group: str, **config) -> str:
        r = self.call("POST", f"/consumers/{group}", config)
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["base_uri"].endswith(f"/consumers/{group}/instances/{body['instance_id']}")
        return body["instance_id"]

    def instance(self, group: str, name: str) -> str:
        return f"/consumers/{group}/instances/{name}"

    def records(self, group: str, name: str, timeout: int = 0, accept: str | None = None) -> list:
        headers = {"Accept": accept} if accept else {}
        r = self.call("GET", self.instance(group, name) + f"/records?timeout={timeout}", **headers)
        assert r.status_code == 200, r.text
        return r.json()


def b64(text: str | bytes) -> str:
    return base64.b64encode(text.encode() if isinstance(text, str) else text).decode()


def murmur2(data: bytes) -> int:
    """Kafka's `Utils.murmur2` (signed 32-bit), written out to check the server against."""
    m, r = 0x5BD1E995, 24
    length = len(data)
    h = (0x9747B28C ^ length) & 0xFFFFFFFF
    whole = length - length % 4
    for i in range(0, whole, 4):
        k = int.from_bytes(data[i : i + 4], "little")
        k = (k * m) & 0xFFFFFFFF
        k ^= k >> r
        k = (k * m) & 0xFFFFFFFF
        h = (h * m) & 0xFFFFFFFF
        h ^= k
    tail = length % 4
    if tail == 3:
        h ^= data[whole + 2] << 16
    if tail >= 2:
        h ^= data[whole + 1] << 8
    if tail >= 1:
        h ^= data[whole]
        h = (h * m) & 0xFFFFFFFF
    h ^= h >> 13
    h = (h * m) & 0xFFFFFFFF
    h ^= h >> 15
    return h - (1 << 32) if h >= 1 << 31 else h


def kafka_partition(key: bytes, count: int) -> int:
    return (murmur2(key) & 0x7FFFFFFF) % count


def test_murmur2_known_vectors():
    # Kafka's UtilsTest.testMurmur2.
    assert murmur2(b"21") == -973932308
    assert murmur2(b"foobar") == -790332482
    assert murmur2(b"a-little-bit-long-string") == -985981536
    assert murmur2(b"a-little-bit-longer-string") == -1486304829
    assert murmur2(b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8") == -58897971
    assert murmur2(b"abc") == 479470107


def test_topics_are_streams_and_produce_answers_offsets(make_server):
    srv = make_server({"kafka_rest": {"default_partitions": 2}})
    kafka = Kafka(srv)
    topic = unique("orders") + ".eu"
    answer = kafka.produce(topic, [{"value": b64("one"), "partition": 0}, {"value": b64("two"), "partition": 0}])
    assert answer["key_schema_id"] is None and answer["value_schema_id"] is None
    assert [(o["partition"], o["offset"], o["error_code"], o["error"]) for o in answer["offsets"]] == [
        (0, 0, None, None), (0, 1, None, None)]
    json_answer = kafka.produce(topic, [{"value": {"n": 1}}], JSON, partition=1)
    assert json_answer["offsets"][0]["partition"] == 1

    r = kafka.call("GET", "/topics")
    assert r.status_code == 200 and r.headers["Content-Type"] == V2 and topic in r.json()
    detail = kafka.call("GET", f"/topics/{topic}").json()
    assert detail["name"] == topic and len(detail["partitions"]) == 2
    assert detail["partitions"][0] == {"partition": 0, "leader": 0,
                                       "replicas": [{"broker": 0, "leader": True, "in_sync": True}]}
    assert detail["configs"]["cleanup.policy"] == "delete"
    assert [p["partition"] for p in kafka.call("GET", f"/topics/{topic}/partitions").json()] == [0, 1]
    assert kafka.call("GET", f"/topics/{topic}/partitions/1").json()["partition"] == 1
    offsets = kafka.call("GET", f"/topics/{topic}/partitions/0/offsets").json()
    assert offsets == {"beginning_offset": 0, "end_offset": 2}
    # The same stream through the admin API: it captures the bus topic with / for .
    stream = srv.get(f"/api/streams/{topic}").json()
    assert stream["config"]["filters"] == [topic.replace(".", "/")] or topic.replace(".", "/") in json.dumps(stream)

    assert kafka.call("GET", "/topics/" + unique("none")).json() == {"error_code": 40401, "message": "Topic not found."}
    r = kafka.call("GET", f"/topics/{topic}/partitions/7")
    assert r.status_code == 404 and r.json()["error_code"] == 40402
    r = kafka.call("POST", f"/topics/{topic}/partitions/7", {"records": [{"value": b64("x")}]}, BINARY)
    assert r.status_code == 404 and r.json()["error_code"] == 40402


def test_auto_create_can_be_turned_off(make_server):
    srv = make_server({"kafka_rest": {"auto_create_topics": False}})
    r = Kafka(srv).call("POST", "/topics/" + unique("t"), {"records": [{"value": b64("x")}]}, BINARY)
    assert r.status_code == 404 and r.json()["error_code"] == 40401


def test_keys_land_on_kafkas_partitions(make_server):
    srv = make_server({"kafka_rest": {"default_partitions": 7}})
    kafka = Kafka(srv)
    topic = unique("keyed")
    keys = [b"21", b"foobar", b"user-42", b"a-little-bit-longer-string", b"\x00\xff", b"k" * 37]
    answer = kafka.produce(topic, [{"key": b64(k), "value": b64("v")} for k in keys])
    assert [o["partition"] for o in answer["offsets"]] == [kafka_partition(k, 7) for k in keys]
    assert answer["offsets"][0]["partition"] == 3  # murmur2("21") → 1173551340 % 7
    # JSON keys are partitioned by their JSON text, as the proxy's JSON serializer writes them.
    answer = kafka.produce(topic, [{"key": "abc", "value": 1}], JSON)
    assert answer["offsets"][0]["partition"] == kafka_partition(b'"abc"', 7)


def test_consumer_group_rebalances_between_two_instances(make_server):
    srv = make_server({"kafka_rest": {"default_partitions": 4}})
    kafka = Kafka(srv)
    topic, group = unique("work"), unique("g")
    kafka.produce(topic, [{"value": b64(f"r{p}"), "partition": p} for p in range(4)])
    for name in ("a", "b"):
        assert kafka.consumer(group, name=name, format="binary", **{"auto.offset.reset": "earliest"}) == name
        r = kafka.call("POST", kafka.instance(group, name) + "/subscription", {"topics": [topic]})
        assert r.status_code == 204, r.text
    assert kafka.call("GET", kafka.instance(group, "a") + "/subscription").json() == {"topics": [topic]}

    def held(name: str) -> list[int]:
        r = kafka.call("GET", kafka.instance(group, name) + "/assignments")
        return [p["partition"] for p in r.json()["partitions"]]

    assert held("a") == [0, 1] and held("b") == [2, 3]
    values_a = sorted(base64.b64decode(rec["value"]).decode() for rec in kafka.records(group, "a"))
    values_b = sorted(base64.b64decode(rec["value"]).decode() for rec in kafka.records(group, "b"))
    assert values_a == ["r0", "r1"] and values_b == ["r2", "r3"]
    # b leaves (its reads were auto-committed): a takes its partitions and starts where b stopped.
    assert kafka.call("DELETE", kafka.instance(group, "b")).status_code == 204
    assert held("a") == [0, 1, 2, 3]
    kafka.produce(topic, [{"value": b64("late"), "partition": 3}])
    assert [base64.b64decode(rec["value"]) for rec in kafka.records(group, "a")] == [b"late"]
    assert kafka.call("DELETE", kafka.instance(group, "a") + "/subscription").status_code == 204
    assert kafka.call("GET", kafka.instance(group, "a") + "/subscription").json() == {"topics": []}


def test_idle_instances_expire_and_the_group_rebalances(make_server):
    srv = make_server({"kafka_rest": {"default_partitions": 2, "consumer_instance_timeout_ms": 800}})
    kafka = Kafka(srv)
    topic, group = unique("idle"), unique("g")
    kafka.produce(topic, [{"value": b64("x")}])
    for name in ("a", "b"):
        kafka.consumer(group, name=name)
        kafka.call("POST", kafka.instance(group, name) + "/subscription", {"topic_pattern": topic + ".*"})
    r = kafka.call("GET", kafka.instance(group, "a") + "/assignments")
    assert [p["partition"] for p in r.json()["partitions"]] == [0]
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        time.sleep(0.2)
        r = kafka.call("GET", kafka.instance(group, "a") + "/assignments")  # a stays busy; b goes idle
        if len(r.json()["partitions"]) == 2:
            break
    assert [p["partition"] for p in r.json()["partitions"]] == [0, 1]
    r = kafka.call("GET", kafka.instance(group, "b") + "/records")
    assert r.status_code == 404 and r.json()["error_code"] == 40403


def test_offsets_commit_read_and_seek(server):
    kafka = Kafka(server)
    topic, group = unique("log"), unique("g")
    kafka.produce(topic, [{"value": b64(str(i))} for i in range(3)])
    kafka.consumer(group, name="c", format="binary", **{"auto.offset.reset": "earliest", "auto.commit.enable": "false"})
    partitions = {"partitions": [{"topic": topic, "partition": 0}]}
    assert kafka.call("POST", kafka.instance(group, "c") + "/assignments", partitions).status_code == 204
    assert kafka.call("GET", kafka.instance(group, "c") + "/assignments").json() == partitions
    assert [rec["offset"] for rec in kafka.records(group, "c")] == [0, 1, 2]
    r = kafka.call("GET", kafka.instance(group, "c") + "/offsets", partitions)
    assert r.json() == {"offsets": []}
    r = kafka.call("POST", kafka.instance(group, "c") + "/offsets",
                   {"offsets": [{"topic": topic, "partition": 0, "offset": 1}]})
    assert r.status_code == 200, r.text
    r = kafka.call("GET", kafka.instance(group, "c") + "/offsets", partitions)
    assert r.json() == {"offsets": [{"topic": topic, "partition": 0, "offset": 2, "metadata": ""}]}
    # The admin API sees the same group offset (stream offsets count from 1).
    assert kafka.call("POST", kafka.instance(group, "c") + "/offsets").status_code == 200
    r = kafka.call("GET", kafka.instance(group, "c") + "/offsets", partitions)
    assert r.json()["offsets"][0]["offset"] == 3
    # Seeks.
    kafka.call("POST", kafka.instance(group, "c") + "/positions", {"offsets": [{"topic": topic, "partition": 0, "offset": 1}]})
    assert [rec["offset"] for rec in kafka.records(group, "c")] == [1, 2]
    kafka.call("POST", kafka.instance(group, "c") + "/positions/beginning", partitions)
    assert len(kafka.records(group, "c")) == 3
    kafka.call("POST", kafka.instance(group, "c") + "/positions/end", partitions)
    assert kafka.records(group, "c") == []
    # A second instance of the group starts at the committed offset.
    kafka.consumer(group, name="d")
    kafka.call("POST", kafka.instance(group, "d") + "/assignments", partitions)
    kafka.produce(topic, [{"value": b64("3")}])
    assert [rec["offset"] for rec in kafka.records(group, "d")] == [3]


def test_records_long_poll_until_a_record_arrives(server):
    kafka = Kafka(server)
    topic, group = unique("live"), unique("g")
    kafka.produce(topic, [{"value": {"warm": True}}], JSON)
    kafka.consumer(group, name="c", format="json")
    kafka.call("POST", kafka.instance(group, "c") + "/subscription", {"topics": [topic]})
    started = time.monotonic()
    assert kafka.records(group, "c", timeout=300) == []  # latest: nothing yet, after the timeout
    assert time.monotonic() - started >= 0.25
    timer = threading.Timer(0.5, lambda: kafka.produce(topic, [{"key": "k", "value": {"n": 1}}], JSON))
    timer.start()
    started = time.monotonic()
    records = kafka.records(group, "c", timeout=10000, accept=JSON)
    elapsed = time.monotonic() - started
    timer.join()
    assert [(r["key"], r["value"], r["offset"]) for r in records] == [("k", {"n": 1}, 1)]
    assert 0.3 < elapsed < 5


def test_max_bytes_bounds_the_records_answer(server):
    kafka = Kafka(server)
    topic, group = unique("sized"), unique("g")
    values = [f"{i:02d}".encode() * 50 for i in range(10)]  # 100 bytes each
    kafka.produce(topic, [{"value": b64(v)} for v in values])
    kafka.consumer(group, name="c", format="binary", **{"auto.offset.reset": "earliest"})
    kafka.call("POST", kafka.instance(group, "c") + "/subscription", {"topics": [topic]})
    batches = []
    while sum(len(b) for b in batches) < len(values):
        r = kafka.call("GET", kafka.instance(group, "c") + "/records?timeout=2000&max_bytes=250")
        assert r.status_code == 200, r.text
        batch = [base64.b64decode(rec["value"]) for rec in r.json()]
        assert batch, "a record was left unread"
        batches.append(batch)
    # 250 bytes take two records of 100; the next answer starts where the last stopped.
    assert [len(b) for b in batches] == [2, 2, 2, 2, 2]
    assert [v for b in batches for v in b] == values
    # The first record always goes, however small the bound; no bound: the rest at once.
    kafka.produce(topic, [{"value": b64(v)} for v in values[:3]])
    r = kafka.call("GET", kafka.instance(group, "c") + "/records?timeout=2000&max_bytes=1")
    assert [base64.b64decode(rec["value"]) for rec in r.json()] == values[:1]
    assert [base64.b64decode(rec["value"]) for rec in kafka.records(group, "c", timeout=2000)] == values[1:3]


def test_fetch_min_bytes_holds_records_until_enough_arrived(server):
    kafka = Kafka(server)
    topic, group = unique("minbytes"), unique("g")
    kafka.produce(topic, [{"value": b64("warm")}])
    kafka.consumer(group, name="c", format="binary", **{"fetch.min.bytes": "300"})
    kafka.call("POST", kafka.instance(group, "c") + "/subscription", {"topics": [topic]})
    assert kafka.records(group, "c", timeout=200) == []  # positioned at the end (latest)
    kafka.produce(topic, [{"value": b64(b"a" * 100)}])
    # 100 of 300 bytes: held until the timeout, then answered with what there is.
    started = time.monotonic()
    first = kafka.records(group, "c", timeout=1200)
    elapsed = time.monotonic() - started
    assert [base64.b64decode(rec["value"]) for rec in first] == [b"a" * 100]
    assert 1.0 < elapsed < 5, elapsed
    # 150 now, 200 more after half a second: answered once the 300 are there, long before the timeout.
    kafka.produce(topic, [{"value": b64(b"b" * 150)}])
    timer = threading.Timer(0.6, lambda: kafka.produce(topic, [{"value": b64(b"c" * 200)}]))
    timer.start()
    started = time.monotonic()
    second = kafka.records(group, "c", timeout=20000)
    elapsed = time.monotonic() - started
    timer.join()
    assert [base64.b64decode(rec["value"]) for rec in second] == [b"b" * 150, b"c" * 200]
    assert 0.5 < elapsed < 10, elapsed


def test_consumer_request_timeout_ms_is_the_instances_default_records_timeout(server):
    kafka = Kafka(server)
    topic, group = unique("quiet"), unique("g")
    kafka.produce(topic, [{"value": b64("x")}])
    for name, timeout_ms in (("slow", "1500"), ("quick", 100)):
        kafka.consumer(group, name=name, format="binary", **{"consumer.request.timeout.ms": timeout_ms})
        r = kafka.call("POST", kafka.instance(group, name) + "/assignments",
                       {"partitions": [{"topic": topic, "partition": 0}]})
        assert r.status_code == 204, r.text

    def empty_get(name: str, query: str = "") -> float:
        started = time.monotonic()
        r = kafka.call("GET", kafka.instance(group, name) + "/records" + query)
        assert r.status_code == 200 and r.json() == [], r.text
        return time.monotonic() - started

    assert 1.4 < empty_get("slow") < 4  # nothing to read (latest): held for the instance's 1500 ms
    assert empty_get("quick") < 1.0  # 100 ms, well under the server's default of 1000
    assert empty_get("slow", "?timeout=100") < 1.0  # the request's own timeout wins


def test_a_member_joining_takes_half_of_the_partitions(make_server):
    srv = make_server({"kafka_rest": {"default_partitions": 4}})
    kafka = Kafka(srv)
    topic, group = unique("join"), unique("g")

    def held(name: str) -> list[int]:
        r = kafka.call("GET", kafka.instance(group, name) + "/assignments")
        assert r.status_code == 200, r.text
        return sorted(p["partition"] for p in r.json()["partitions"])

    def drain(name: str) -> list[tuple[int, str]]:
        got = []
        while batch := kafka.records(name=name, group=group, timeout=300):
            got += [(rec["partition"], base64.b64decode(rec["value"]).decode()) for rec in batch]
        return got

    kafka.produce(topic, [{"value": b64(f"early-{p}"), "partition": p} for p in range(4)])
    kafka.consumer(group, name="a", format="binary", **{"auto.offset.reset": "earliest"})
    kafka.call("POST", kafka.instance(group, "a") + "/subscription", {"topics": [topic]})
    assert held("a") == [0, 1, 2, 3]  # alone: every partition
    assert sorted(drain("a")) == [(p, f"early-{p}") for p in range(4)]

    kafka.consumer(group, name="b", format="binary", **{"auto.offset.reset": "earliest"})
    kafka.call("POST", kafka.instance(group, "b") + "/subscription", {"topics": [topic]})
    # a's next request sees the rebalance: half of the partitions went to b.
    assert held("a") == [0, 1] and held("b") == [2, 3]
    sent = [(p, f"late-{p}-{i}") for i in range(3) for p in range(4)]
    kafka.produce(topic, [{"value": b64(v), "partition": p} for p, v in sent])
    got_a, got_b = [], []
    deadline = time.monotonic() + 10
    while len(got_a) + len(got_b) < len(sent) and time.monotonic() < deadline:
        got_a += drain("a")
        got_b += drain("b")
    # Both poll, each reads only its own partitions, and no record is served twice: b starts where a's
    # auto-committed reads stopped, so it gets none of the early records again.
    assert {p for p, _ in got_a} == {0, 1} and {p for p, _ in got_b} == {2, 3}
    assert sorted(got_a + got_b) == sorted(sent)
    assert len(got_a) + len(got_b) == len(set(got_a + got_b))


def test_a_record_reaches_a_nats_subscriber_of_its_topic(make_server):
    """docs/topics.md: the Kafka topic `a.b` is the stream capturing the bus topic `a/b`, which NATS spells
    `a.b`; a record's value is the message's payload."""
    srv = make_server()
    kafka = Kafka(srv)

    async def body() -> None:
        nc = await nats.connect(srv.nats_url, allow_reconnect=False)
        sub = await nc.subscribe("a.b")
        wild = await nc.subscribe("a.*")
        await nc.flush()
        answer = await asyncio.to_thread(kafka.produce, "a.b", [{"value": b64(b"\x00from kafka\xff")}])
        assert answer["offsets"][0]["offset"] == 0
        await asyncio.to_thread(kafka.produce, "a.b", [{"value": {"n": 2}}], JSON)
        for subscription in (sub, wild):
            first = await subscription.next_msg(timeout=5)
            second = await subscription.next_msg(timeout=5)
            assert (first.subject, first.data) == ("a.b", b"\x00from kafka\xff")
            assert (second.subject, json.loads(second.data)) == ("a.b", {"n": 2})
        await nc.close()

    asyncio.run(body())


def test_error_codes(server):
    kafka = Kafka(server)
    topic, group = unique("err"), unique("g")
    kafka.produce(topic, [{"value": b64("x")}])
    r = kafka.call("POST", f"/topics/{topic}", {"records": [{"value": 1}]}, "application/json")
    assert r.status_code == 415 and r.json()["error_code"] == 415
    r = kafka.call("GET", "/topics", Accept="text/html")
    assert r.status_code == 406 and r.json()["error_code"] == 406
    r = kafka.call("GET", "/topics", Accept="application/vnd.kafka+json")
    assert r.headers["Content-Type"] == "application/vnd.kafka+json"
    r = kafka.session.post(kafka.url + f"/topics/{topic}", data="{nope", headers={"Content-Type": JSON})
    assert r.status_code == 400 and r.json()["error_code"] == 400
    r = kafka.call("POST", f"/topics/{topic}", {"nothing": []}, JSON)
    assert r.status_code == 422 and r.json()["error_code"] == 422
    r = kafka.call("POST", f"/consumers/{group}", {"auto.offset.reset": "sometimes"})
    assert r.status_code == 422 and r.json()["error_code"] == 42204
    kafka.consumer(group, name="c", format="binary")
    r = kafka.call("POST", f"/consumers/{group}", {"name": "c"})
    assert r.status_code == 409 and r.json()["error_code"] == 40902
    r = kafka.call("GET", kafka.instance(group, "nobody") + "/records")
    assert r.status_code == 404 and r.json()["error_code"] == 40403
    r = kafka.call("GET", kafka.instance(group, "c") + "/records", Accept=JSON)
    assert r.status_code == 406 and r.json()["error_code"] == 40601
    kafka.call("POST", kafka.instance(group, "c") + "/assignments", {"partitions": [{"topic": topic, "partition": 0}]})
    r = kafka.call("POST", kafka.instance(group, "c") + "/subscription", {"topics": [topic]})
    assert r.status_code == 409 and r.json()["error_code"] == 40903
    r = kafka.call("POST", kafka.instance(group, "c") + "/positions",
                   {"offsets": [{"topic": topic + "x", "partition": 0, "offset": 0}]})
    assert r.status_code == 409 and r.json()["error_code"] == 40903
    # An embedded schema that does not parse: 42205 (the schema formats are in test_kafka_rest_schemas.py).
    r = kafka.call("POST", f"/topics/{topic}", {"value_schema": '{"type":"nope"}', "records": [{"value": "v"}]},
                   "application/vnd.kafka.avro.v2+json")
    assert r.status_code == 422 and r.json()["error_code"] == 42205, r.text


def test_records_bridge_to_and_from_mqtt_and_nats(server):
    kafka = Kafka(server)
    base = unique("bridge")
    topic = f"{base}.sensors"
    kafka.produce(topic, [{"value": b64("warm")}])  # create the stream
    sub = Paho(server.mqtt_port, V5)
    sub.subscribe(f"{base}/sensors")
    # Kafka REST → MQTT: a produced record is published on the bus topic.
    kafka.produce(topic, [{"value": b64("from-kafka")}])
    message = sub.get()
    assert (message.topic, message.payload) == (f"{base}/sensors", b"from-kafka")
    # MQTT and NATS → Kafka REST: publishes on the bus topic are records of the stream.
    kafka.consumer(base, name="c", format="binary", **{"auto.offset.reset": "earliest"})
    kafka.call("POST", kafka.instance(base, "c") + "/subscription", {"topics": [topic]})
    pub = Paho(server.mqtt_port, V5)
    pub.publish(f"{base}/sensors", b"from-mqtt", qos=1)

    async def nats_publish() -> None:
        nc = await nats.connect(server.nats_url, allow_reconnect=False)
        await nc.publish(topic, b"from-nats")
        await nc.flush()
        await nc.close()

    asyncio.run(nats_publish())
    values: list[bytes] = []
    deadline = time.monotonic() + 10
    while len(values) < 4 and time.monotonic() < deadline:
        values += [base64.b64decode(rec["value"]) for rec in kafka.records(base, "c", timeout=1000)]
    assert values == [b"warm", b"from-kafka", b"from-mqtt", b"from-nats"]
    sub.disconnect()
    pub.disconnect()


def test_credentials_and_topic_permissions(make_server):
    password = "alice-password"
    srv = make_server({"security": {
        "users": [{"name": "alice", "password_hash": hash_password(password),
                   "publish": ["users/{user}/#"], "subscribe": ["users/{user}/#"]}],
        "jwt": {"keys": [{"alg": "HS256", "secret": JWT_SECRET}], "issuer": ISSUER}}})
    anonymous = Kafka(srv)
    r = anonymous.call("GET", "/topics")
    assert r.status_code == 401 and r.json()["error_code"] == 40101
    alice = Kafka(srv, auth=("alice", password))
    answer = alice.produce("users.alice.inbox", [{"value": b64("hi")}])
    assert answer["offsets"][0]["offset"] == 0
    r = alice.call("POST", "/topics/users.bob.inbox", {"records": [{"value": b64("x")}]}, BINARY)
    assert r.status_code == 403 and r.json()["error_code"] == 40301
    assert alice.call("GET", "/topics").json() == ["users.alice.inbox"]
    wrong = Kafka(srv, auth=("alice", "wrong"))
    assert wrong.call("GET", "/topics").status_code == 401
    group = unique("g")
    alice.consumer(group, name="c")
    r = alice.call("POST", alice.instance(group, "c") + "/subscription", {"topics": ["users.bob.inbox"]})
    assert r.status_code == 403 and r.json()["error_code"] == 40301
    # Another user does not see alice's instance.
    token = make_jwt("device-7", grants={"pub": ["devices/{user}/#"], "sub": ["devices/{user}/#"]})
    device = Kafka(srv)
    device.session.headers["Authorization"] = f"Bearer {token}"
    r = device.call("GET", alice.instance(group, "c") + "/subscription")
    assert r.status_code == 404 and r.json()["error_code"] == 40403
    # A bearer token (JWT) with claim grants: its own topic, not alice's.
    assert device.produce("devices.device-7.temp", [{"value": b64("21.5")}])["offsets"][0]["offset"] == 0
    r = device.call("POST", "/topics/users.alice.inbox", {"records": [{"value": b64("x")}]}, BINARY)
    assert r.status_code == 403 and r.json()["error_code"] == 40301
    expired = Kafka(srv)
    expired.session.headers["Authorization"] = f"Bearer {make_jwt('d', expires_in=-10)}"
    assert expired.call("GET", "/topics").json()["error_code"] == 40101


def test_every_answered_produce_and_commit_survives_kill9(make_server):
    srv = make_server({"kafka_rest": {"default_partitions": 2}})
    kafka = Kafka(srv)
    topic, group = unique("k9"), unique("g")
    kafka.produce(topic, [{"value": b64("first"), "partition": 0}])
    kafka.consumer(group, name="c", **{"auto.commit.enable": "false"})
    assert kafka.call("POST", kafka.instance(group, "c") + "/offsets",
                      {"offsets": [{"topic": topic, "partition": 0, "offset": 0}]}).status_code == 200
    acknowledged: list[tuple[int, int, str]] = []
    stop = threading.Event()

    def produce_until_stopped() -> None:
        i = 0
        while not stop.is_set():
            value = f"m{i}"
            try:
                r = kafka.session.post(kafka.url + f"/topics/{topic}", timeout=2, headers={"Content-Type": BINARY},
                                       data=json.dumps({"records": [{"key": b64(f"k{i % 7}"), "value": b64(value)}]}))
            except Exception:
                return
            if r.status_code == 200:
                offset = r.json()["offsets"][0]
                acknowledged.append((offset["partition"], offset["offset"], value))
            i += 1

    kill9_once_answered(srv, produce_until_stopped, stop, acknowledged)
    reader = Kafka(srv)
    partitions = {"partitions": [{"topic": topic, "partition": p} for p in (0, 1)]}
    # The commit made before the kill is still there (the stream group offsets are stored).
    reader.consumer(group, name="after", format="binary", **{"auto.commit.enable": "false"})
    r = reader.call("GET", reader.instance(group, "after") + "/offsets", partitions)
    assert r.json()["offsets"] == [{"topic": topic, "partition": 0, "offset": 1, "metadata": ""}]
    reader.call("POST", reader.instance(group, "after") + "/assignments", partitions)
    reader.call("POST", reader.instance(group, "after") + "/positions/beginning", partitions)
    kept: dict[tuple[int, int], str] = {}
    while True:
        batch = reader.records(group, "after", timeout=200)
        if not batch:
            break
        for rec in batch:
            kept[(rec["partition"], rec["offset"])] = base64.b64decode(rec["value"]).decode()
    missing = [a for a in acknowledged if kept.get((a[0], a[1])) != a[2]]
    assert not missing, f"{len(missing)} answered records lost, first {missing[:5]}"
    # Keys kept their partitions: every answered record of one key sits in one partition.
    assert all(p == kafka_partition(f"k{int(v[1:]) % 7}".encode(), 2) for (p, _, v) in acknowledged)
