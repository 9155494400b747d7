import BusCore
import Testing

@testable import SchemaKit

@Suite struct ProtobufTests {
    /// protobuf's encodings (Fixtures/protobuf.json, compiled with grpcio-tools' protoc): our bytes equal
    /// `SerializeToString`, our JSON equals `MessageToJson` with and without default-valued fields.
    @Test func matchesProtobufPython() throws {
        let fixtures = try fixture("protobuf.json")
        for vector in fixtures["cases"]?.arrayValue ?? [] {
            let file = try #require(fixtures["files"]?[vector["proto"]!.stringValue!]?.stringValue)
            let schema = try ProtobufSchema(parsing: file)
            let message = vector["message"]!.stringValue!
            let encoded = try ProtobufBinaryEncoder.encode(vector["value"]!, schema: schema, messageName: message)
            #expect(hex(encoded) == vector["hex"]?.stringValue, "\(message) \(text(vector["value"]!))")
            let payload = bytes(hex: vector["hex"]!.stringValue!)
            let withDefaults = try ProtobufBinaryDecoder.decode(payload, schema: schema, messageName: message)
            #expect(withDefaults.schemaEquals(vector["jsonWithDefaults"]!), "\(text(withDefaults))")
            let sparse = try ProtobufBinaryDecoder.decode(
                payload, schema: schema, messageName: message, options: .init(includeDefaults: false))
            #expect(sparse.schemaEquals(vector["json"]!), "\(text(sparse))")
        }
    }

    @Test func parsesProto3() throws {
        let schema = try ProtobufSchema(
            parsing: """
                syntax = "proto3";
                package a.b;
                option java_package = "x.y";
                /* a comment */
                message Outer {
                  message Inner { int32 v = 1; }
                  enum Kind { KIND_A = 0; KIND_B = 1 [deprecated = true]; }
                  Inner inner = 1;
                  Kind kind = 2;
                  .a.b.Other other = 3;
                  map<string, Inner> byName = 4;
                  oneof choice { string s = 5; int64 n = 6; }
                  reserved 8, 10 to 12;
                  reserved "old";
                  optional bool flag = 7 [json_name = "theFlag"];
                }
                message Other { repeated Outer.Inner items = 1; }
                service S { rpc Get (Other) returns (Outer); }
                """)
        #expect(schema.messages.map(\.fullName) == ["a.b.Outer", "a.b.Other"])
        let outer = try schema.message(named: nil)
        #expect(outer.fields.map(\.number) == [1, 2, 3, 4, 5, 6, 7])
        #expect(outer.field(number: 4)?.type == .map(key: .string, value: .message("a.b.Outer.Inner")))
        #expect(outer.field(number: 7)?.jsonName == "theFlag")
        #expect(schema.indexes(of: "a.b.Outer.Inner") == [0, 0])
        #expect(try schema.message(at: [1]).fullName == "a.b.Other")
        #expect(schema.canonicalForm.contains("map<string, .a.b.Outer.Inner> byName = 4;"))
    }

    @Test func refusesWhatItDoesNotSupport() {
        let cases: [(String, SchemaError.Kind)] = [
            ("syntax = \"proto3\"; import \"google/protobuf/timestamp.proto\"; message M {}", .unsupported),
            ("syntax = \"proto2\"; message M { required int32 a = 1; }", .unsupported),
            ("syntax = \"proto3\"; message M { google.protobuf.Timestamp t = 1; }", .unsupported),
            ("syntax = \"proto3\"; message M { Missing m = 1; }", .invalidSchema),
            ("syntax = \"proto3\"; message M { int32 a = 1; int32 b = 1; }", .invalidSchema),
            ("syntax = \"proto3\"; enum E { A = 1; }", .invalidSchema),
            ("syntax = \"proto3\"; message M { int32 a = 0; }", .invalidSchema),
            ("syntax = \"proto3\"; message M { int32 a = 1 }", .invalidSchema),
            ("syntax = \"proto3\"; message M { reserved 1; int32 a = 1; }", .invalidSchema),
        ]
        for (text, kind) in cases {
            let error = #expect(throws: SchemaError.self, "\(text)") { try ProtobufSchema(parsing: text) }
            #expect(error?.kind == kind, "\(text)")
            #expect(error?.registryErrorCode == 42201)
        }
    }

    @Test func decoderSkipsUnknownAndMergesMessages() throws {
        let schema = try ProtobufSchema(
            parsing:
                "syntax = \"proto3\"; message M { N n = 1; repeated int32 r = 2; } message N { int32 a = 1; int32 b = 2; }"
        )
        // unknown field 9 (varint), n = {a: 1}, n = {b: 2} (merged), r unpacked 1 then packed [2, 3].
        let payload: [UInt8] = [
            0x48, 0x05, 0x0A, 0x02, 0x08, 0x01, 0x0A, 0x02, 0x10, 0x02, 0x10, 0x01, 0x12, 0x02, 0x02, 0x03,
        ]
        let decoded = try ProtobufBinaryDecoder.decode(payload, schema: schema, options: .init(includeDefaults: false))
        #expect(decoded.schemaEquals(try json(#"{"n":{"a":1,"b":2},"r":[1,2,3]}"#)))
        for bad: [UInt8] in [[0x0A, 0x05, 0x08], [0x0B], [0x08, 0x80], [0x00]] {
            #expect(throws: SchemaError.self, "\(bad)") { try ProtobufBinaryDecoder.decode(bad, schema: schema) }
        }
    }

    /// +0.0 written out reads as the default a reader gets when it is left out, so a value reads the same
    /// after our encoder (which leaves it out) — the SchemaFuzz finding kept as
    /// `corpus/schema/protobuf-float-zero-written-out`; -0.0 is written and read as itself.
    @Test func aZeroWrittenOutReadsAsTheDefault() throws {
        let schema = try ProtobufSchema(parsing: "syntax = \"proto3\"; message M { float f = 1; double d = 2; }")
        let written: [UInt8] = [0x0D, 0, 0, 0, 0, 0x11, 0, 0, 0, 0, 0, 0, 0, 0]
        let decoded = try ProtobufBinaryDecoder.decode(written, schema: schema)
        #expect(decoded == (try ProtobufBinaryDecoder.decode([], schema: schema)))
        let again = try ProtobufBinaryEncoder.encode(decoded, schema: schema, messageName: "M")
        #expect(try ProtobufBinaryDecoder.decode(again, schema: schema) == decoded)
        let negative = try ProtobufBinaryDecoder.decode([0x0D, 0, 0, 0, 0x80], schema: schema)
        #expect(negative.schemaEquals(try json(#"{"f":-0.0,"d":0}"#)))
    }

    @Test func encoderRefusesBadValues() throws {
        let schema = try ProtobufSchema(
            parsing:
                "syntax = \"proto3\"; message M { int32 a = 1; oneof o { string x = 2; string y = 3; } bytes b = 4; }")
        for value in [#"{"a":2147483648}"#, #"{"zz":1}"#, #"{"x":"1","y":"2"}"#, #"{"b":"!!"}"#, #"{"a":"x"}"#, "[]"] {
            let error = #expect(throws: SchemaError.self, "\(value)") {
                try ProtobufBinaryEncoder.encode(try json(value), schema: schema)
            }
            #expect(error?.kind == .invalidRecord)
        }
        // A oneof member is written even when it holds the default.
        #expect(try ProtobufBinaryEncoder.encode(try json(#"{"x":""}"#), schema: schema) == [0x12, 0x00])
    }

    func compatible(_ reader: String, _ writer: String) throws -> [String] {
        ProtobufCompatibility.incompatibilities(
            reader: try ProtobufSchema(parsing: "syntax = \"proto3\"; package p; " + reader),
            writer: try ProtobufSchema(parsing: "syntax = \"proto3\"; package p; " + writer))
    }

    @Test func compatibility() throws {
        let base = "message M { int32 a = 1; string s = 2; }"
        #expect(try compatible("message M { int32 a = 1; string s = 2; bool added = 3; }", base).isEmpty)
        #expect(try compatible("message M { int32 a = 1; }", base).isEmpty)
        #expect(try compatible("message M { int64 renamed = 1; bytes s = 2; }", base).isEmpty)
        #expect(
            try compatible("message M { string a = 1; string s = 2; }", base).first?.hasPrefix(
                "FIELD_SCALAR_KIND_CHANGED") == true)
        #expect(
            try compatible("message M { N a = 1; string s = 2; } message N {}", base).first?.hasPrefix(
                "FIELD_KIND_CHANGED") == true)
        #expect(try compatible("message X { int32 a = 1; }", base).first?.hasPrefix("MESSAGE_REMOVED") == true)
        #expect(
            try compatible("message M { oneof o { int32 a = 1; string s = 2; } }", base).first?.hasPrefix(
                "MULTIPLE_FIELDS_MOVED_TO_ONEOF") == true)
        #expect(try compatible("message M { oneof o { int32 a = 1; } string s = 2; }", base).isEmpty)
        let oneof = "message M { oneof o { int32 a = 1; string s = 2; } }"
        #expect(
            try compatible("message M { oneof o { int32 a = 1; } string s = 2; }", oneof).first?.hasPrefix(
                "ONEOF_FIELD_REMOVED") == true)
        #expect(try compatible("message M { E a = 1; string s = 2; } enum E { Z = 0; }", base).isEmpty)
        #expect(
            try compatible("message M { repeated int32 a = 1; string s = 2; }", base).first?.hasPrefix(
                "FIELD_LABEL_CHANGED") == true)
    }
}
