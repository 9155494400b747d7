package import BusCore

/// Encodes a JSON value, in the proto3 JSON mapping (https://protobuf.dev/programming-guides/json/), to
/// protobuf binary for one message of a schema. Fields are written in field-number order, as protoc's
/// generated code and Python's `SerializeToString` do; proto3 implicit-presence fields holding their
/// default value are not written.
package enum ProtobufBinaryEncoder {
    /// Encodes `value` as `messageName` (full or short name; the first message when nil, as Confluent).
    package static func encode(_ value: JSONValue, schema: ProtobufSchema, messageName: String? = nil)
        throws(SchemaError) -> [UInt8]
    {
        let message = try schema.message(named: messageName)
        var writer = ProtobufJSONWriter(schema: schema)
        try writer.write(value, message: message, path: "$", depth: 0)
        return writer.out
    }
}

struct ProtobufJSONWriter {
    let schema: ProtobufSchema
    var out: [UInt8] = []

    init(schema: ProtobufSchema) { self.schema = schema }

    mutating func write(_ value: JSONValue, message: ProtobufMessage, path: @autoclosure () -> String, depth: Int)
        throws(SchemaError)
    {
        guard depth < 64 else { throw .record("\(path()): nested too deeply") }
        guard case .object(let members) = value else {
            throw .record("\(path()): expected an object for \(message.fullName)")
        }
        var byField: [(ProtobufField, JSONValue)] = []
        var oneofsSet: [Int: String] = [:]
        for member in members {
            guard let field = message.fields.first(where: { $0.jsonName == member.key || $0.name == member.key }) else {
                throw .record("\(path()): \(message.fullName) has no field \(member.key)")
            }
            // proto3 JSON: null means the field is unset.
            if member.value == .null { continue }
            if let oneof = field.oneofIndex {
                if let other = oneofsSet[oneof] {
                    throw .record(
                        "\(path()): fields \(other) and \(field.name) of oneof \(message.oneofs[oneof]) are both set")
                }
                oneofsSet[oneof] = field.name
            }
            byField.append((field, member.value))
        }
        for (field, fieldValue) in byField.sorted(by: { $0.0.number < $1.0.number }) {
            try write(fieldValue, field: field, path: "\(path()).\(field.jsonName)", depth: depth)
        }
    }

    private mutating func write(_ value: JSONValue, field: ProtobufField, path: @autoclosure () -> String, depth: Int)
        throws(SchemaError)
    {
        let number = UInt64(field.number)
        switch field.type {
        case .map(let keyType, let valueType):
            guard case .object(let entries) = value else { throw .record("\(path()): expected an object for a map") }
            for entry in entries {
                var entryWriter = ProtobufJSONWriter(schema: schema)
                try entryWriter.writeSingle(
                    try Self.mapKey(entry.key, keyType, path: path()), type: keyType, number: 1, path: path(),
                    depth: depth,
                    always: true)
                try entryWriter.writeSingle(
                    entry.value, type: valueType, number: 2, path: "\(path()).\(entry.key)", depth: depth, always: true)
                ByteWriter.varint(number << 3 | 2, into: &out)
                ByteWriter.varint(UInt64(entryWriter.out.count), into: &out)
                out += entryWriter.out
            }
        default:
            if field.label == .repeated {
                guard case .array(let elements) = value else { throw .record("\(path()): expected an array") }
                if field.packed {
                    guard !elements.isEmpty else { return }
                    var packed: [UInt8] = []
                    for (index, element) in elements.enumerated() {
                        try Self.scalar(
                            element, type: field.type, schema: schema, path: "\(path())[\(index)]", into: &packed)
                    }
                    ByteWriter.varint(number << 3 | 2, into: &out)
                    ByteWriter.varint(UInt64(packed.count), into: &out)
                    out += packed
                } else {
                    for (index, element) in elements.enumerated() {
                        try writeSingle(
                            element, type: field.type, number: field.number, path: "\(path())[\(index)]", depth: depth,
                            always: true)
                    }
                }
            } else {
                try writeSingle(
                    value, type: field.type, number: field.number, path: path(), depth: depth,
                    always: field.tracksPresence)
            }
        }
    }

    /// One tagged value; `always` writes it even when it is the type's default.
    mutating func writeSingle(
        _ value: JSONValue, type: ProtobufFieldType, number: Int, path: @autoclosure () -> String, depth: Int,
        always: Bool
    )
        throws(SchemaError)
    {
        if case .message(let name) = type {
            guard let message = schema.messagesByName[name] else { throw .record("\(path()): unknown message \(name)") }
            var inner = ProtobufJSONWriter(schema: schema)
            try inner.write(value, message: message, path: path(), depth: depth + 1)
            ByteWriter.varint(UInt64(number) << 3 | 2, into: &out)
            ByteWriter.varint(UInt64(inner.out.count), into: &out)
            out += inner.out
            return
        }
        var body: [UInt8] = []
        try Self.scalar(value, type: type, schema: schema, path: path(), into: &body)
        if !always && Self.isDefault(body, type: type) { return }
        ByteWriter.varint(UInt64(number) << 3 | type.wireType, into: &out)
        if type.wireType == 2 { ByteWriter.varint(UInt64(body.count), into: &out) }
        out += body
    }

    /// Whether an encoded scalar body is the type's default (zero, false, empty, the 0 enum value).
    static func isDefault(_ body: [UInt8], type: ProtobufFieldType) -> Bool {
        switch type {
        case .string, .bytes: body.isEmpty
        // -0.0 is not the default: its bit pattern is written (as protoc does).
        default: body.allSatisfy { $0 == 0 }
        }
    }

    /// A scalar's bytes without tag (strings and bytes without length).
    static func scalar(
        _ value: JSONValue, type: ProtobufFieldType, schema: ProtobufSchema, path: @autoclosure () -> String,
        into out: inout [UInt8]
    )
        throws(SchemaError)
    {
        func integer(_ low: Int64, _ high: Int64) throws(SchemaError) -> Int64 {
            guard let int = Self.integer(value), int >= low, int <= high else {
                throw .record("\(path()): expected a \(type.name), got \(AvroJSONWriter.describe(value))")
            }
            return int
        }
        switch type {
        case .int32: ByteWriter.varint(UInt64(bitPattern: try integer(Int64(Int32.min), Int64(Int32.max))), into: &out)
        case .int64: ByteWriter.varint(UInt64(bitPattern: try integer(.min, .max)), into: &out)
        case .uint32: ByteWriter.varint(UInt64(try integer(0, Int64(UInt32.max))), into: &out)
        case .uint64:
            guard let unsigned = Self.unsigned(value) else { throw .record("\(path()): expected a uint64") }
            ByteWriter.varint(unsigned, into: &out)
        case .sint32: ByteWriter.zigzag(try integer(Int64(Int32.min), Int64(Int32.max)), into: &out)
        case .sint64: ByteWriter.zigzag(try integer(.min, .max), into: &out)
        case .fixed32: ByteWriter.littleEndian32(UInt32(try integer(0, Int64(UInt32.max))), into: &out)
        case .sfixed32:
            ByteWriter.littleEndian32(
                UInt32(bitPattern: Int32(try integer(Int64(Int32.min), Int64(Int32.max)))), into: &out)
        case .fixed64:
            guard let unsigned = Self.unsigned(value) else { throw .record("\(path()): expected a fixed64") }
            ByteWriter.littleEndian64(unsigned, into: &out)
        case .sfixed64: ByteWriter.littleEndian64(UInt64(bitPattern: try integer(.min, .max)), into: &out)
        case .bool:
            guard case .bool(let flag) = value else { throw .record("\(path()): expected a bool") }
            out.append(flag ? 1 : 0)
        case .float:
            guard let double = Self.floating(value) else { throw .record("\(path()): expected a float") }
            guard !double.isFinite || abs(double) <= Double(Float.greatestFiniteMagnitude) else {
                throw .record("\(path()): \(double) is out of float range")
            }
            ByteWriter.littleEndian32(Float(double).bitPattern, into: &out)
        case .double:
            guard let double = Self.floating(value) else { throw .record("\(path()): expected a double") }
            ByteWriter.littleEndian64(double.bitPattern, into: &out)
        case .string:
            guard case .string(let text) = value else { throw .record("\(path()): expected a string") }
            out += text.utf8
        case .bytes:
            guard case .string(let text) = value, let bytes = Base64.decode(text) else {
                throw .record("\(path()): expected base64 bytes")
            }
            out += bytes
        case .enumeration(let name):
            guard let enumeration = schema.enumsByName[name] else { throw .record("\(path()): unknown enum \(name)") }
            let number: Int32
            if case .string(let symbol) = value {
                guard let match = enumeration.values.first(where: { $0.name == symbol }) else {
                    throw .record("\(path()): \(symbol) is not a value of enum \(name)")
                }
                number = match.number
            } else {
                number = Int32(try integer(Int64(Int32.min), Int64(Int32.max)))
            }
            ByteWriter.varint(UInt64(bitPattern: Int64(number)), into: &out)
        case .message, .map:
            throw .record("\(path()): not a scalar")
        }
    }

    /// Proto3 JSON integers: numbers (`1`, `1.0`, `1e2`) or strings of them.
    static func integer(_ value: JSONValue) -> Int64? {
        switch value {
        case .number: return AvroJSONWriter.integer(value)
        case .string(let text): return AvroJSONWriter.integer(.number(text))
        default: return nil
        }
    }

    static func unsigned(_ value: JSONValue) -> UInt64? {
        switch value {
        case .number(let text), .string(let text):
            if let unsigned = UInt64(text) { return unsigned }
            guard let signed = AvroJSONWriter.integer(.number(text)), signed >= 0 else { return nil }
            return UInt64(signed)
        default: return nil
        }
    }

    static func floating(_ value: JSONValue) -> Double? {
        switch value {
        case .number(let text): Double(text)
        case .string(let text): AvroJSONWriter.floating(.string(text)) ?? Double(text)
        default: nil
        }
    }

    /// Map keys are JSON strings; integer and bool keys are parsed from them.
    static func mapKey(_ key: String, _ type: ProtobufFieldType, path: @autoclosure () -> String) throws(SchemaError)
        -> JSONValue
    {
        switch type {
        case .string: return .string(key)
        case .bool:
            guard key == "true" || key == "false" else { throw .record("\(path()): map key \(key) is not a bool") }
            return .bool(key == "true")
        default: return .string(key)
        }
    }
}
