import BusCore
import Testing

@testable import SchemaKit

/// Seeded random and mutated payloads through every decoder on every `swift test` (the libFuzzer target
/// in Tests/Fuzz/SchemaFuzz goes further): errors are fine, traps are not, and whatever decodes
/// re-encodes to bytes that decode to the same value.
@Suite struct SchemaDecoderRobustnessTests {
    struct Generator: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    static let avroSchemas = [
        #"["null","long","string","bytes","double","float","boolean"]"#,
        #"{"type":"array","items":{"type":"map","values":["null","int"]}}"#,
        #"{"type":"record","name":"N","fields":[{"name":"v","type":"int"},{"name":"next","type":["null","N"]}]}"#,
        #"{"type":"record","name":"R","fields":[{"name":"e","type":{"type":"enum","name":"E","symbols":["A","B"]}},{"name":"f","type":{"type":"fixed","name":"F","size":3}},{"name":"a","type":{"type":"array","items":"null"}}]}"#,
    ]

    static let proto = """
        syntax = "proto3";
        message M {
          int32 a = 1; int64 b = 2; uint32 c = 3; uint64 d = 4; sint32 e = 5; sint64 f = 6; fixed32 g = 7;
          fixed64 h = 8; sfixed32 i = 9; sfixed64 j = 10; bool k = 11; string l = 12; bytes m = 13; float n = 14;
          double o = 15; E p = 16; repeated int32 q = 17; map<string, M> r = 18; oneof s { string t = 19; M u = 20; }
          optional int32 v = 21; repeated M w = 22; map<int64, E> x = 23;
          enum E { E0 = 0; E1 = 1; }
        }
        """

    func payloads(seed: UInt64, count: Int, valid: [[UInt8]]) -> [[UInt8]] {
        var generator = Generator(state: seed)
        return (0..<count).map { run in
            if run % 2 == 0, let base = valid.randomElement(using: &generator), !base.isEmpty {
                var bytes = base
                for _ in 0...(generator.next() % 3) {
                    let index = Int(generator.next() % UInt64(bytes.count))
                    bytes[index] ^= UInt8(truncatingIfNeeded: generator.next() | 1)
                }
                return bytes
            }
            return (0..<Int(generator.next() % 48)).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
        }
    }

    @Test func avro() throws {
        for (index, text) in Self.avroSchemas.enumerated() {
            let schema = try AvroSchema(parsing: text)
            let valid: [[UInt8]] = [
                [0x02, 0x02], [0x02, 0x02, 0x02, 0x61, 0x02, 0x02, 0x00, 0x00], [0x02, 0x02, 0x04, 0x00],
            ]
            for payload in payloads(seed: UInt64(index) + 1, count: 4000, valid: valid) {
                guard let value = try? AvroBinaryDecoder.decode(payload, schema: schema) else { continue }
                let again = try AvroBinaryEncoder.encode(value, schema: schema)
                #expect(try AvroBinaryDecoder.decode(again, schema: schema) == value, "\(payload)")
            }
        }
    }

    @Test func protobuf() throws {
        let schema = try ProtobufSchema(parsing: Self.proto)
        let valid: [[UInt8]] = [
            [
                0x08, 0x96, 0x01, 0x62, 0x03, 0x61, 0x62, 0x63, 0x8A, 0x01, 0x03, 0x01, 0x02, 0x03, 0x92, 0x01, 0x04,
                0x0A, 0x00, 0x12, 0x00,
            ],
            try ProtobufBinaryEncoder.encode(
                try json(#"{"a":-1,"b":"5","l":"x","p":"E1","u":{"a":2},"x":{"-3":"E1"},"w":[{}],"n":1.5}"#),
                schema: schema),
        ]
        for payload in payloads(seed: 99, count: 8000, valid: valid) {
            guard let value = try? ProtobufBinaryDecoder.decode(payload, schema: schema) else { continue }
            let again = try ProtobufBinaryEncoder.encode(value, schema: schema)
            #expect(try ProtobufBinaryDecoder.decode(again, schema: schema) == value, "\(payload)")
        }
    }

    @Test func framesAndSchemaText() {
        for payload in payloads(seed: 7, count: 4000, valid: [[0, 0, 0, 0, 1, 0x04, 0x02, 0x00, 0x08]]) {
            _ = try? ConfluentWireFormat.decode(payload, protobuf: true)
            _ = try? ConfluentWireFormat.decode(payload)
            // The same bytes as schema text of each type: refused or parsed, never a trap.
            let text = String(decoding: payload, as: UTF8.self)
            for type in SchemaType.allCases { _ = try? ParsedSchema(type: type, text: text) }
        }
    }
}
