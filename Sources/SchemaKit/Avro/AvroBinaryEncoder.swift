package import BusCore

/// Encodes a JSON value to Avro binary (spec, "Binary Encoding"). The JSON is Avro's JSON encoding as
/// Confluent's REST proxy v2 takes it: a union value is `null` or `{"<branch>": value}`; bytes and fixed
/// are strings whose code points are the bytes. As an extension (fastavro's behaviour) an untagged union
/// value is accepted when one branch takes it, first branch first. Fields a record lacks take their
/// defaults; members a record does not declare are ignored, as Avro's JSON decoder does.
package enum AvroBinaryEncoder {
    package static func encode(_ value: JSONValue, schema: AvroSchema) throws(SchemaError) -> [UInt8] {
        var writer = AvroJSONWriter(schema: schema, unions: .tagged)
        try writer.write(value, as: schema.root, path: "$", depth: 0)
        return writer.out
    }
}

/// How union values are spelled in the JSON being written.
enum AvroUnionStyle {
    /// Avro's JSON encoding (`{"int": 1}`), untagged values tried branch by branch.
    case tagged
    /// A field default: the value of the union's first branch, untagged (spec, "Complex Types").
    case firstBranch
}

struct AvroJSONWriter {
    let schema: AvroSchema
    let unions: AvroUnionStyle
    var out: [UInt8] = []

    init(schema: AvroSchema, unions: AvroUnionStyle) {
        self.schema = schema
        self.unions = unions
    }

    mutating func write(_ value: JSONValue, as type: AvroType, path: @autoclosure () -> String, depth: Int)
        throws(SchemaError)
    {
        guard depth < AvroSchemaParser.maxDepth * 2 else { throw .record("\(path()): value nested too deeply") }
        switch schema.resolve(type) {
        case .null:
            guard value == .null else { throw mismatch(path(), "null", value) }
        case .boolean:
            guard case .bool(let flag) = value else { throw mismatch(path(), "boolean", value) }
            out.append(flag ? 1 : 0)
        case .int:
            guard let int = Self.integer(value), let int32 = Int32(exactly: int) else {
                throw mismatch(path(), "int", value)
            }
            ByteWriter.zigzag(Int64(int32), into: &out)
        case .long:
            guard let int = Self.integer(value) else { throw mismatch(path(), "long", value) }
            ByteWriter.zigzag(int, into: &out)
        case .float:
            guard let double = Self.floating(value) else { throw mismatch(path(), "float", value) }
            ByteWriter.littleEndian32(Float(double).bitPattern, into: &out)
        case .double:
            guard let double = Self.floating(value) else { throw mismatch(path(), "double", value) }
            ByteWriter.littleEndian64(double.bitPattern, into: &out)
        case .bytes:
            guard let bytes = Self.latin1Bytes(value) else { throw mismatch(path(), "bytes", value) }
            ByteWriter.zigzag(Int64(bytes.count), into: &out)
            out += bytes
        case .string:
            guard case .string(let text) = value else { throw mismatch(path(), "string", value) }
            ByteWriter.zigzag(Int64(text.utf8.count), into: &out)
            out += text.utf8
        case .fixed(let fixed):
            guard let bytes = Self.latin1Bytes(value), bytes.count == fixed.size else {
                throw mismatch(path(), "fixed \(fixed.fullName) of \(fixed.size) bytes", value)
            }
            out += bytes
        case .enumeration(let enumeration):
            guard case .string(let symbol) = value, let index = enumeration.symbols.firstIndex(of: symbol) else {
                throw mismatch(path(), "a symbol of enum \(enumeration.fullName)", value)
            }
            ByteWriter.zigzag(Int64(index), into: &out)
        case .array(let items):
            guard case .array(let elements) = value else { throw mismatch(path(), "array", value) }
            if !elements.isEmpty {
                ByteWriter.zigzag(Int64(elements.count), into: &out)
                for (index, element) in elements.enumerated() {
                    try write(element, as: items, path: "\(path())[\(index)]", depth: depth + 1)
                }
            }
            out.append(0)
        case .map(let values):
            guard case .object(let members) = value else { throw mismatch(path(), "map", value) }
            if !members.isEmpty {
                ByteWriter.zigzag(Int64(members.count), into: &out)
                for member in members {
                    ByteWriter.zigzag(Int64(member.key.utf8.count), into: &out)
                    out += member.key.utf8
                    try write(member.value, as: values, path: "\(path()).\(member.key)", depth: depth + 1)
                }
            }
            out.append(0)
        case .record(let record):
            guard case .object = value else { throw mismatch(path(), "record \(record.fullName)", value) }
            for field in record.fields {
                let fieldPath = "\(path()).\(field.name)"
                if let member = value[field.name] {
                    try write(member, as: field.type, path: fieldPath, depth: depth + 1)
                } else if let defaultValue = field.defaultValue {
                    var writer = AvroJSONWriter(schema: schema, unions: .firstBranch)
                    try writer.write(defaultValue, as: field.type, path: fieldPath, depth: depth + 1)
                    out += writer.out
                } else {
                    throw .record("\(fieldPath): missing field of record \(record.fullName), which has no default")
                }
            }
        case .union(let branches):
            try writeUnion(value, branches: branches, path: path(), depth: depth)
        case .reference, .logical:
            preconditionFailure("resolve strips references and logical types")
        }
    }

    private mutating func writeUnion(
        _ value: JSONValue, branches: [AvroType], path: @autoclosure () -> String, depth: Int
    )
        throws(SchemaError)
    {
        if unions == .firstBranch {
            guard let first = branches.first else { throw .record("\(path()): empty union") }
            out.append(0)
            try write(value, as: first, path: path(), depth: depth + 1)
            return
        }
        if value == .null, let index = branches.firstIndex(where: { schema.resolve($0) == .null }) {
            ByteWriter.zigzag(Int64(index), into: &out)
            return
        }
        // {"<branch name>": value}: full name, or short name for named types.
        if case .object(let members) = value, members.count == 1 {
            let key = members[0].key
            let index =
                branches.firstIndex { $0.branchName == key }
                ?? branches.firstIndex { AvroType.shortName($0.branchName) == key && $0.branchName.contains(".") }
            if let index {
                ByteWriter.zigzag(Int64(index), into: &out)
                try write(members[0].value, as: branches[index], path: "\(path()).\(key)", depth: depth + 1)
                return
            }
        }
        // Untagged: the first branch that takes the value.
        for (index, branch) in branches.enumerated() {
            var attempt = AvroJSONWriter(schema: schema, unions: .tagged)
            guard (try? attempt.write(value, as: branch, path: path(), depth: depth + 1)) != nil else { continue }
            ByteWriter.zigzag(Int64(index), into: &out)
            out += attempt.out
            return
        }
        let names = branches.map(\.branchName).joined(separator: ", ")
        throw .record("\(path()): \(Self.describe(value)) fits no branch of the union [\(names)]")
    }

    private func mismatch(_ path: @autoclosure () -> String, _ expected: String, _ value: JSONValue) -> SchemaError {
        .record("\(path()): expected \(expected), got \(Self.describe(value))")
    }

    static func describe(_ value: JSONValue) -> String {
        switch value {
        case .null: "null"
        case .bool(let flag): "\(flag)"
        case .number(let text): "number \(text)"
        case .string(let text): text.count > 40 ? "a string" : "\"\(text)\""
        case .array: "an array"
        case .object: "an object"
        }
    }

    /// An integral JSON number that fits 64 bits (`1`, `1.0`, `1e3`).
    static func integer(_ value: JSONValue) -> Int64? {
        guard case .number(let text) = value else { return nil }
        if let int = Int64(text) { return int }
        guard let double = Double(text), double.rounded() == double, abs(double) < 9.2e18 else { return nil }
        return Int64(double)
    }

    /// A JSON number, or the strings Avro's JSON encoding uses for the non-finite values.
    static func floating(_ value: JSONValue) -> Double? {
        switch value {
        case .number(let text): return Double(text)
        case .string("NaN"): return .nan
        case .string("Infinity"): return .infinity
        case .string("-Infinity"): return -.infinity
        default: return nil
        }
    }

    /// Avro's JSON spelling of bytes: one code point (U+0000–U+00FF) per byte.
    static func latin1Bytes(_ value: JSONValue) -> [UInt8]? {
        guard case .string(let text) = value else { return nil }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.unicodeScalars.count)
        for scalar in text.unicodeScalars {
            guard scalar.value <= 0xFF else { return nil }
            bytes.append(UInt8(scalar.value))
        }
        return bytes
    }
}
