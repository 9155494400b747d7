"""Kafka REST's schema formats on the server's own Schema Registry (issue 18): `avro.v2`, `jsonschema.v2`
and `protobuf.v2` produce registers the embedded schema under `<topic>-value` (or uses
`value_schema_id`), validates each record, and stores Confluent's wire format (magic byte + id + payload),
which fastavro reads back from the stream; a consumer instance of the same format gets the JSON values
back; keys go through `key_schema`/`key_schema_id` to `<topic>-key` and land where Kafka's partitioner puts
their framed bytes; the protobuf frames are read and written by protobuf's own runtime (PyPI); a schema
the registry refuses (incompatible, unknown id, an id the topic's subject does not hold) is kafka-rest's
42207; and records cross to WebSocket subscribers and back."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import struct
import time

import fastavro
import requests

from google.protobuf import descriptor_pb2, descriptor_pool, json_format, message_factory

from interop import run, unique, ws_clients
from test_kafka_rest import BINARY, JSON, Kafka, b64, kafka_partition

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
    # A record that does not fit: 42203; an incompatible new schema (BACKWARD): the registry's 409, which the
    # proxy answers as kafka-rest's SchemaManagerImpl does, 42207 (test_registry_refusals_are_42207).
    r = kafka.call("POST", f"/topics/{topic}", {"value_schema_id": schema_id, "records": [{"value": {"sensor": 1}}]},
                   AVRO)
    assert r.status_code == 422 and r.json()["error_code"] == 42203, r.text
    breaking = json.dumps({"type": "record", "name": "Reading", "namespace": "sensors",
                           "fields": [{"name": "sensor", "type": "string"}, {"name": "humidity", "type": "int"}]})
    r = kafka.call("POST", f"/topics/{topic}", {"value_schema": breaking, "records": [{"value": {"sensor": "x",
                                                                                             "humidity": 4}}]}, AVRO)
    assert r.status_code == 422 and r.json()["error_code"] == 42207, r.text


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


# A proto3 file with nested types and every wire type, as .proto text (the registered schema) and as the
# FileDescriptorProto protobuf's runtime builds its classes from (no protoc): the two must describe the
# same messages. Message indexes: Reading [0], Reading.Location [0, 0], Alarm [1].
READING_PROTO = """syntax = "proto3";
package sensors;
message Reading {
  enum Unit { UNIT_UNSPECIFIED = 0; CELSIUS = 1; KELVIN = 2; }
  message Location { string site = 1; sint32 floor = 2; }
  string sensor = 1;
  int64 at = 2;
  double value = 3;
  repeated int32 samples = 4;
  Unit unit = 5;
  Location where = 6;
  bool ok = 7;
  bytes raw = 8;
}
message Alarm { string reason = 1; Reading.Location where = 2; fixed64 code = 3; }
"""


def reading_classes() -> dict[str, type]:
    """The message classes of READING_PROTO, made at run time from a FileDescriptorProto."""
    F = descriptor_pb2.FieldDescriptorProto
    file = descriptor_pb2.FileDescriptorProto(name=unique("reading") + ".proto", package="sensors", syntax="proto3")
    reading = file.message_type.add(name="Reading")
    unit = reading.enum_type.add(name="Unit")
    for number, name in enumerate(["UNIT_UNSPECIFIED", "CELSIUS", "KELVIN"]):
        unit.value.add(name=name, number=number)
    location = reading.nested_type.add(name="Location")
    location.field.add(name="site", number=1, type=F.TYPE_STRING, label=F.LABEL_OPTIONAL, json_name="site")
    location.field.add(name="floor", number=2, type=F.TYPE_SINT32, label=F.LABEL_OPTIONAL, json_name="floor")
    for name, number, kind, label, type_name in [
        ("sensor", 1, F.TYPE_STRING, F.LABEL_OPTIONAL, None),
        ("at", 2, F.TYPE_INT64, F.LABEL_OPTIONAL, None),
        ("value", 3, F.TYPE_DOUBLE, F.LABEL_OPTIONAL, None),
        ("samples", 4, F.TYPE_INT32, F.LABEL_REPEATED, None),
        ("unit", 5, F.TYPE_ENUM, F.LABEL_OPTIONAL, ".sensors.Reading.Unit"),
        ("where", 6, F.TYPE_MESSAGE, F.LABEL_OPTIONAL, ".sensors.Reading.Location"),
        ("ok", 7, F.TYPE_BOOL, F.LABEL_OPTIONAL, None),
        ("raw", 8, F.TYPE_BYTES, F.LABEL_OPTIONAL, None),
    ]:
        field = reading.field.add(name=name, number=number, type=kind, label=label, json_name=name)
        if type_name:
            field.type_name = type_name
    alarm = file.message_type.add(name="Alarm")
    alarm.field.add(name="reason", number=1, type=F.TYPE_STRING, label=F.LABEL_OPTIONAL, json_name="reason")
    alarm.field.add(name="where", number=2, type=F.TYPE_MESSAGE, label=F.LABEL_OPTIONAL, json_name="where",
                    type_name=".sensors.Reading.Location")
    alarm.field.add(name="code", number=3, type=F.TYPE_FIXED64, label=F.LABEL_OPTIONAL, json_name="code")
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    return {name: message_factory.GetMessageClass(pool.FindMessageTypeByName(f"sensors.{name}"))
            for name in ("Reading", "Reading.Location", "Alarm")}


def zigzag_varint(value: int) -> bytes:
    value = (value << 1) ^ (value >> 63)
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def read_zigzag_varint(data: bytes, at: int) -> tuple[int, int]:
    shift = result = 0
    while True:
        byte = data[at]
        at += 1
        result |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return (result >> 1) ^ -(result & 1), at


def message_indexes(path: list[int]) -> bytes:
    """Confluent's message-index prefix: [0] is the single byte 0, else a zigzag count then the indexes."""
    if path == [0]:
        return b"\x00"
    return zigzag_varint(len(path)) + b"".join(zigzag_varint(i) for i in path)


def unframe(frame: bytes) -> tuple[int, list[int], bytes]:
    """(schema id, message indexes, protobuf bytes) of a protobuf.v2 record's stored frame."""
    assert frame[0] == 0, frame
    schema_id = struct.unpack(">I", frame[1:5])[0]
    count, at = read_zigzag_varint(frame, 5)
    path = []
    for _ in range(count):
        index, at = read_zigzag_varint(frame, at)
        path.append(index)
    return schema_id, path or [0], frame[at:]


def test_protobuf_frames_agree_with_the_pypi_runtime(server):
    classes = reading_classes()
    Reading, Location, Alarm = classes["Reading"], classes["Reading.Location"], classes["Alarm"]
    kafka = Kafka(server)
    topic = unique("pbpy")
    values = [
        {"sensor": "roof", "at": "1700000000123", "value": -12.75, "samples": [3, -1, 300000], "unit": "KELVIN",
         "where": {"site": "north", "floor": -2}, "ok": True, "raw": base64.b64encode(b"\x00\xffraw").decode()},
        {"sensor": "cellar", "at": "-5", "samples": []},
    ]
    r = kafka.call("POST", f"/topics/{topic}", {"value_schema": READING_PROTO, "records": [{"value": v} for v in values]},
                   PROTOBUF)
    assert r.status_code == 200, r.text
    schema_id = r.json()["value_schema_id"]
    # Server → PyPI: the stored frames, read by a binary consumer, parse with the runtime's class and equal
    # the runtime's own message for the same JSON, byte for byte.
    frames = [base64.b64decode(rec["value"]) for rec in consume_all(kafka, unique("g"), "binary", topic, 2, BINARY)]
    assert len(frames) == 2
    for frame, value in zip(frames, values):
        framed_id, path, payload = unframe(frame)
        assert (framed_id, path) == (schema_id, [0]) and frame[5] == 0
        expected = json_format.ParseDict(value, Reading())
        assert Reading.FromString(payload) == expected
        assert payload == expected.SerializeToString(deterministic=True)

    # PyPI → server: frames the runtime serialized, framed by hand (id, then the message's path), produced
    # as binary; a protobuf consumer follows each path and answers the runtime's proto3 JSON.
    written = [
        (Reading(sensor="attic", at=-(2**62), value=0.5, samples=[7, 8], unit=Reading.CELSIUS, ok=True,
                 where=Location(site="w", floor=3), raw=b"\x01\x02"), [0]),
        (Location(site="basement", floor=-70000), [0, 0]),
        (Alarm(reason="smoke", where=Location(site="hall"), code=2**64 - 1), [1]),
        (Reading(), [0]),
    ]
    records = [{"value": b64(b"\x00" + schema_id.to_bytes(4, "big") + message_indexes(path) + message.SerializeToString())}
               for message, path in written]
    kafka.produce(topic, records, BINARY)
    consumed = consume_all(kafka, unique("g"), "protobuf", topic, 2 + len(written), PROTOBUF)
    assert len(consumed) == 2 + len(written)
    got = [rec["value"] for rec in consumed[2:]]
    want = [json_format.MessageToDict(message, always_print_fields_with_no_presence=True) for message, _ in written]
    assert got == want
    # And the JSON the server answers parses back into the same messages.
    for value, (message, _) in zip(got, written):
        assert json_format.ParseDict(value, type(message)()) == message


def test_avro_keys_register_under_the_key_subject_and_land_on_kafkas_partitions(make_server):
    partitions = 6
    srv = make_server({"kafka_rest": {"default_partitions": partitions}})
    kafka = Kafka(srv)
    topic = unique("keyed")
    key_schema = json.dumps({"type": "record", "name": "Key", "namespace": "users",
                             "fields": [{"name": "user", "type": "string"}]})
    users = ["ada", "alan", "grace", "edsger", "barbara", "ken", "dennis"]
    records = [{"key": {"user": u}, "value": {"sensor": u, "celsius": float(i)}} for i, u in enumerate(users)]
    r = kafka.call("POST", f"/topics/{topic}", {"key_schema": key_schema, "value_schema": READING, "records": records},
                   AVRO)
    assert r.status_code == 200, r.text
    answer = r.json()
    key_id, value_id = answer["key_schema_id"], answer["value_schema_id"]
    assert isinstance(key_id, int) and key_id != value_id, answer
    key_subject = registry(srv, f"/subjects/{topic}-key/versions/latest")
    assert key_subject["id"] == key_id and json.loads(key_subject["schema"])["name"] == "Key"
    assert registry(srv, f"/subjects/{topic}-value/versions/latest")["id"] == value_id
    # Each key is stored framed (magic, key schema id, Avro) and partitioned by murmur2 of those bytes, as
    # Kafka's default partitioner does with the serialized key.
    parsed = fastavro.parse_schema(json.loads(key_schema))

    def framed(user: str) -> bytes:
        out = io.BytesIO()
        fastavro.schemaless_writer(out, parsed, {"user": user})
        return b"\x00" + struct.pack(">I", key_id) + out.getvalue()

    placed = [o["partition"] for o in answer["offsets"]]
    assert placed == [kafka_partition(framed(u), partitions) for u in users]
    assert len(set(placed)) > 1, placed
    stored = consume_all(kafka, unique("g"), "binary", topic, len(users), BINARY)
    assert sorted(base64.b64decode(rec["key"]) for rec in stored) == sorted(framed(u) for u in users)
    for rec in stored:
        assert rec["partition"] == kafka_partition(base64.b64decode(rec["key"]), partitions)
    # An avro consumer gets the keys back as JSON.
    consumed = consume_all(kafka, unique("g"), "avro", topic, len(users), AVRO)
    assert sorted((rec["key"]["user"], rec["value"]["sensor"]) for rec in consumed) == sorted(zip(users, users))
    # By ids: the same ids answered, and a key lands where it landed before.
    r = kafka.call("POST", f"/topics/{topic}", {"key_schema_id": key_id, "value_schema_id": value_id,
                                                "records": [{"key": {"user": "grace"},
                                                             "value": {"sensor": "again", "celsius": 1.0}}]}, AVRO)
    assert r.status_code == 200, r.text
    again = r.json()
    assert (again["key_schema_id"], again["value_schema_id"]) == (key_id, value_id)
    assert again["offsets"][0]["partition"] == placed[users.index("grace")]


def test_value_schema_id_for_jsonschema_and_protobuf(server):
    kafka = Kafka(server)
    for fmt, content_type, schema, first, second in [
        ("jsonschema", JSONSCHEMA, json.dumps({"type": "object", "properties": {"n": {"type": "integer"}}}),
         {"n": 1}, {"n": 2}),
        ("protobuf", PROTOBUF, 'syntax = "proto3";\nmessage Count { int32 n = 1; string label = 2; }\n',
         {"n": 1, "label": "one"}, {"n": 2, "label": "two"}),
    ]:
        topic = unique(fmt)
        r = kafka.call("POST", f"/topics/{topic}", {"value_schema": schema, "records": [{"value": first}]},
                       content_type)
        assert r.status_code == 200, r.text
        schema_id = r.json()["value_schema_id"]
        assert registry(server, f"/subjects/{topic}-value/versions/latest")["id"] == schema_id
        r = kafka.call("POST", f"/topics/{topic}", {"value_schema_id": schema_id, "records": [{"value": second}]},
                       content_type)
        assert r.status_code == 200 and r.json()["value_schema_id"] == schema_id, r.text
        frames = stored(server, topic)
        assert [struct.unpack(">I", f[1:5])[0] for f in frames] == [schema_id, schema_id]
        # The id's schema still validates: a value it refuses is 42203, whichever way the schema is named.
        bad = {"n": "two"}
        r = kafka.call("POST", f"/topics/{topic}", {"value_schema_id": schema_id, "records": [{"value": bad}]},
                       content_type)
        assert r.status_code == 422 and r.json()["error_code"] == 42203, r.text
        assert [rec["value"] for rec in consume_all(kafka, unique("g"), fmt, topic, 2, content_type)] == [first, second]


def test_registry_refusals_are_42207(server):
    """kafka-rest's SchemaManagerImpl turns every registry failure into 42207 ("Error serializing message."),
    HTTP 422: a schema it will not register, an id it does not know, an id the topic's subject does not
    hold (getSchemaVersion). A schema that does not parse is 42205 before the registry is asked."""
    kafka = Kafka(server)
    topic, other = unique("refused"), unique("other")
    r = kafka.call("POST", f"/topics/{topic}", {"value_schema": READING, "records": [{"value": {"sensor": "a",
                                                                                              "celsius": 1.0}}]}, AVRO)
    assert r.status_code == 200, r.text
    breaking = json.dumps({"type": "record", "name": "Reading", "namespace": "sensors",
                           "fields": [{"name": "kelvin", "type": "double"}]})
    r = kafka.call("POST", f"/topics/{topic}", {"value_schema": breaking, "records": [{"value": {"kelvin": 1.0}}]},
                   AVRO)
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["error_code"] == 42207 and body["message"].startswith("Error serializing message. "), body
    assert f"subject = {topic}-value" in body["message"] and "error code: 409" in body["message"], body
    r = kafka.call("POST", f"/topics/{topic}", {"value_schema_id": 987654, "records": [{"value": {"sensor": "a",
                                                                                                "celsius": 1.0}}]}, AVRO)
    assert r.status_code == 422 and r.json()["error_code"] == 42207 and "40403" in r.json()["message"], r.text
    r = kafka.call("POST", f"/topics/{other}", {"value_schema": '"string"', "records": [{"value": "x"}]}, AVRO)
    assert r.status_code == 200, r.text
    foreign = r.json()["value_schema_id"]
    r = kafka.call("POST", f"/topics/{topic}", {"value_schema_id": foreign, "records": [{"value": "x"}]}, AVRO)
    assert r.status_code == 422 and r.json()["error_code"] == 42207, r.text
    assert f"subject = {topic}-value" in r.json()["message"], r.text
    # Nothing refused was stored.
    assert len(stored(server, topic)) == 1


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
