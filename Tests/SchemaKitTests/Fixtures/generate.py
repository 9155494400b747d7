#!/usr/bin/env python3
"""Cross-check vectors for SchemaKit, produced by the reference libraries.

Run: python3 -m venv /tmp/schema-venv && /tmp/schema-venv/bin/pip install fastavro protobuf jsonschema grpcio-tools
     /tmp/schema-venv/bin/python Tests/SchemaKitTests/Fixtures/generate.py

Writes, beside this file:
- avro.json: for each case, a schema, a value in Avro's JSON encoding, fastavro's binary encoding of it
  (schemaless_writer), the value fastavro's JSON writer gives back, and fastavro's Parsing Canonical Form.
- protobuf.json: for each case, a .proto file, a message, a proto3 JSON value, protobuf's
  SerializeToString of it (compiled with grpcio-tools' protoc), and MessageToJson of the bytes (with and
  without default-valued fields).
- jsonschema.json: instances and the verdict of the `jsonschema` package (Draft202012Validator).
"""

import importlib
import importlib.metadata
import io
import json
import os
import sys
import tempfile

import fastavro
import jsonschema
from google.protobuf import json_format
from grpc_tools import protoc

HERE = os.path.dirname(os.path.abspath(__file__))

AVRO_CASES = [
    ("null", "null"),
    ("boolean", "true"),
    ("int", "0"),
    ("int", "-1"),
    ("int", "2147483647"),
    ("int", "-2147483648"),
    ("long", "9223372036854775807"),
    ("long", "-64"),
    ("float", "1.5"),
    ("double", "-0.1"),
    ("string", '"héllo ✓"'),
    ("bytes", '"\\u0000\\u00ff\\u0041"'),
    ('{"type":"fixed","name":"F","size":3}', '"abc"'),
    ('{"type":"enum","name":"Suit","symbols":["SPADES","HEARTS","DIAMONDS"]}', '"DIAMONDS"'),
    ('{"type":"array","items":"long"}', "[1,2,3,-300]"),
    ('{"type":"array","items":"string"}', "[]"),
    ('{"type":"map","values":"int"}', '{"a":1,"b":-2}'),
    ('["null","string"]', "null"),
    ('["null","string"]', '{"string":"x"}'),
    ('["int","long","double"]', '{"double":2.5}'),
    (
        '{"type":"record","name":"User","namespace":"com.example","fields":['
        '{"name":"name","type":"string"},'
        '{"name":"age","type":["null","int"],"default":null},'
        '{"name":"emails","type":{"type":"array","items":"string"}},'
        '{"name":"address","type":{"type":"record","name":"Address","fields":[{"name":"city","type":"string"}]}},'
        '{"name":"previous","type":["null","Address"],"default":null},'
        '{"name":"ts","type":{"type":"long","logicalType":"timestamp-millis"}},'
        '{"name":"price","type":{"type":"bytes","logicalType":"decimal","precision":5,"scale":2}}]}',
        '{"name":"Ada","age":{"int":36},"emails":["a@x.org"],"address":{"city":"London"},'
        '"previous":{"com.example.Address":{"city":"Paris"}},"ts":1700000000000,"price":"\\u0001\\u0002"}',
    ),
    (
        '{"type":"record","name":"Node","fields":[{"name":"value","type":"int"},'
        '{"name":"next","type":["null","Node"],"default":null}]}',
        '{"value":1,"next":{"Node":{"value":2,"next":null}}}',
    ),
]

PROTO_FILES = {
    "shop": """
syntax = "proto3";
package shop.v1;

// An order, as a Confluent producer might send it.
message Order {
  string id = 1;
  int32 quantity = 2;
  int64 total_cents = 3;
  double price = 4;
  float weight = 5;
  bool gift = 6;
  bytes token = 7;
  Status status = 8;
  repeated int32 codes = 9;
  repeated string tags = 10;
  map<string, int64> counts = 11;
  Customer customer = 12;
  repeated Line lines = 13;
  oneof payment {
    string card = 14;
    uint64 account = 15;
  }
  optional sint32 delta = 16;
  sint64 big_delta = 17;
  fixed32 f32 = 18;
  fixed64 f64 = 19;
  sfixed32 sf32 = 20;
  sfixed64 sf64 = 21;
  uint32 u32 = 22;
  map<int32, Customer> by_id = 23;
  repeated int32 unpacked = 24 [packed = false];

  enum Status {
    STATUS_UNKNOWN = 0;
    STATUS_OPEN = 1;
    STATUS_SHIPPED = 2;
  }
  message Line {
    string sku = 1;
    uint32 count = 2;
  }
}

message Customer {
  string name = 1;
  message Address { string city = 1; }
  Address address = 2;
}
""",
}

PROTO_CASES = [
    ("shop", "shop.v1.Order", {"id": "o-1", "quantity": 3}),
    ("shop", "shop.v1.Order", {"quantity": -1, "totalCents": "-5", "price": 1.25, "weight": 0.5, "gift": True}),
    ("shop", "shop.v1.Order", {"token": "AAEC/w==", "status": "STATUS_SHIPPED", "codes": [1, 150, -2], "tags": ["a", "b"]}),
    ("shop", "shop.v1.Order", {"counts": {"x": "7"}, "customer": {"name": "Ada", "address": {"city": "London"}}}),
    ("shop", "shop.v1.Order", {"lines": [{"sku": "A", "count": 2}, {"sku": "B"}], "card": "4242"}),
    ("shop", "shop.v1.Order", {"account": "18446744073709551615", "delta": 0, "bigDelta": "-9000000000"}),
    ("shop", "shop.v1.Order", {"f32": 4294967295, "f64": "1", "sf32": -2, "sf64": "-3", "u32": 4000000000}),
    ("shop", "shop.v1.Order", {"byId": {"5": {"name": "E"}}, "unpacked": [1, 2]}),
    ("shop", "shop.v1.Order", {}),
    ("shop", "shop.v1.Customer", {"name": "Bob"}),
    ("shop", "shop.v1.Customer.Address", {"city": "Oslo"}),
]

JSONSCHEMA_CASES = [
    (
        {
            "type": "object",
            "properties": {"id": {"type": "integer", "minimum": 1}, "tags": {"type": "array", "items": {"type": "string"}}},
            "required": ["id"],
            "additionalProperties": False,
        },
        [{"id": 1}, {"id": 0}, {"id": 1, "x": 1}, {"tags": []}, {"id": 2, "tags": ["a", 1]}, {"id": 1.0}],
    ),
    (
        {"$defs": {"pos": {"type": "number", "exclusiveMinimum": 0}}, "oneOf": [{"$ref": "#/$defs/pos"}, {"type": "string", "pattern": "^a+$"}]},
        [1, -1, "aaa", "b", None],
    ),
    (
        {"type": "object", "properties": {"a": {"type": "string"}}, "unevaluatedProperties": False,
         "if": {"required": ["a"]}, "then": {"properties": {"b": {"const": 1}}}},
        [{"a": "x", "b": 1}, {"a": "x", "b": 2}, {"c": 1}, {}],
    ),
]


def avro_vectors():
    out = []
    for schema_text, value_text in AVRO_CASES:
        schema = json.loads(schema_text) if schema_text[0] in "{[" else schema_text
        parsed = fastavro.parse_schema(schema)
        records = list(fastavro.json_reader(io.StringIO(value_text), parsed))
        record = records[0]
        binary = io.BytesIO()
        fastavro.schemaless_writer(binary, parsed, record)
        decoded = fastavro.schemaless_reader(io.BytesIO(binary.getvalue()), parsed, None)
        json_out = io.StringIO()
        fastavro.json_writer(json_out, parsed, [decoded])
        out.append({
            "schema": schema,
            "value": json.loads(value_text),
            "hex": binary.getvalue().hex(),
            "json": json.loads(json_out.getvalue()),
            "canonical": fastavro.schema.to_parsing_canonical_form(parsed),
        })
    return out


def protobuf_vectors():
    out = []
    with tempfile.TemporaryDirectory() as work:
        for name, text in PROTO_FILES.items():
            with open(os.path.join(work, name + ".proto"), "w") as handle:
                handle.write(text)
            if protoc.main(["protoc", "-I" + work, "--python_out=" + work, os.path.join(work, name + ".proto")]) != 0:
                sys.exit("protoc failed for " + name)
        sys.path.insert(0, work)
        for file, message_name, value in PROTO_CASES:
            module = importlib.import_module(file + "_pb2")
            cls = module
            for part in message_name.split(".")[2:]:
                cls = getattr(cls, part)
            message = json_format.Parse(json.dumps(value), cls())
            data = message.SerializeToString(deterministic=True)
            reread = cls.FromString(data)
            out.append({
                "proto": file,
                "message": message_name,
                "value": value,
                "hex": data.hex(),
                "json": json.loads(json_format.MessageToJson(reread)),
                "jsonWithDefaults": json.loads(json_format.MessageToJson(reread, always_print_fields_with_no_presence=True)),
            })
    return {"files": PROTO_FILES, "cases": out}


def jsonschema_vectors():
    out = []
    for schema, instances in JSONSCHEMA_CASES:
        validator = jsonschema.Draft202012Validator(schema)
        out.append({"schema": schema, "instances": [{"data": i, "valid": validator.is_valid(i)} for i in instances]})
    return out


def write(name, value):
    with open(os.path.join(HERE, name), "w") as handle:
        json.dump(value, handle, indent=1, ensure_ascii=False, sort_keys=False)
        handle.write("\n")


if __name__ == "__main__":
    write("avro.json", avro_vectors())
    write("protobuf.json", protobuf_vectors())
    write("jsonschema.json", jsonschema_vectors())
    versions = {"fastavro": fastavro.__version__, "jsonschema": importlib.metadata.version("jsonschema"),
                "protobuf": importlib.metadata.version("protobuf"), "grpcio-tools": importlib.metadata.version("grpcio-tools")}
    write("versions.json", versions)
