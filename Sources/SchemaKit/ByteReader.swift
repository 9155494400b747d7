/// A cursor over a payload for the binary decoders: every read checks the bytes left first, so a short
/// or hostile payload is an error, never a trap.
struct ByteReader {
    let bytes: [UInt8]
    var offset: Int

    init(_ bytes: [UInt8], offset: Int = 0) {
        self.bytes = bytes
        self.offset = offset
    }

    var remaining: Int { bytes.count - offset }
    var isAtEnd: Bool { offset >= bytes.count }

    mutating func byte() throws(SchemaError) -> UInt8 {
        guard offset < bytes.count else { throw .record("payload ends early") }
        defer { offset += 1 }
        return bytes[offset]
    }

    mutating func bytes(_ count: Int) throws(SchemaError) -> ArraySlice<UInt8> {
        guard count >= 0, count <= remaining else {
            throw .record("length \(count) exceeds the \(remaining) bytes left")
        }
        defer { offset += count }
        return bytes[offset..<offset + count]
    }

    /// An unsigned base-128 varint of at most 10 bytes (64 bits).
    mutating func varint() throws(SchemaError) -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            let byte = try byte()
            guard shift < 64 else { throw .record("varint longer than 10 bytes") }
            // The tenth byte may only carry the top bit of a 64-bit value.
            if shift == 63 && byte > 1 { throw .record("varint overflows 64 bits") }
            result |= UInt64(byte & 0x7F) << shift
            if byte & 0x80 == 0 { return result }
            shift += 7
        }
    }

    /// A zigzag-encoded signed varint (Avro int/long, protobuf sint).
    mutating func zigzag() throws(SchemaError) -> Int64 {
        let raw = try varint()
        return Int64(bitPattern: (raw >> 1) ^ (0 &- (raw & 1)))
    }

    mutating func littleEndian32() throws(SchemaError) -> UInt32 {
        try bytes(4).reversed().reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
    }

    mutating func littleEndian64() throws(SchemaError) -> UInt64 {
        try bytes(8).reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
    }
}

/// The writing side of `ByteReader`'s encodings.
enum ByteWriter {
    static func varint(_ value: UInt64, into out: inout [UInt8]) {
        var value = value
        while value >= 0x80 {
            out.append(UInt8(value & 0x7F) | 0x80)
            value >>= 7
        }
        out.append(UInt8(value))
    }

    static func zigzag(_ value: Int64, into out: inout [UInt8]) {
        varint(UInt64(bitPattern: (value << 1) ^ (value >> 63)), into: &out)
    }

    static func littleEndian32(_ value: UInt32, into out: inout [UInt8]) {
        for shift in stride(from: 0, to: 32, by: 8) { out.append(UInt8(truncatingIfNeeded: value >> UInt32(shift))) }
    }

    static func littleEndian64(_ value: UInt64, into out: inout [UInt8]) {
        for shift in stride(from: 0, to: 64, by: 8) { out.append(UInt8(truncatingIfNeeded: value >> UInt64(shift))) }
    }
}

/// Decoding bounds shared by the three codecs.
package struct SchemaDecodingLimits: Sendable, Hashable {
    /// Deepest nesting of values (records in records, arrays in arrays). A recursive schema whose
    /// values take no bytes could otherwise recurse forever; real records stay far below 64.
    package var maxDepth: Int
    /// Most values (of any kind) one payload may produce. Bounds the work an array of `null`s (zero
    /// bytes each, a count of 2^62) can ask for.
    package var maxValues: Int

    package init(maxDepth: Int = 64, maxValues: Int = 1 << 20) {
        self.maxDepth = maxDepth
        self.maxValues = maxValues
    }

    /// The defaults: 64 levels, about a million values.
    package static let `default` = SchemaDecodingLimits()
}
