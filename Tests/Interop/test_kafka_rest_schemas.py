"""Kafka REST's schema formats on the server's own Schema Registry (issue 18): `avro.v2`, `jsonschema.v2`
and `protobuf.v2` produce registers the embedded schema under `<topic>-value` (or uses
`value_schema_id`), validates each record, and stores Confluent's wire format (magic byte + id + payload),
which fastavro reads back from the stream; a consumer instance of the same format gets the JSON values
back; an incompatible schema is refused with 409; and records cross to WebSocket subscribers and back."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import struct
import time

import fastavro
import requests

from interop import run, unique, ws_clients
from test_kafka_rest import JSON, Kafka

AVRO = "application/vnd.kafka.avro.v2+json"
JSONSCHEMA = "application/vnd.kafka.jsonschema.v2+json"
PROTOBUF = "application/vnd.kafka.protobuf.v2+json"

READING = json.dumps({
    "type": "record", "name": "Reading", "namespace": "sensors",
    "fields": [{"name": "sensor", "type": "string"}, {"name": "celsius", "type": "double"}],
})


def registry(server, path: str) -> dict:
    r = requests.get(f"http://127.0.0.1:{server.ports['schema_registry']}{path}", timeout=10)
    assert r.status_code == 200, r.text
    return r.json()


def stored(server, topic: str) -> list[bytes]:
    """The raw payloads the topic's stream keeps (as the MQTT bridge would deliver them)."""
    r = server.get(f"/api/streams/{topic}/messages", params={"partition": 0, "limit": 1000})
    assert r.status_code == 200, r.text
    out = []
    for m in r.json()["messages"]:
        out.append(base64.b64decode(m["binary"]) if "binary" in m else (m.get("text") or json.dumps(m.get("data"))).encode())
    return out


def consume_all(kafka: Kafka, group: str, fmt: str, topic: str, count: int, accept: str) -> list:
    kafka.consumer(group, name="c", format=fmt, **{"auto.offset.reset": "earliest"})
    r = kafka.call("POST", kafka.instance(group, "c") + "/subscription", {"topics": [topic]})
    assert r.status_code == 204, r.text
    records: list = []
    deadline = time.monotonic() + 10
    while len(records) < count and time.monotonic() < deadline:
        records += kafka.records(group, "c", timeout=1000, accept=accept)
    return records


def test_avro_produce_registers_stores_confluent_frames_and_consumes_as_json(server):
    kafka = Kafka(server)
    topic = unique("avro")
    values = [{"sensor": "a", "celsius": 21.5}, {"sensor": "b", "celsius": -3.25}]
    r = kafka.call("POST", f"/topics/{topic}", {"value_schema": READING, "records": [{"value": v} for v in values]}, AVRO)
    assert r.status_code == 200, r.text
    answer = r.json()
    schema_id = answer["value_schema_id"]
    assert isinstance(schema_id, int) and answer["key_schema_id"] is None, answer
    assert [o["offset"] for o in answer["offsets"]] == [0, 1], answer
    # Registered under <topic>-value, as Confluent's proxy does.
    latest = registry(server, f"/subjects/{topic}-value/versions/latest")
    assert latest["id"] == schema_id and json.loads(latest["schema"])["name"] == "Reading"
    # The stream holds Confluent's wire format, which fastavro decodes with the registered schema.
    parsed = fastavro.parse_schema(json.loads(registry(server, f"/schemas/ids/{schema_id}")["schema"]))
    frames = stored(server, topic)
    assert len(frames) == 2
    for frame, value in zip(frames, values):
        assert frame[0] == 0 and struct.unpack(">I", frame[1:5])[0] == schema_id
        assert fastavro.schemaless_reader(io.BytesIO(frame[5:]), parsed) == value
    # By id, then read back as JSON by an avro consumer.
    r = kafka.call("POST", f"/topics/{topic}", {"value_schema_id": schema_id,
                                                "records": [{"value": {"sensor": "c", "celsius": 0.0}}]}, AVRO)
    assert r.status_code == 200 and r.json()["value_schema_id"] == schema_id, r.text
    records = consume_all(kafka, unique("g"), "avro", topic, 3, AVRO)
    assert [rec["value"] for rec in records] == values + [{"sensor": "c", "celsius": 0.0}]
    # A record that does not fit: 42203; an incompatible new schema (BACKWARD): 409.
    r = kafka.call("POST", f"/topics/{topic}", {"value_schema_id": schema_id, "records": [{"value": {"sensor": 1}}]},
                   AVRO)
    assert r.status_code == 422 and r.json()["error_code"] == 42203, r.text
    breaking = json.dumps({"type": "record", "name": "Reading", "namespace": "sensors",
                           "fields": [{"name": "sensor", "type": "string"}, {"name": "humidity", "type": "int"}]})
    r = kafka.call("POST", f"/topics/{topic}", {"value_schema": breaking, "records": [{"value": {"sensor": "x",
                                                                                             "humidity": 4}}]}, AVRO)
    assert r.status_code == 409 and r.json()["error_code"] == 409, r.text


def test_jsonschema_and_protobuf_formats_round_trip(server):
    kafka = Kafka(server)
    topic = unique("js")
    schema = json.dumps({"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]})
    r = kafka.call("POST", f"/topics/{topic}", {"value_schema": schema, "records": [{"value": {"n": 1}}]}, JSONSCHEMA)
    assert r.status_code == 200, r.text
    bad = kafka.call("POST", f"/topics/{topic}", {"value_schema": schema, "records": [{"value": {"n": "one"}}]},
                     JSONSCHEMA)
    assert bad.status_code == 422 and bad.json()["error_code"] == 42203, bad.text
    assert [rec["value"] for rec in consume_all(kafka, unique("g"), "jsonschema", topic, 1, JSONSCHEMA)] == [{"n": 1}]

    topic = unique("pb")
    proto = 'syntax = "proto3";\nmessage Reading {\n  string sensor = 1;\n  int32 tenths = 2;\n}\n'
    r = kafka.call("POST", f"/topics/{topic}", {"value_schema": proto,
                                                "records": [{"value": {"sensor": "a", "tenths": 215}}]}, PROTOBUF)
    assert r.status_code == 200, r.text
    frame = stored(server, topic)[0]
    # magic, id, message index [0] (one zero byte), then protobuf: field 1 (0x0a) "a", field 2 (0x10) 215.
    assert frame[0] == 0 and frame[5] == 0 and frame[6:] == b"\x0a\x01a\x10\xd7\x01", frame
    records = consume_all(kafka, unique("g"), "protobuf", topic, 1, PROTOBUF)
    assert [rec["value"] for rec in records] == [{"sensor": "a", "tenths": 215}]


def test_json_records_cross_to_websocket_and_back(server):
    kafka = Kafka(server)
    base = unique("wsk")
    topic = f"{base}.events"
    kafka.produce(topic, [{"value": {"warm": True}}], JSON)

    async def body():
        async with ws_clients(server.ws_url) as ws:
            await ws.subscribe(f"{base}/events")
            await asyncio.to_thread(kafka.produce, topic, [{"value": {"from": "kafka"}}], JSON)
            message = await ws.message(f"{base}/events")
            assert message["data"] == {"from": "kafka"}, message
            await ws.publish(f"{base}/events", {"from": "websocket"})

    run(body())
    records = consume_all(kafka, unique("g"), "json", topic, 3, JSON)
    assert [rec["value"] for rec in records] == [{"warm": True}, {"from": "kafka"}, {"from": "websocket"}]
