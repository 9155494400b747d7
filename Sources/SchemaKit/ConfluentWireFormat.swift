/// Confluent's framing of a serialized record: magic byte 0, the schema id as 4 big-endian bytes, then
/// (protobuf only) the message-index array, then the payload.
/// See https://docs.confluent.io/platform/current/schema-registry/fundamentals/serdes-develop/index.html#wire-format
package enum ConfluentWireFormat {
    /// The first byte of every framed record.
    package static let magicByte: UInt8 = 0
    /// Magic byte plus schema id.
    package static let headerLength = 5

    /// A framed record taken apart; `payload` starts after the message indexes when there are some.
    package struct Frame: Sendable, Hashable {
        /// The registry id of the writer's schema.
        package var schemaID: UInt32
        /// Protobuf only: the path to the message type in the .proto file (`[0]` = the first message).
        package var messageIndexes: [Int]?
        /// The serialized value (Avro binary, JSON text or protobuf binary).
        package var payload: [UInt8]

        package init(schemaID: UInt32, messageIndexes: [Int]? = nil, payload: [UInt8]) {
            self.schemaID = schemaID
            self.messageIndexes = messageIndexes
            self.payload = payload
        }
    }

    /// Magic byte + id + (message indexes) + payload.
    package static func encode(_ frame: Frame) -> [UInt8] {
        var out: [UInt8] = [magicByte]
        out.reserveCapacity(headerLength + frame.payload.count + 4)
        withUnsafeBytes(of: frame.schemaID.bigEndian) { out.append(contentsOf: $0) }
        if let indexes = frame.messageIndexes { out += ProtobufMessageIndexes.encode(indexes) }
        out += frame.payload
        return out
    }

    /// Takes a framed record apart; `protobuf` says whether message indexes follow the id.
    package static func decode(_ bytes: [UInt8], protobuf: Bool = false) throws(SchemaError) -> Frame {
        guard bytes.count >= headerLength else {
            throw SchemaError(.invalidWireFormat, "record is \(bytes.count) bytes, shorter than the 5-byte header")
        }
        guard bytes[0] == magicByte else {
            throw SchemaError(.invalidWireFormat, "unknown magic byte \(bytes[0])")
        }
        let id = bytes[1..<5].reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
        var offset = headerLength
        var indexes: [Int]?
        if protobuf {
            indexes = try ProtobufMessageIndexes.decode(bytes, offset: &offset)
        }
        return Frame(schemaID: id, messageIndexes: indexes, payload: Array(bytes[offset...]))
    }
}
