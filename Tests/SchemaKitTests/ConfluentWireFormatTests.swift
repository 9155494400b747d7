import BusCore
import Testing

@testable import SchemaKit

@Suite struct ConfluentWireFormatTests {
    @Test func framing() throws {
        let frame = ConfluentWireFormat.Frame(schemaID: 0x0102_0304, payload: [0xAA])
        #expect(ConfluentWireFormat.encode(frame) == [0x00, 0x01, 0x02, 0x03, 0x04, 0xAA])
        #expect(try ConfluentWireFormat.decode([0x00, 0x01, 0x02, 0x03, 0x04, 0xAA]) == frame)
        for bad: [UInt8] in [[], [0x00, 0x01], [0x01, 0, 0, 0, 1]] {
            let error = #expect(throws: SchemaError.self) { try ConfluentWireFormat.decode(bad) }
            #expect(error?.kind == .invalidWireFormat)
            #expect(error?.restProxyErrorCode == 50002 && error?.httpStatus == 500)
        }
    }

    @Test func protobufMessageIndexes() throws {
        // [0] is the single byte 0; otherwise count then indexes, zigzag varints.
        #expect(ProtobufMessageIndexes.encode([0]) == [0x00])
        #expect(ProtobufMessageIndexes.encode([1]) == [0x02, 0x02])
        #expect(ProtobufMessageIndexes.encode([0, 2]) == [0x04, 0x00, 0x04])
        let framed = ConfluentWireFormat.encode(.init(schemaID: 7, messageIndexes: [1, 0], payload: [0x08, 0x01]))
        #expect(framed == [0, 0, 0, 0, 7, 0x04, 0x02, 0x00, 0x08, 0x01])
        let decoded = try ConfluentWireFormat.decode(framed, protobuf: true)
        #expect(decoded.messageIndexes == [1, 0] && decoded.payload == [0x08, 0x01])
        #expect(try ConfluentWireFormat.decode([0, 0, 0, 0, 7, 0x00, 0x08], protobuf: true).messageIndexes == [0])
        #expect(throws: SchemaError.self) { try ConfluentWireFormat.decode([0, 0, 0, 0, 7, 0x03], protobuf: true) }
    }

    @Test func parsedSchemaRoundTrips() throws {
        let avro = try ParsedSchema(
            type: .avro, text: #"{"type":"record","name":"R","fields":[{"name":"a","type":"long"}]}"#)
        let record = try json(#"{"a":42}"#)
        let bytes = try avro.serialize(record, schemaID: 1)
        #expect(bytes == [0, 0, 0, 0, 1, 0x54])
        #expect(try avro.deserialize(ConfluentWireFormat.decode(bytes)) == record)

        let proto = try ParsedSchema(
            type: .protobuf, text: "syntax = \"proto3\"; message A { int32 x = 1; } message B { string s = 1; }")
        let protoBytes = try proto.serialize(try json(#"{"s":"hi"}"#), schemaID: 2, messageName: "B")
        #expect(protoBytes == [0, 0, 0, 0, 2, 0x02, 0x02, 0x0A, 0x02, 0x68, 0x69])
        let protoFrame = try ConfluentWireFormat.decode(protoBytes, protobuf: true)
        #expect(try proto.deserialize(protoFrame) == (try json(#"{"s":"hi"}"#)))

        let jsonSchema = try ParsedSchema(type: .json, text: #"{"type":"object","required":["a"]}"#)
        #expect(try jsonSchema.serialize(record, schemaID: 3) == [0, 0, 0, 0, 3] + Array(#"{"a":42}"#.utf8))
        let error = #expect(throws: SchemaError.self) { try jsonSchema.serialize(try json("{}"), schemaID: 3) }
        #expect(error?.kind == .invalidRecord)
        #expect(error?.restProxyErrorCode == 42203 && error?.httpStatus == 422)
        let badSchema = #expect(throws: SchemaError.self) { try ParsedSchema(type: .avro, text: #"{"type":"nope"}"#) }
        #expect(badSchema?.registryErrorCode == 42201 && badSchema?.restProxyErrorCode == 42205)
        #expect(jsonSchema.canonicalForm == #"{"type":"object","required":["a"]}"#)
    }
}
