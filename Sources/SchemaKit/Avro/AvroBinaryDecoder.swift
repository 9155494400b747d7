package import BusCore

/// Decodes Avro binary to Avro's JSON encoding, as Confluent's REST proxy v2 returns `avro` records:
/// a union value is `null` or `{"<branch>": value}`, bytes and fixed are strings of code points
/// U+0000–U+00FF, NaN and the infinities are the strings `"NaN"`, `"Infinity"`, `"-Infinity"`.
package enum AvroBinaryDecoder {
    /// Decodes one value that must span all of `bytes`.
    package static func decode(
        _ bytes: [UInt8], schema: AvroSchema, limits: SchemaDecodingLimits = .default
    ) throws(SchemaError) -> JSONValue {
        var decoder = AvroBinaryReader(schema: schema, reader: ByteReader(bytes), limits: limits)
        let value = try decoder.read(schema.root, depth: 0)
        guard decoder.reader.isAtEnd else {
            throw .record("\(decoder.reader.remaining) bytes left after the value")
        }
        return value
    }
}

struct AvroBinaryReader {
    let schema: AvroSchema
    var reader: ByteReader
    let limits: SchemaDecodingLimits
    var values = 0

    init(schema: AvroSchema, reader: ByteReader, limits: SchemaDecodingLimits) {
        self.schema = schema
        self.reader = reader
        self.limits = limits
    }

    mutating func read(_ type: AvroType, depth: Int) throws(SchemaError) -> JSONValue {
        guard depth < limits.maxDepth else { throw .record("value nested more than \(limits.maxDepth) deep") }
        values += 1
        guard values <= limits.maxValues else { throw .record("more than \(limits.maxValues) values") }
        switch schema.resolve(type) {
        case .null:
            return .null
        case .boolean:
            switch try reader.byte() {
            case 0: return .bool(false)
            case 1: return .bool(true)
            case let byte: throw .record("boolean byte \(byte)")
            }
        case .int:
            let value = try reader.zigzag()
            guard let int = Int32(exactly: value) else { throw .record("int \(value) out of range") }
            return .number(String(int))
        case .long:
            return .number(String(try reader.zigzag()))
        case .float:
            let float = Float(bitPattern: try reader.littleEndian32())
            return Self.number(Double(float), text: "\(float)")
        case .double:
            let double = Double(bitPattern: try reader.littleEndian64())
            return Self.number(double, text: "\(double)")
        case .bytes:
            return .string(Self.latin1String(try lengthPrefixed()))
        case .string:
            let bytes = try lengthPrefixed()
            guard let text = String(validating: bytes, as: UTF8.self) else { throw .record("string is not UTF-8") }
            return .string(text)
        case .fixed(let fixed):
            return .string(Self.latin1String(try reader.bytes(fixed.size)))
        case .enumeration(let enumeration):
            let index = try reader.zigzag()
            guard index >= 0, index < enumeration.symbols.count else {
                throw .record("enum \(enumeration.fullName) has no symbol \(index)")
            }
            return .string(enumeration.symbols[Int(index)])
        case .array(let items):
            var elements: [JSONValue] = []
            try readBlocks { (reader: inout AvroBinaryReader) throws(SchemaError) in
                elements.append(try reader.read(items, depth: depth + 1))
            }
            return .array(elements)
        case .map(let valueType):
            var members: [JSONField] = []
            try readBlocks { (reader: inout AvroBinaryReader) throws(SchemaError) in
                let keyBytes = try reader.lengthPrefixed()
                guard let key = String(validating: keyBytes, as: UTF8.self) else {
                    throw .record("map key is not UTF-8")
                }
                members.append(JSONField(key: key, value: try reader.read(valueType, depth: depth + 1)))
            }
            return .object(members)
        case .record(let record):
            var members: [JSONField] = []
            members.reserveCapacity(record.fields.count)
            for field in record.fields {
                members.append(JSONField(key: field.name, value: try read(field.type, depth: depth + 1)))
            }
            return .object(members)
        case .union(let branches):
            let index = try reader.zigzag()
            guard index >= 0, index < branches.count else { throw .record("union has no branch \(index)") }
            let branch = branches[Int(index)]
            let value = try read(branch, depth: depth + 1)
            if schema.resolve(branch) == .null { return .null }
            return .object([JSONField(key: branch.branchName, value: value)])
        case .reference, .logical:
            preconditionFailure("resolve strips references and logical types")
        }
    }

    /// Array and map blocks: a count, that many items, until a zero count. A negative count is followed
    /// by the block's size in bytes (spec, "Complex Types").
    private mutating func readBlocks(_ item: (inout AvroBinaryReader) throws(SchemaError) -> Void) throws(SchemaError) {
        while true {
            var count = try reader.zigzag()
            if count == 0 { return }
            if count < 0 {
                guard count != .min else { throw .record("block count out of range") }
                count = -count
                let size = try reader.zigzag()
                guard size >= 0, size <= reader.remaining else { throw .record("block size \(size) out of range") }
            }
            guard count <= limits.maxValues - values else { throw .record("block of \(count) items exceeds the limit") }
            for _ in 0..<count { try item(&self) }
        }
    }

    private mutating func lengthPrefixed() throws(SchemaError) -> ArraySlice<UInt8> {
        let length = try reader.zigzag()
        guard length >= 0, length <= reader.remaining else { throw .record("length \(length) out of range") }
        return try reader.bytes(Int(length))
    }

    /// A finite number as JSON, the others as the strings Avro's JSON encoding uses.
    static func number(_ value: Double, text: String) -> JSONValue {
        if value.isNaN { return .string("NaN") }
        if value.isInfinite { return .string(value < 0 ? "-Infinity" : "Infinity") }
        return .number(text)
    }

    static func latin1String(_ bytes: ArraySlice<UInt8>) -> String {
        var text = ""
        text.unicodeScalars.reserveCapacity(bytes.count)
        for byte in bytes { text.unicodeScalars.append(Unicode.Scalar(byte)) }
        return text
    }
}
