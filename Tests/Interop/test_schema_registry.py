"""Issue 18: Confluent's Schema Registry REST API (docs/protocols/schema-registry.md), driven with `requests`
against the real binary on its own port: every endpoint, each error code, compatibility refusals for
Avro, JSON Schema and Protobuf, access control, a restart on the same data directory (schemas, ids and
config come back from the `_schemas` stream), and fastavro reading the Avro bytes SchemaKit writes."""

from __future__ import annotations

import io
import json
import socket
import struct
import time

import fastavro
import pytest
import requests

from interop import unique
from security_support import hash_password

CT = "application/vnd.schemaregistry.v1+json"
# The error_code of an incompatible schema (HTTP 409): docs/protocols/schema-registry.md says which release's.
INCOMPATIBLE = 409

USER = {"type": "record", "name": "User", "fields": [{"name": "name", "type": "string"}]}
USER_AGE = {"type": "record", "name": "User",
            "fields": [{"name": "name", "type": "string"}, {"name": "age", "type": "int", "default": 0}]}
USER_AGE_REQUIRED = {"type": "record", "name": "User",
                     "fields": [{"name": "name", "type": "string"}, {"name": "age", "type": "int"}]}
JSON_OPEN = {"type": "object", "properties": {"a": {"type": "string"}}}
JSON_NARROWED = {"type": "object", "properties": {"a": {"type": "integer"}}}
PROTO_V1 = 'syntax = "proto3";\npackage acme;\nmessage Order { string id = 1; int64 total = 2; }\n'
PROTO_KIND_CHANGED = 'syntax = "proto3";\npackage acme;\nmessage Inner { int32 x = 1; }\nmessage Order { string id = 1; Inner total = 2; }\n'


class Registry:
    """The registry's port of one server."""

    def __init__(self, srv, auth=None) -> None:
        self.base = f"http://127.0.0.1:{srv.ports['schema_registry']}"
        self.session = requests.Session()
        self.session.trust_env = False
        self.session.auth = auth
        # The server reports healthy once its HTTP and MQTT ports answer; the registry's may follow a moment later.
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", srv.ports["schema_registry"]), timeout=1.0):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def call(self, method: str, path: str, body=None, **params) -> requests.Response:
        headers = {"Content-Type": CT} if body is not None else {}
        data = json.dumps(body) if body is not None and not isinstance(body, str) else body
        return self.session.request(method, self.base + path, data=data, headers=headers, params=params, timeout=10)

    def ok(self, method: str, path: str, body=None, **params):
        response = self.call(method, path, body, **params)
        assert response.status_code == 200, (method, path, response.status_code, response.text)
        assert response.headers["Content-Type"] == CT
        return response.json()

    def error(self, code: int, method: str, path: str, body=None, **params) -> dict:
        response = self.call(method, path, body, **params)
        status = code // 100 if code >= 1000 else code
        assert response.status_code == status, (method, path, response.status_code, response.text)
        payload = response.json()
        assert payload["error_code"] == code and isinstance(payload["message"], str), payload
        return payload

    def register(self, subject: str, schema, schema_type: str | None = None, references=None) -> int:
        body = {"schema": schema if isinstance(schema, str) else json.dumps(schema)}
        if schema_type:
            body["schemaType"] = schema_type
        if references:
            body["references"] = references
        return self.ok("POST", f"/subjects/{subject}/versions", body)["id"]


@pytest.fixture
def registry(make_server):
    return Registry(make_server())


def test_register_ids_are_global_and_versions_listed(registry):
    a, b = unique("a-value"), unique("b-value")
    first = registry.register(a, USER)
    assert registry.register(a, USER) == first  # already registered: same id, no new version
    assert registry.register(b, USER) == first  # same schema under another subject: same id
    second = registry.register(a, USER_AGE)
    assert second != first
    assert registry.ok("GET", f"/subjects/{a}/versions") == [1, 2]
    assert set(registry.ok("GET", "/subjects")) >= {a, b}
    assert registry.ok("GET", "/subjects", subjectPrefix=a) == [a]
    version = registry.ok("GET", f"/subjects/{a}/versions/2")
    assert version["subject"] == a and version["version"] == 2 and version["id"] == second
    assert json.loads(version["schema"]) == USER_AGE and "schemaType" not in version
    assert registry.ok("GET", f"/subjects/{a}/versions/latest")["version"] == 2
    assert registry.ok("GET", f"/subjects/{a}/versions/-1")["version"] == 2
    assert registry.ok("GET", f"/subjects/{a}/versions/1/schema") == USER
    by_id = registry.ok("GET", f"/schemas/ids/{first}")
    assert json.loads(by_id["schema"]) == USER
    assert registry.ok("GET", f"/schemas/ids/{first}/schema") == USER
    assert registry.ok("GET", f"/schemas/ids/{first}", subject=b)["schema"] == by_id["schema"]
    registry.error(40403, "GET", f"/schemas/ids/{first}", subject=unique("none"))
    usages = registry.ok("GET", f"/schemas/ids/{first}/versions")
    assert {"subject": a, "version": 1} in usages and {"subject": b, "version": 1} in usages
    assert sorted(registry.ok("GET", "/schemas/types")) == ["AVRO", "JSON", "PROTOBUF"]
    # Look up: which version of the subject holds this schema.
    found = registry.ok("POST", f"/subjects/{a}", {"schema": json.dumps(USER_AGE)})
    assert (found["subject"], found["version"], found["id"]) == (a, 2, second)
    assert registry.ok("GET", "/") == {}


def test_error_codes(registry):
    s = unique("err")
    registry.error(40401, "GET", f"/subjects/{s}/versions")
    registry.error(40401, "GET", f"/subjects/{s}/versions/1")
    registry.error(40401, "POST", f"/subjects/{s}", {"schema": json.dumps(USER)})
    registry.error(40403, "GET", "/schemas/ids/987654")
    registry.error(40403, "GET", "/schemas/ids/987654/schema")
    registry.register(s, USER)
    registry.error(40402, "GET", f"/subjects/{s}/versions/7")
    registry.error(40403, "POST", f"/subjects/{s}", {"schema": json.dumps(USER_AGE)})
    for bad in ("0", "abc", "2147483648"):
        registry.error(42202, "GET", f"/subjects/{s}/versions/{bad}")
    registry.error(42201, "POST", f"/subjects/{s}/versions", {"schema": '{"type": "nothing"}'})
    registry.error(42201, "POST", f"/subjects/{s}/versions", {"schema": "{not json"})
    registry.error(42201, "POST", f"/subjects/{s}/versions", {"schemaType": "AVRO"})
    registry.error(42201, "POST", f"/subjects/{s}/versions", {"schema": "x", "schemaType": "XML"})
    registry.error(42201, "POST", f"/subjects/{s}/versions",
                   {"schema": json.dumps(USER), "references": [{"name": "x", "subject": unique("no"), "version": 1}]})
    registry.error(42201, "POST", f"/subjects/{s}/versions",
                   {"schema": 'syntax = "proto3"; import "other.proto"; message M { string a = 1; }',
                    "schemaType": "PROTOBUF"})
    registry.error(42203, "PUT", f"/config/{s}", {"compatibility": "SIDEWAYS"})
    registry.error(42203, "PUT", "/config", {})
    registry.error(40408, "GET", f"/config/{s}")
    registry.error(INCOMPATIBLE, "POST", f"/subjects/{s}/versions", {"schema": json.dumps(USER_AGE_REQUIRED)})
    registry.error(42205, "PUT", "/mode", {"mode": "READONLY"})
    registry.error(400, "POST", f"/subjects/{s}/versions", "{not json")
    response = registry.session.post(f"{registry.base}/subjects/{s}/versions", data="x",
                                     headers={"Content-Type": "text/plain"}, timeout=10)
    assert response.status_code == 415 and response.json()["error_code"] == 415


def test_invalid_subjects_are_42208(registry):
    """Confluent's QualifiedSubject.isValidSubject, checked when registering: a subject with a control
    character (sent percent-encoded), or one of the names it keeps (`__GLOBAL`, `__EMPTY`), is 42208."""
    for subject in ("bad%01subject", "tab%09bed", "line%0Abreak", "__GLOBAL", "__EMPTY"):
        registry.error(42208, "POST", f"/subjects/{subject}/versions", {"schema": json.dumps(USER)})
    assert registry.ok("GET", "/subjects") == []
    assert registry.register("__GLOBAL-ish", USER) > 0  # only the exact names are kept


def test_soft_and_permanent_deletes(registry):
    s = unique("del")
    id1 = registry.register(s, USER)
    registry.register(s, USER_AGE)
    registry.error(40407, "DELETE", f"/subjects/{s}/versions/1", permanent="true")
    assert registry.ok("DELETE", f"/subjects/{s}/versions/1") == 1
    registry.error(40406, "DELETE", f"/subjects/{s}/versions/1")
    registry.error(40402, "GET", f"/subjects/{s}/versions/1")
    assert registry.ok("GET", f"/subjects/{s}/versions/1", deleted="true")["id"] == id1
    assert registry.ok("GET", f"/subjects/{s}/versions") == [2]
    assert registry.ok("GET", f"/subjects/{s}/versions", deleted="true") == [1, 2]
    assert registry.ok("GET", f"/schemas/ids/{id1}")  # a soft-deleted version's id still resolves
    registry.error(40405, "DELETE", f"/subjects/{s}", permanent="true")
    assert registry.ok("DELETE", f"/subjects/{s}") == [2]
    registry.error(40404, "DELETE", f"/subjects/{s}")
    assert s not in registry.ok("GET", "/subjects")
    assert s in registry.ok("GET", "/subjects", deleted="true")
    registry.error(40401, "GET", f"/subjects/{s}/versions")
    assert registry.ok("DELETE", f"/subjects/{s}", permanent="true") == [1, 2]
    assert s not in registry.ok("GET", "/subjects", deleted="true")
    registry.error(40401, "DELETE", f"/subjects/{s}")
    registry.error(40403, "GET", f"/schemas/ids/{id1}")
    # Permanently deleting one soft-deleted version.
    t = unique("del")
    registry.register(t, USER)
    registry.register(t, USER_AGE)
    assert registry.ok("DELETE", f"/subjects/{t}/versions/latest") == 2
    assert registry.ok("DELETE", f"/subjects/{t}/versions/2", permanent="true") == 2
    assert registry.ok("GET", f"/subjects/{t}/versions", deleted="true") == [1]


def test_references_and_referencedby(registry):
    address = {"type": "record", "name": "Address", "namespace": "acme",
               "fields": [{"name": "city", "type": "string"}]}
    person = {"type": "record", "name": "Person", "namespace": "acme",
              "fields": [{"name": "home", "type": "acme.Address"}]}
    a, p = unique("address"), unique("person")
    registry.register(a, address)
    refs = [{"name": "acme.Address", "subject": a, "version": 1}]
    pid = registry.register(p, person, references=refs)
    assert registry.ok("GET", f"/subjects/{a}/versions/1/referencedby") == [pid]
    assert registry.ok("GET", f"/subjects/{p}/versions/1")["references"] == refs
    assert registry.ok("GET", f"/schemas/ids/{pid}")["references"] == refs
    registry.error(42206, "DELETE", f"/subjects/{a}/versions/1")
    registry.error(42206, "DELETE", f"/subjects/{a}")
    # JSON Schema references: `$ref` by the reference's name.
    j, k = unique("jaddr"), unique("jperson")
    registry.register(j, {"type": "object", "properties": {"city": {"type": "string"}}}, "JSON")
    registry.register(k, {"type": "object", "properties": {"home": {"$ref": "address.json"}}}, "JSON",
                      references=[{"name": "address.json", "subject": j, "version": 1}])


@pytest.mark.parametrize("schema_type,old,new,compatible_new", [
    ("AVRO", json.dumps(USER), json.dumps(USER_AGE_REQUIRED), json.dumps(USER_AGE)),
    ("JSON", json.dumps(JSON_OPEN), json.dumps(JSON_NARROWED),
     json.dumps({"type": "object", "properties": {}})),
    ("PROTOBUF", PROTO_V1, PROTO_KIND_CHANGED,
     'syntax = "proto3";\npackage acme;\nmessage Order { string id = 1; int64 total = 2; string note = 3; }\n'),
], ids=["avro", "json", "protobuf"])
def test_compatibility_refusals_per_type(registry, schema_type, old, new, compatible_new):
    s = unique(f"compat-{schema_type.lower()}")
    registry.register(s, old, schema_type)
    body = {"schema": new, "schemaType": schema_type}
    assert registry.ok("POST", f"/compatibility/subjects/{s}/versions/latest", body) == {"is_compatible": False}
    verbose = registry.ok("POST", f"/compatibility/subjects/{s}/versions/1", body, verbose="true")
    assert verbose["is_compatible"] is False and verbose["messages"]
    assert registry.ok("POST", f"/compatibility/subjects/{s}/versions", body)["is_compatible"] is False
    registry.error(INCOMPATIBLE, "POST", f"/subjects/{s}/versions", body)
    assert registry.ok("POST", f"/compatibility/subjects/{s}/versions/latest",
                       {"schema": compatible_new, "schemaType": schema_type}, verbose="true") == {
        "is_compatible": True, "messages": []}
    assert registry.register(s, compatible_new, schema_type) > 0
    got = registry.ok("GET", f"/subjects/{s}/versions/2")
    assert got.get("schemaType", "AVRO") == schema_type
    registry.error(40402, "POST", f"/compatibility/subjects/{s}/versions/9", body)
    registry.error(40401, "POST", f"/compatibility/subjects/{unique('none')}/versions/1", body)
    # With NONE the incompatible schema registers.
    assert registry.ok("PUT", f"/config/{s}", {"compatibility": "NONE"}) == {"compatibility": "NONE"}
    assert registry.register(s, new, schema_type) > 0


# Avro records for the level tests: the reader of a missing field needs a default; string and int do not
# convert.
A = {"type": "record", "name": "R", "fields": [{"name": "a", "type": "string"}]}
A_DEFAULT = {"type": "record", "name": "R", "fields": [{"name": "a", "type": "string", "default": ""}]}
A_INT_DEFAULT = {"type": "record", "name": "R", "fields": [{"name": "a", "type": "int", "default": 0}]}
A_B_REQUIRED = {"type": "record", "name": "R",
                "fields": [{"name": "a", "type": "string"}, {"name": "b", "type": "int"}]}
EMPTY = {"type": "record", "name": "R", "fields": []}


@pytest.mark.parametrize("level,history,refused,weaker", [
    # The latest (A) cannot read data written without `a`; BACKWARD only asks the new schema to read A.
    ("FORWARD", [A], EMPTY, "BACKWARD"),
    # A_B_REQUIRED reads no A data (b has no default), though A reads its data: FULL refuses, FORWARD takes.
    ("FULL", [A], A_B_REQUIRED, "FORWARD"),
    # Three versions: the third reads the second's data (`a` defaults) but not the first's (string ≠ int).
    ("BACKWARD_TRANSITIVE", [A, EMPTY], A_INT_DEFAULT, "BACKWARD"),
    # The second reads the third's data (`a` defaults), the first does not (`a` has no default there).
    ("FORWARD_TRANSITIVE", [A, A_DEFAULT], EMPTY, "FORWARD"),
    ("FULL_TRANSITIVE", [A, A_DEFAULT], EMPTY, "FULL"),
], ids=lambda value: value if isinstance(value, str) else None)
def test_each_level_refuses_over_http(registry, level, history, refused, weaker):
    """Each compatibility level through the HTTP API: the history registers under the level, the next
    schema is refused (409, the registry's incompatible-schema answer) and reported incompatible by
    /compatibility, and a weaker level — the non-transitive form for the transitive ones — takes it."""
    s = unique(f"level-{level.lower()}")
    assert registry.ok("PUT", f"/config/{s}", {"compatibility": level}) == {"compatibility": level}
    ids = [registry.register(s, schema) for schema in history]
    assert len(set(ids)) == len(history)
    body = {"schema": json.dumps(refused)}
    payload = registry.error(INCOMPATIBLE, "POST", f"/subjects/{s}/versions", body)
    assert payload["message"], payload
    # /compatibility/…/versions checks against what the level names (every version when transitive);
    # /versions/latest against the latest alone.
    verdict = registry.ok("POST", f"/compatibility/subjects/{s}/versions", body, verbose="true")
    assert verdict["is_compatible"] is False and verdict["messages"], verdict
    against_latest = registry.ok("POST", f"/compatibility/subjects/{s}/versions/latest", body)
    assert against_latest == {"is_compatible": level.endswith("_TRANSITIVE")}
    assert registry.ok("GET", f"/subjects/{s}/versions") == list(range(1, len(history) + 1))
    registry.ok("PUT", f"/config/{s}", {"compatibility": weaker})
    assert registry.register(s, refused) not in ids
    assert registry.ok("GET", f"/subjects/{s}/versions") == list(range(1, len(history) + 2))


def test_config_global_and_per_subject(registry):
    s = unique("cfg")
    assert registry.ok("GET", "/config") == {"compatibilityLevel": "BACKWARD"}
    assert registry.ok("PUT", f"/config/{s}", {"compatibility": "full_transitive"}) == {
        "compatibility": "FULL_TRANSITIVE"}
    assert registry.ok("GET", f"/config/{s}") == {"compatibilityLevel": "FULL_TRANSITIVE"}
    assert registry.ok("PUT", "/config", {"compatibility": "FORWARD"}) == {"compatibility": "FORWARD"}
    other = unique("cfg")
    assert registry.ok("GET", f"/config/{other}", defaultToGlobal="true") == {"compatibilityLevel": "FORWARD"}
    assert registry.ok("DELETE", f"/config/{s}") == {"compatibilityLevel": "FULL_TRANSITIVE"}
    registry.error(40408, "GET", f"/config/{s}")
    registry.error(40401, "DELETE", f"/config/{unique('none')}")
    assert registry.ok("DELETE", "/config") == {"compatibilityLevel": "FORWARD"}
    assert registry.ok("GET", "/config") == {"compatibilityLevel": "BACKWARD"}
    assert registry.ok("GET", "/mode") == {"mode": "READWRITE"}
    # Every accepted content type reads the same.
    for content_type in ("application/vnd.schemaregistry+json", "application/json"):
        response = registry.session.put(f"{registry.base}/config/{s}", data=json.dumps({"compatibility": "NONE"}),
                                        headers={"Content-Type": content_type}, timeout=10)
        assert response.status_code == 200 and response.json() == {"compatibility": "NONE"}


def test_schemas_ids_and_config_survive_a_restart(make_server):
    srv = make_server()
    registry = Registry(srv)
    a, j = unique("keep"), unique("keepjson")
    id1 = registry.register(a, USER)
    id2 = registry.register(a, USER_AGE)
    jid = registry.register(j, JSON_OPEN, "JSON")
    registry.ok("PUT", f"/config/{a}", {"compatibility": "FULL"})
    registry.ok("PUT", "/config", {"compatibility": "NONE"})
    registry.ok("DELETE", f"/subjects/{a}/versions/1")
    srv.stop()
    srv.start()
    registry = Registry(srv)
    assert registry.ok("GET", f"/subjects/{a}/versions") == [2]
    assert registry.ok("GET", f"/subjects/{a}/versions", deleted="true") == [1, 2]
    assert json.loads(registry.ok("GET", f"/schemas/ids/{id1}")["schema"]) == USER
    assert registry.ok("GET", f"/subjects/{a}/versions/2")["id"] == id2
    assert registry.ok("GET", f"/schemas/ids/{jid}")["schemaType"] == "JSON"
    assert registry.ok("GET", f"/config/{a}") == {"compatibilityLevel": "FULL"}
    assert registry.ok("GET", "/config") == {"compatibilityLevel": "NONE"}
    # New ids continue after the replayed ones; a known schema keeps its id.
    assert registry.register(unique("keep"), USER_AGE) == id2
    assert registry.register(unique("keep"), {"type": "string"}) > max(id1, id2, jid)


# `ParsedSchema.serialize` of {"name": "ada", "age": 36} with USER_AGE as schema id 1 (pinned by
# SchemaRegistryTests.avroBytesAreConfluentFramed): magic 0, id, then Avro's zigzag length + bytes, zigzag int.
SCHEMAKIT_AVRO_BYTES = bytes.fromhex("0000000001" "06616461" "48")


def test_fastavro_reads_the_bytes_schemakit_writes(registry):
    s = unique("fastavro")
    registry.ok("PUT", f"/config/{s}", {"compatibility": "NONE"})
    schema_id = registry.register(s, USER_AGE)
    schema = fastavro.parse_schema(json.loads(registry.ok("GET", f"/schemas/ids/{schema_id}")["schema"]))
    frame = SCHEMAKIT_AVRO_BYTES
    assert frame[0] == 0 and struct.unpack(">I", frame[1:5])[0] == 1
    assert fastavro.schemaless_reader(io.BytesIO(frame[5:]), schema) == {"name": "ada", "age": 36}
    # And fastavro's own bytes for the record are the same payload.
    out = io.BytesIO()
    fastavro.schemaless_writer(out, schema, {"name": "ada", "age": 36})
    assert out.getvalue() == frame[5:]


def test_reads_need_authentication_and_writes_a_role(make_server):
    srv = make_server({"security": {
        "users": [
            {"name": "reader", "password_hash": hash_password("r-pass")},
            {"name": "writer", "password_hash": hash_password("w-pass"), "roles": ["schema_registry_writer"]},
            {"name": "boss", "password_hash": hash_password("b-pass"), "admin": True},
        ],
        "roles": {"schema_registry_writer": {}},
    }})
    anonymous = Registry(srv)
    response = anonymous.call("GET", "/subjects")
    assert response.status_code == 401 and response.json()["error_code"] == 401
    assert Registry(srv, ("reader", "wrong")).call("GET", "/subjects").status_code == 401
    reader = Registry(srv, ("reader", "r-pass"))
    assert reader.ok("GET", "/subjects") == []
    reader.error(40301, "POST", "/subjects/x/versions", {"schema": json.dumps(USER)})
    reader.error(40301, "PUT", "/config", {"compatibility": "NONE"})
    assert Registry(srv, ("writer", "w-pass")).register("x", USER) == 1
    assert Registry(srv, ("boss", "b-pass")).ok("DELETE", "/subjects/x") == [1]


@pytest.mark.parametrize("storage", ["sqlite", "postgres"])
def test_every_acknowledged_write_survives_kill9(make_server, tmp_path, storage):
    """A write is answered only once its `_schemas` record is stored: SIGKILL right after the answers
    loses none of them, on SQLite and on PostgreSQL."""
    from test_storage_crash import kill9
    from test_storage_postgres import PostgresServer

    database = PostgresServer(tmp_path / "postgres").start() if storage == "postgres" else None
    try:
        srv = make_server(args=["--storage", database.url] if database else [])
        registry = Registry(srv)
        subject = unique("k9")
        registry.ok("PUT", f"/config/{subject}", {"compatibility": "NONE"})
        acknowledged = {}
        for index in range(25):
            schema = {"type": "enum", "name": "E", "symbols": [f"S{index}"]}
            acknowledged[index + 1] = registry.register(subject, schema)
        registry.ok("DELETE", f"/subjects/{subject}/versions/1")
        kill9(srv)
        srv.start()
        registry = Registry(srv)
        assert registry.ok("GET", f"/subjects/{subject}/versions") == list(range(2, 26))
        for version, schema_id in acknowledged.items():
            assert registry.ok("GET", f"/subjects/{subject}/versions/{version}", deleted="true")["id"] == schema_id
        assert registry.ok("GET", f"/config/{subject}") == {"compatibilityLevel": "NONE"}
    finally:
        if database:
            database.stop()


def test_confluent_kafka_client_serializes_through_the_registry(make_server):
    """Confluent's own Python client (confluent-kafka's SchemaRegistryClient and Avro serializers, which
    need no broker) against the registry: auto-registration under `<topic>-value`, the serializer's
    bytes equal to what SchemaKit writes for the same record, the deserializer fetching the schema by id,
    look-up, compatibility test and refusal, config, delete."""
    from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
    from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
    from confluent_kafka.schema_registry.error import SchemaRegistryError
    from confluent_kafka.serialization import MessageField, SerializationContext

    srv = make_server()
    base = Registry(srv).base
    client = SchemaRegistryClient({"url": base})
    topic = unique("users")
    context = SerializationContext(topic, MessageField.VALUE)
    serialize = AvroSerializer(client, json.dumps(USER_AGE))
    data = serialize({"name": "ada", "age": 36}, context)
    # The first id of a new server is 1: byte for byte what ParsedSchema.serialize writes.
    assert data == SCHEMAKIT_AVRO_BYTES
    assert AvroDeserializer(client)(data, context) == {"name": "ada", "age": 36}
    subject = f"{topic}-value"
    assert client.get_subjects() == [subject]
    latest = client.get_latest_version(subject)
    assert (latest.schema_id, latest.version) == (1, 1)
    assert client.lookup_schema(subject, Schema(json.dumps(USER_AGE), "AVRO")).version == 1
    incompatible = Schema(json.dumps({"type": "record", "name": "User", "fields": [{"name": "x", "type": "int"}]}),
                          "AVRO")
    assert client.test_compatibility(subject, incompatible) is False
    with pytest.raises(SchemaRegistryError) as refused:
        client.register_schema(subject, incompatible)
    assert refused.value.http_status_code == 409
    client.set_compatibility(subject, "NONE")
    assert client.get_compatibility(subject) == "NONE"
    assert client.register_schema(subject, incompatible) == 2
    assert client.delete_subject(subject) == [1, 2]
    assert client.get_subjects() == []


def test_confluent_kafka_json_schema_serializer(make_server):
    """confluent-kafka's JSON Schema serializer and deserializer: auto-registration of a JSON schema
    (`schemaType` JSON), framed JSON bytes, the schema fetched back by id, and a BACKWARD refusal of a
    narrowed property type through the client."""
    from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
    from confluent_kafka.schema_registry.error import SchemaRegistryError
    from confluent_kafka.schema_registry.json_schema import JSONDeserializer, JSONSerializer
    from confluent_kafka.serialization import MessageField, SerializationContext

    srv = make_server()
    client = SchemaRegistryClient({"url": Registry(srv).base})
    topic = unique("orders")
    context = SerializationContext(topic, MessageField.VALUE)
    schema = json.dumps({"$schema": "http://json-schema.org/draft-07/schema#", "title": "Order", "type": "object",
                         "properties": {"id": {"type": "string"}, "total": {"type": "number"}}})
    data = JSONSerializer(schema, client)({"id": "o-1", "total": 12.5}, context)
    assert data[0] == 0 and struct.unpack(">I", data[1:5])[0] == 1
    assert json.loads(data[5:]) == {"id": "o-1", "total": 12.5}
    assert JSONDeserializer(None, schema_registry_client=client)(data, context) == {"id": "o-1", "total": 12.5}
    latest = client.get_latest_version(f"{topic}-value")
    assert latest.schema.schema_type == "JSON"
    narrowed = json.loads(schema)
    narrowed["properties"]["total"] = {"type": "integer"}
    with pytest.raises(SchemaRegistryError) as refused:
        client.register_schema(f"{topic}-value", Schema(json.dumps(narrowed), "JSON"))
    assert refused.value.http_status_code == 409
