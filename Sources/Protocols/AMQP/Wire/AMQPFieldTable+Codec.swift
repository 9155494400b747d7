package import NIOCore

/// Field tables and arrays on `ByteBuffer` (§4.2.5.5, with RabbitMQ's type letters). Every length is
/// checked against the bytes left in the (frame-max-checked) payload, and nesting against
/// `AMQPLimits.maxFieldTableDepth`, before anything is read.
extension ByteBuffer {
    /// A table: a 32-bit byte length, then name/value pairs. `depth` is the table's own nesting level
    /// (1 for a method argument or the headers property).
    package mutating func readAMQPFieldTable(maxDepth: Int, depth: Int = 1) throws(AMQPError) -> AMQPFieldTable {
        var body = try readAMQPLengthPrefixed(what: "table")
        return try body.readAMQPFieldTableFields(maxDepth: maxDepth, depth: depth)
    }

    /// The name/value pairs of a table up to the end of this buffer, without the length prefix: a
    /// table's body, and the AMQPLAIN response (which is exactly that).
    package mutating func readAMQPFieldTableFields(maxDepth: Int, depth: Int = 1) throws(AMQPError) -> AMQPFieldTable {
        guard depth <= maxDepth else { throw .malformed("field tables nested deeper than \(maxDepth)") }
        var table = AMQPFieldTable()
        while readableBytes > 0 {
            let name = try readAMQPShortString()
            let value = try readAMQPFieldValue(maxDepth: maxDepth, depth: depth)
            table.fields.append(AMQPFieldTable.Field(name: name, value: value))
        }
        return table
    }

    /// An array: a 32-bit byte length, then values.
    package mutating func readAMQPFieldArray(maxDepth: Int, depth: Int) throws(AMQPError) -> [AMQPFieldValue] {
        guard depth <= maxDepth else { throw .malformed("field arrays nested deeper than \(maxDepth)") }
        var body = try readAMQPLengthPrefixed(what: "array")
        var values: [AMQPFieldValue] = []
        while body.readableBytes > 0 {
            values.append(try body.readAMQPFieldValue(maxDepth: maxDepth, depth: depth))
        }
        return values
    }

    /// One type letter and its value, inside a table or array at nesting level `depth`.
    package mutating func readAMQPFieldValue(maxDepth: Int, depth: Int) throws(AMQPError) -> AMQPFieldValue {
        let letter = try readAMQPOctet()
        switch letter {
        case UInt8(ascii: "t"): return .boolean(try readAMQPOctet() != 0)
        case UInt8(ascii: "b"): return .int8(Int8(bitPattern: try readAMQPOctet()))
        case UInt8(ascii: "B"): return .uint8(try readAMQPOctet())
        case UInt8(ascii: "s"): return .int16(Int16(bitPattern: try readAMQPShort()))
        case UInt8(ascii: "u"): return .uint16(try readAMQPShort())
        case UInt8(ascii: "I"): return .int32(Int32(bitPattern: try readAMQPLong()))
        case UInt8(ascii: "i"): return .uint32(try readAMQPLong())
        case UInt8(ascii: "l"): return .int64(Int64(bitPattern: try readAMQPLongLong()))
        case UInt8(ascii: "f"): return .float(Float(bitPattern: try readAMQPLong()))
        case UInt8(ascii: "d"): return .double(Double(bitPattern: try readAMQPLongLong()))
        case UInt8(ascii: "D"):
            let scale = try readAMQPOctet()
            return .decimal(scale: scale, value: try readAMQPLong())
        case UInt8(ascii: "S"): return .longString(try readAMQPLongString())
        case UInt8(ascii: "x"): return .bytes(try readAMQPLongString())
        case UInt8(ascii: "A"): return .array(try readAMQPFieldArray(maxDepth: maxDepth, depth: depth + 1))
        case UInt8(ascii: "T"): return .timestamp(try readAMQPLongLong())
        case UInt8(ascii: "F"): return .table(try readAMQPFieldTable(maxDepth: maxDepth, depth: depth + 1))
        case UInt8(ascii: "V"): return .void
        default: throw .malformed("unknown field type \(letter)")
        }
    }

    private mutating func readAMQPLengthPrefixed(what: String) throws(AMQPError) -> ByteBuffer {
        let length = try readAMQPLong()
        guard length <= readableBytes, let body = readSlice(length: Int(length)) else {
            throw .malformed("\(what) longer than the frame")
        }
        return body
    }

    /// Writes a table with its 32-bit length (patched in after the fields: no intermediate buffer).
    package mutating func writeAMQPFieldTable(_ table: AMQPFieldTable) {
        let lengthIndex = writerIndex
        writeInteger(UInt32(0))
        writeAMQPFieldTableFields(table)
        setInteger(UInt32(writerIndex - lengthIndex - 4), at: lengthIndex)
    }

    /// Writes a table's name/value pairs without the length prefix (the AMQPLAIN response).
    package mutating func writeAMQPFieldTableFields(_ table: AMQPFieldTable) {
        for field in table.fields {
            writeAMQPShortString(field.name)
            writeAMQPFieldValue(field.value)
        }
    }

    package mutating func writeAMQPFieldArray(_ values: [AMQPFieldValue]) {
        let lengthIndex = writerIndex
        writeInteger(UInt32(0))
        for value in values { writeAMQPFieldValue(value) }
        setInteger(UInt32(writerIndex - lengthIndex - 4), at: lengthIndex)
    }

    package mutating func writeAMQPFieldValue(_ value: AMQPFieldValue) {
        writeInteger(value.typeLetter)
        switch value {
        case .boolean(let bool): writeInteger(UInt8(bool ? 1 : 0))
        case .int8(let int): writeInteger(int)
        case .uint8(let int): writeInteger(int)
        case .int16(let int): writeInteger(int)
        case .uint16(let int): writeInteger(int)
        case .int32(let int): writeInteger(int)
        case .uint32(let int): writeInteger(int)
        case .int64(let int): writeInteger(int)
        case .float(let float): writeInteger(float.bitPattern)
        case .double(let double): writeInteger(double.bitPattern)
        case .decimal(let scale, let raw):
            writeInteger(scale)
            writeInteger(raw)
        case .longString(let bytes), .bytes(let bytes): writeAMQPLongString(bytes)
        case .array(let values): writeAMQPFieldArray(values)
        case .timestamp(let seconds): writeInteger(seconds)
        case .table(let table): writeAMQPFieldTable(table)
        case .void: break
        }
    }
}
