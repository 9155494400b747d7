/// Confluent's message-index array: which message of the .proto file a protobuf payload holds, as the
/// path of indexes from the file's top-level messages down through nested ones. Written as a zigzag
/// varint count then zigzag varint indexes; the common `[0]` (first top-level message) is the single
/// byte 0.
package enum ProtobufMessageIndexes {
    /// Most indexes accepted: nesting deeper than this is not a real .proto file.
    package static let maxCount = 64

    package static func encode(_ indexes: [Int]) -> [UInt8] {
        if indexes == [0] { return [0] }
        var out: [UInt8] = []
        ByteWriter.zigzag(Int64(indexes.count), into: &out)
        for index in indexes { ByteWriter.zigzag(Int64(index), into: &out) }
        return out
    }

    /// Reads the array at `offset` and moves `offset` past it.
    package static func decode(_ bytes: [UInt8], offset: inout Int) throws(SchemaError) -> [Int] {
        var reader = ByteReader(bytes, offset: offset)
        do throws(SchemaError) {
            let count = try reader.zigzag()
            var indexes: [Int] = []
            if count == 0 {
                indexes = [0]
            } else {
                guard count > 0, count <= maxCount else { throw SchemaError.record("message index count \(count)") }
                for _ in 0..<count {
                    let index = try reader.zigzag()
                    guard index >= 0, index <= Int64(Int32.max) else {
                        throw SchemaError.record("message index \(index)")
                    }
                    indexes.append(Int(index))
                }
            }
            offset = reader.offset
            return indexes
        } catch {
            throw SchemaError(.invalidWireFormat, "bad protobuf message indexes: \(error.message)")
        }
    }
}
