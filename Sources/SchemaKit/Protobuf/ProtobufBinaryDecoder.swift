package import BusCore

/// How decoded messages are written as proto3 JSON.
package struct ProtobufJSONOptions: Sendable, Hashable {
    /// Write implicit-presence fields holding their default (0, "", false, [], {}), as Confluent's
    /// REST proxy does (`JsonFormat.printer().includingDefaultValueFields()`).
    package var includeDefaults: Bool
    /// Member names as declared (`user_id`) rather than lowerCamelCase (`userId`).
    package var preserveFieldNames: Bool

    package init(includeDefaults: Bool = true, preserveFieldNames: Bool = false) {
        self.includeDefaults = includeDefaults
        self.preserveFieldNames = preserveFieldNames
    }
}

/// Decodes protobuf binary to proto3 JSON: 64-bit integers as strings, bytes as base64, enums by name
/// (by number when unknown), NaN and the infinities as strings. Unknown fields are skipped; a repeated
/// scalar is read packed or unpacked; a message field seen twice is merged, as protobuf parsers do.
package enum ProtobufBinaryDecoder {
    package static func decode(
        _ bytes: [UInt8], schema: ProtobufSchema, messageName: String? = nil, options: ProtobufJSONOptions = .init(),
        limits: SchemaDecodingLimits = .default
    ) throws(SchemaError) -> JSONValue {
        let message = try schema.message(named: messageName)
        var budget = limits.maxValues
        return try ProtobufBinaryReader(schema: schema, options: options, limits: limits)
            .read(bytes[...], message: message, depth: 0, budget: &budget)
    }
}

struct ProtobufBinaryReader {
    let schema: ProtobufSchema
    let options: ProtobufJSONOptions
    let limits: SchemaDecodingLimits

    func read(_ bytes: ArraySlice<UInt8>, message: ProtobufMessage, depth: Int, budget: inout Int) throws(SchemaError)
        -> JSONValue
    {
        guard depth < limits.maxDepth else { throw .record("message nested more than \(limits.maxDepth) deep") }
        var reader = ByteReader(Array(bytes))
        // Per field number: the values read, in order; message payloads are concatenated to merge them.
        var values: [Int: [JSONValue]] = [:]
        var messageBytes: [Int: [UInt8]] = [:]
        var mapEntries: [Int: [JSONField]] = [:]
        var oneofChosen: [Int: Int] = [:]
        while !reader.isAtEnd {
            budget -= 1
            guard budget >= 0 else { throw .record("more than \(limits.maxValues) values") }
            let tag = try reader.varint()
            let wireType = tag & 7
            guard tag >> 3 >= 1, tag >> 3 <= 536_870_911 else { throw .record("invalid field number \(tag >> 3)") }
            let number = Int(tag >> 3)
            guard let field = message.field(number: number) else {
                try Self.skip(wireType: wireType, reader: &reader)
                continue
            }
            if let oneof = field.oneofIndex {
                // The last oneof member on the wire wins.
                if let previous = oneofChosen[oneof], previous != number {
                    values[previous] = nil
                    messageBytes[previous] = nil
                }
                oneofChosen[oneof] = number
            }
            switch field.type {
            case .map(let keyType, let valueType):
                guard wireType == 2 else { throw .record("map field \(field.name) with wire type \(wireType)") }
                let entry = try Self.lengthDelimited(&reader)
                let (key, value) = try readMapEntry(
                    entry, keyType: keyType, valueType: valueType, depth: depth, budget: &budget)
                mapEntries[number, default: []].removeAll { $0.key == key }
                mapEntries[number, default: []].append(JSONField(key: key, value: value))
            case .message:
                guard wireType == 2 else { throw .record("message field \(field.name) with wire type \(wireType)") }
                let payload = try Self.lengthDelimited(&reader)
                if field.label == .repeated {
                    values[number, default: []].append(
                        try value(payload, type: field.type, depth: depth, budget: &budget))
                } else {
                    messageBytes[number, default: []] += payload
                }
            default:
                if field.label == .repeated && wireType == 2 && field.type.isPackable {
                    var packed = ByteReader(Array(try Self.lengthDelimited(&reader)))
                    while !packed.isAtEnd {
                        budget -= 1
                        guard budget >= 0 else { throw .record("more than \(limits.maxValues) values") }
                        values[number, default: []].append(try scalar(&packed, type: field.type))
                    }
                } else {
                    guard wireType == field.type.wireType else {
                        throw .record("field \(field.name) has wire type \(wireType), expected \(field.type.wireType)")
                    }
                    let value = try scalar(&reader, type: field.type)
                    if field.label == .repeated {
                        values[number, default: []].append(value)
                    } else {
                        values[number] = [value]
                    }
                }
            }
        }
        var members: [JSONField] = []
        for field in message.fields {
            let key = options.preserveFieldNames ? field.name : field.jsonName
            if case .map = field.type {
                if let entries = mapEntries[field.number] {
                    members.append(JSONField(key: key, value: .object(entries)))
                } else if options.includeDefaults {
                    members.append(JSONField(key: key, value: .object([])))
                }
            } else if let payload = messageBytes[field.number] {
                members.append(
                    JSONField(key: key, value: try value(payload[...], type: field.type, depth: depth, budget: &budget))
                )
            } else if field.label == .repeated {
                if let list = values[field.number] {
                    members.append(JSONField(key: key, value: .array(list)))
                } else if options.includeDefaults {
                    members.append(JSONField(key: key, value: .array([])))
                }
            } else if let list = values[field.number], let last = list.last {
                members.append(JSONField(key: key, value: last))
            } else if options.includeDefaults, !field.tracksPresence, let defaultValue = defaultJSON(field.type) {
                members.append(JSONField(key: key, value: defaultValue))
            }
        }
        return .object(members)
    }

    private func readMapEntry(
        _ bytes: ArraySlice<UInt8>, keyType: ProtobufFieldType, valueType: ProtobufFieldType, depth: Int,
        budget: inout Int
    ) throws(SchemaError) -> (String, JSONValue) {
        var reader = ByteReader(Array(bytes))
        var key: JSONValue?
        var value: JSONValue?
        var valueBytes: [UInt8]?
        while !reader.isAtEnd {
            let tag = try reader.varint()
            let wireType = tag & 7
            switch tag >> 3 {
            case 1:
                guard wireType == keyType.wireType else { throw .record("map key with wire type \(wireType)") }
                key = try scalar(&reader, type: keyType)
            case 2:
                if case .message = valueType {
                    guard wireType == 2 else { throw .record("map value with wire type \(wireType)") }
                    valueBytes = (valueBytes ?? []) + (try Self.lengthDelimited(&reader))
                } else {
                    guard wireType == valueType.wireType else { throw .record("map value with wire type \(wireType)") }
                    value = try scalar(&reader, type: valueType)
                }
            default:
                try Self.skip(wireType: wireType, reader: &reader)
            }
        }
        if let valueBytes { value = try self.value(valueBytes[...], type: valueType, depth: depth, budget: &budget) }
        let keyJSON = key ?? defaultJSON(keyType) ?? .string("")
        let keyText: String =
            switch keyJSON {
            case .string(let text): text
            case .number(let text): text
            case .bool(let flag): flag ? "true" : "false"
            default: ""
            }
        // An entry without a value holds the value type's default: for a message, an empty one.
        if value == nil, case .message = valueType {
            value = try self.value([], type: valueType, depth: depth, budget: &budget)
        }
        return (keyText, value ?? defaultJSON(valueType) ?? .null)
    }

    private func value(_ bytes: ArraySlice<UInt8>, type: ProtobufFieldType, depth: Int, budget: inout Int)
        throws(SchemaError)
        -> JSONValue
    {
        guard case .message(let name) = type, let message = schema.messagesByName[name] else {
            throw .record("unknown message type \(type.name)")
        }
        return try read(bytes, message: message, depth: depth + 1, budget: &budget)
    }

    /// One scalar value in proto3 JSON.
    func scalar(_ reader: inout ByteReader, type: ProtobufFieldType) throws(SchemaError) -> JSONValue {
        switch type {
        case .int32:
            // int32 is sign-extended to 64 bits on the wire; truncation is what parsers do.
            return .number(String(Int32(truncatingIfNeeded: try reader.varint())))
        case .int64: return .string(String(Int64(bitPattern: try reader.varint())))
        case .uint32: return .number(String(UInt32(truncatingIfNeeded: try reader.varint())))
        case .uint64: return .string(String(try reader.varint()))
        case .sint32: return .number(String(Int32(truncatingIfNeeded: try reader.zigzag())))
        case .sint64: return .string(String(try reader.zigzag()))
        case .fixed32: return .number(String(try reader.littleEndian32()))
        case .sfixed32: return .number(String(Int32(bitPattern: try reader.littleEndian32())))
        case .fixed64: return .string(String(try reader.littleEndian64()))
        case .sfixed64: return .string(String(Int64(bitPattern: try reader.littleEndian64())))
        case .bool: return .bool(try reader.varint() != 0)
        case .float:
            let bits = try reader.littleEndian32()
            // +0.0 written out is the default a reader gets when it is left out (what proto3 writers do,
            // ours included): the same JSON either way, so a value reads the same however it was written.
            if bits == 0 { return .number("0") }
            let float = Float(bitPattern: bits)
            return AvroBinaryReader.number(Double(float), text: "\(float)")
        case .double:
            let bits = try reader.littleEndian64()
            if bits == 0 { return .number("0") }
            let double = Double(bitPattern: bits)
            return AvroBinaryReader.number(double, text: "\(double)")
        case .string:
            let bytes = try Self.lengthDelimited(&reader)
            guard let text = String(validating: bytes, as: UTF8.self) else { throw .record("string is not UTF-8") }
            return .string(text)
        case .bytes:
            return .string(Base64.encode(try Self.lengthDelimited(&reader)))
        case .enumeration(let name):
            let number = Int32(truncatingIfNeeded: try reader.varint())
            if let value = schema.enumsByName[name]?.values.first(where: { $0.number == number }) {
                return .string(value.name)
            }
            return .number(String(number))
        case .message, .map:
            throw .record("not a scalar")
        }
    }

    /// The proto3 JSON of a type's default value (nil for messages, which have none).
    func defaultJSON(_ type: ProtobufFieldType) -> JSONValue? {
        switch type {
        case .int32, .uint32, .sint32, .fixed32, .sfixed32, .float, .double: .number("0")
        case .int64, .uint64, .sint64, .fixed64, .sfixed64: .string("0")
        case .bool: .bool(false)
        case .string, .bytes: .string("")
        case .enumeration(let name): schema.enumsByName[name]?.values.first.map { .string($0.name) } ?? .number("0")
        case .message, .map: nil
        }
    }

    static func lengthDelimited(_ reader: inout ByteReader) throws(SchemaError) -> ArraySlice<UInt8> {
        let length = try reader.varint()
        guard length <= UInt64(reader.remaining) else { throw .record("length \(length) exceeds the bytes left") }
        return try reader.bytes(Int(length))
    }

    /// Skips an unknown field's value. Groups (wire types 3 and 4) are proto2 and refused.
    static func skip(wireType: UInt64, reader: inout ByteReader) throws(SchemaError) {
        switch wireType {
        case 0: _ = try reader.varint()
        case 1: _ = try reader.bytes(8)
        case 2: _ = try lengthDelimited(&reader)
        case 5: _ = try reader.bytes(4)
        default: throw .record("unsupported wire type \(wireType)")
        }
    }
}
