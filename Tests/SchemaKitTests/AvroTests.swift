import BusCore
import Testing

@testable import SchemaKit

@Suite struct AvroTests {
    /// fastavro's encodings (Fixtures/avro.json): our bytes equal its bytes, our decoding equals its
    /// JSON writer's output, our canonical form equals its Parsing Canonical Form.
    @Test func matchesFastavro() throws {
        for vector in try fixture("avro.json").arrayValue ?? [] {
            let schema = try AvroSchema(json: vector["schema"]!)
            let encoded = try AvroBinaryEncoder.encode(vector["value"]!, schema: schema)
            #expect(hex(encoded) == vector["hex"]?.stringValue, "\(text(vector["schema"]!))")
            let decoded = try AvroBinaryDecoder.decode(bytes(hex: vector["hex"]!.stringValue!), schema: schema)
            #expect(decoded.schemaEquals(vector["json"]!), "\(text(decoded)) vs \(text(vector["json"]!))")
            #expect(schema.canonicalForm == vector["canonical"]?.stringValue)
        }
    }

    @Test func goldenBytesFromTheSpec() throws {
        // Spec, "Binary Encoding": zigzag ints and the string "foo".
        let long = try AvroSchema(parsing: "\"long\"")
        for (value, bytes) in [("0", [0x00]), ("-1", [0x01]), ("1", [0x02]), ("-64", [0x7F]), ("64", [0x80, 0x01])] {
            #expect(try AvroBinaryEncoder.encode(.number(value), schema: long) == bytes.map(UInt8.init))
        }
        let string = try AvroSchema(parsing: "\"string\"")
        #expect(try AvroBinaryEncoder.encode(.string("foo"), schema: string) == [0x06, 0x66, 0x6F, 0x6F])
        // Spec: union ["null","string"] with "a" is 02 02 61.
        let union = try AvroSchema(parsing: #"["null","string"]"#)
        #expect(try AvroBinaryEncoder.encode(try json(#"{"string":"a"}"#), schema: union) == [0x02, 0x02, 0x61])
        // Untagged union value (fastavro's leniency) picks the first branch that takes it.
        #expect(try AvroBinaryEncoder.encode(.string("a"), schema: union) == [0x02, 0x02, 0x61])
    }

    @Test func canonicalFormStripsAndQualifies() throws {
        let schema = try AvroSchema(
            parsing: #"""
                {"type":"record","name":"R","namespace":"x.y","doc":"d","aliases":["Q"],"fields":[
                 {"name":"a","type":{"type":"fixed","name":"F","size":2},"doc":"z","default":"ab"},
                 {"name":"b","type":"F"},{"name":"c","type":{"type":"int","logicalType":"date"}}]}
                """#)
        #expect(
            schema.canonicalForm
                == #"{"name":"x.y.R","type":"record","fields":[{"name":"a","type":{"name":"x.y.F","type":"fixed","size":2}},{"name":"b","type":"x.y.F"},{"name":"c","type":"int"}]}"#
        )
    }

    @Test func refusesInvalidSchemas() {
        for text in [
            #"{"type":"record","name":"R"}"#, #"{"type":"nope"}"#, #"["null","null"]"#, #"[["int"]]"#,
            #"{"type":"enum","name":"E","symbols":["A","A"]}"#, #"{"type":"fixed","name":"F"}"#,
            #"{"type":"record","name":"1R","fields":[]}"#, #"{"type":"array"}"#, "{", #""Unknown""#,
            #"{"type":"record","name":"R","fields":[{"name":"a","type":"int","default":"x"}]}"#,
            #"{"type":"record","name":"R","fields":[{"name":"a","type":["null","int"],"default":1}]}"#,
            #"{"type":"enum","name":"E","symbols":["A"],"default":"B"}"#,
        ] {
            #expect(throws: SchemaError.self, "\(text)") { try AvroSchema(parsing: text) }
            #expect((try? AvroSchema(parsing: text)) == nil)
        }
        let error = #expect(throws: SchemaError.self) { try AvroSchema(parsing: #"{"type":"nope"}"#) }
        #expect(error?.registryErrorCode == 42201)
    }

    @Test func invalidRecordsAreTypedErrors() throws {
        let schema = try AvroSchema(
            parsing:
                #"{"type":"record","name":"R","fields":[{"name":"a","type":"int"},{"name":"b","type":"string","default":"d"}]}"#
        )
        for value in [#"{"b":"x"}"#, #"{"a":"1"}"#, #"{"a":2147483648}"#, #"{"a":1.5}"#, "[]"] {
            let error = #expect(throws: SchemaError.self) {
                try AvroBinaryEncoder.encode(try json(value), schema: schema)
            }
            #expect(error?.kind == .invalidRecord)
        }
        // A missing field with a default takes it; unknown members are ignored, as Avro's JSON decoder does.
        let bytes = try AvroBinaryEncoder.encode(try json(#"{"a":1,"z":true}"#), schema: schema)
        #expect(bytes == [0x02, 0x02, 0x64])
        #expect(try AvroBinaryDecoder.decode(bytes, schema: schema) == (try json(#"{"a":1,"b":"d"}"#)))
    }

    @Test func decoderRefusesBadPayloads() throws {
        let schema = try AvroSchema(parsing: #"{"type":"array","items":"null"}"#)
        // 2^62 nulls take no bytes: refused by the value limit, not looped over.
        #expect(throws: SchemaError.self) {
            try AvroBinaryDecoder.decode([0xFE, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F], schema: schema)
        }
        let string = try AvroSchema(parsing: "\"string\"")
        #expect(throws: SchemaError.self) { try AvroBinaryDecoder.decode([0x06, 0x61], schema: string) }
        #expect(throws: SchemaError.self) { try AvroBinaryDecoder.decode([0x02, 0xFF], schema: string) }
        #expect(throws: SchemaError.self) { try AvroBinaryDecoder.decode([0x00, 0x00], schema: string) }
        let recursive = try AvroSchema(parsing: #"{"type":"record","name":"R","fields":[{"name":"r","type":"R"}]}"#)
        #expect(throws: SchemaError.self) { try AvroBinaryDecoder.decode([], schema: recursive) }
    }

    // MARK: - Resolution

    func compatible(reader: String, writer: String) throws -> Bool {
        AvroCompatibility.incompatibilities(
            reader: try AvroSchema(parsing: reader), writer: try AvroSchema(parsing: writer)
        ).isEmpty
    }

    @Test func promotions() throws {
        for (writer, reader) in [
            ("int", "long"), ("int", "float"), ("int", "double"), ("long", "float"), ("long", "double"),
            ("float", "double"), ("string", "bytes"), ("bytes", "string"),
        ] {
            #expect(try compatible(reader: "\"\(reader)\"", writer: "\"\(writer)\""))
            if writer != "string" && writer != "bytes" {
                #expect(try !compatible(reader: "\"\(writer)\"", writer: "\"\(reader)\""), "\(reader) → \(writer)")
            }
        }
    }

    @Test func recordFieldsAndDefaults() throws {
        let v1 = #"{"type":"record","name":"R","fields":[{"name":"a","type":"int"}]}"#
        let v2WithDefault =
            #"{"type":"record","name":"R","fields":[{"name":"a","type":"int"},{"name":"b","type":"string","default":""}]}"#
        let v2NoDefault =
            #"{"type":"record","name":"R","fields":[{"name":"a","type":"int"},{"name":"b","type":"string"}]}"#
        #expect(try compatible(reader: v2WithDefault, writer: v1))
        #expect(try !compatible(reader: v2NoDefault, writer: v1))
        #expect(try compatible(reader: v1, writer: v2NoDefault))  // removed field: ignored
        let renamed = #"{"type":"record","name":"Other","fields":[{"name":"a","type":"int"}]}"#
        #expect(try !compatible(reader: renamed, writer: v1))
        let aliased =
            #"{"type":"record","name":"Other","aliases":["R"],"fields":[{"name":"x","aliases":["a"],"type":"long"}]}"#
        #expect(try compatible(reader: aliased, writer: v1))
    }

    @Test func enumsUnionsFixed() throws {
        let ab = #"{"type":"enum","name":"E","symbols":["A","B"]}"#
        let abc = #"{"type":"enum","name":"E","symbols":["A","B","C"]}"#
        let abWithDefault = #"{"type":"enum","name":"E","symbols":["A","B"],"default":"A"}"#
        #expect(try compatible(reader: abc, writer: ab))
        #expect(try !compatible(reader: ab, writer: abc))
        #expect(try compatible(reader: abWithDefault, writer: abc))
        #expect(try compatible(reader: #"["null","long"]"#, writer: "\"int\""))
        #expect(try !compatible(reader: "\"int\"", writer: #"["null","int"]"#))
        #expect(try compatible(reader: #"["null","int","string"]"#, writer: #"["null","int"]"#))
        #expect(try !compatible(reader: #"["null","int"]"#, writer: #"["null","int","string"]"#))
        #expect(
            try !compatible(
                reader: #"{"type":"fixed","name":"F","size":4}"#, writer: #"{"type":"fixed","name":"F","size":5}"#))
        let recursive = #"{"type":"record","name":"N","fields":[{"name":"next","type":["null","N"]}]}"#
        #expect(try compatible(reader: recursive, writer: recursive))
    }
}
