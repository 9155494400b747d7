import BusCore

/// A parsed .proto file (proto3): its package and messages, with every field's type resolved to a
/// scalar, an enum or a message by full name. Parse with `init(parsing:)`; encode and decode with
/// `ProtobufBinaryEncoder`/`ProtobufBinaryDecoder`.
package struct ProtobufSchema: Sendable, Hashable {
    /// The `package` declaration, empty when none.
    package var packageName: String
    /// Top-level messages in file order (message index `[i]` is `messages[i]`).
    package var messages: [ProtobufMessage]
    /// Every message, nested ones included, by full name (without a leading dot).
    package var messagesByName: [String: ProtobufMessage]
    /// Every enum by full name.
    package var enumsByName: [String: ProtobufEnum]

    /// Parses .proto text. Imports are refused: a schema must be self-contained.
    package init(parsing text: String) throws(SchemaError) {
        var parser = try ProtobufParser(text)
        self = try parser.parseFile()
    }

    init(
        packageName: String, messages: [ProtobufMessage], messagesByName: [String: ProtobufMessage],
        enumsByName: [String: ProtobufEnum]
    ) {
        self.packageName = packageName
        self.messages = messages
        self.messagesByName = messagesByName
        self.enumsByName = enumsByName
    }

    /// The message a Confluent message-index path names: `[0]` is the first top-level message,
    /// `[1, 0]` the first message nested in the second.
    package func message(at indexes: [Int]) throws(SchemaError) -> ProtobufMessage {
        var candidates = messages
        var found: ProtobufMessage?
        for index in indexes {
            guard index >= 0, index < candidates.count else {
                throw .record("no message at index path \(indexes)")
            }
            found = candidates[index]
            candidates = candidates[index].nestedMessages.compactMap { messagesByName[$0] }
        }
        guard let found else { throw .record("empty message index path") }
        return found
    }

    /// The index path of a message by full name (Confluent writes it before the payload).
    package func indexes(of fullName: String) -> [Int]? {
        func search(_ names: [String], _ prefix: [Int]) -> [Int]? {
            for (index, name) in names.enumerated() {
                if name == fullName { return prefix + [index] }
                if let message = messagesByName[name], let path = search(message.nestedMessages, prefix + [index]) {
                    return path
                }
            }
            return nil
        }
        return search(messages.map(\.fullName), [])
    }

    /// A message by full or short name, the first top-level message when `name` is nil (as Confluent).
    package func message(named name: String?) throws(SchemaError) -> ProtobufMessage {
        guard let name else {
            guard let first = messages.first else { throw .schema("the schema defines no message") }
            return first
        }
        let trimmed = name.hasPrefix(".") ? String(name.dropFirst()) : name
        if let message = messagesByName[trimmed] { return message }
        if let message = messagesByName[packageName.isEmpty ? trimmed : "\(packageName).\(trimmed)"] { return message }
        throw .record("the schema has no message \(name)")
    }

    /// A canonical text of the schema (declarations in order, no comments or options but `packed`),
    /// so equal definitions compare equal whatever their formatting.
    package var canonicalForm: String { ProtobufCanonicalForm.write(self) }
}

/// One message type.
package struct ProtobufMessage: Sendable, Hashable {
    package var name: String
    package var fullName: String
    package var fields: [ProtobufField]
    /// The oneofs, by name in declaration order; a field's `oneofIndex` points here.
    package var oneofs: [String]
    /// Full names of the messages declared inside this one, in order (not map entries).
    package var nestedMessages: [String]
    /// Full names of enums declared inside.
    package var nestedEnums: [String]
    package var reservedNumbers: [ClosedRange<Int>]
    package var reservedNames: [String]

    package func field(number: Int) -> ProtobufField? { fields.first { $0.number == number } }
}

/// One field of a message.
package struct ProtobufField: Sendable, Hashable {
    /// How many values and whether presence is tracked.
    package enum Label: Sendable, Hashable {
        /// Proto3 implicit presence: the default value is not written.
        case singular
        /// `optional`: presence tracked, the default is written when set.
        case optional
        case repeated
    }

    package var name: String
    package var number: Int
    package var label: Label
    package var type: ProtobufFieldType
    /// The oneof (index into `ProtobufMessage.oneofs`) the field belongs to.
    package var oneofIndex: Int?
    /// Repeated scalars are packed unless `[packed = false]`.
    package var packed: Bool
    /// The proto3 JSON name: `json_name` or lowerCamelCase of `name`.
    package var jsonName: String

    /// Whether the field is written even when it holds the default value.
    var tracksPresence: Bool { label == .optional || oneofIndex != nil }
}

/// A field's type.
package indirect enum ProtobufFieldType: Sendable, Hashable {
    case double, float, int64, uint64, int32, fixed64, fixed32, bool, string, bytes, uint32, sfixed32, sfixed64
    case sint32, sint64
    /// A message, by full name.
    case message(String)
    /// An enum, by full name.
    case enumeration(String)
    /// `map<key, value>`: a repeated entry message with fields 1 (key) and 2 (value) on the wire.
    case map(key: ProtobufFieldType, value: ProtobufFieldType)

    static let scalars: [String: ProtobufFieldType] = [
        "double": .double, "float": .float, "int64": .int64, "uint64": .uint64, "int32": .int32, "fixed64": .fixed64,
        "fixed32": .fixed32, "bool": .bool, "string": .string, "bytes": .bytes, "uint32": .uint32,
        "sfixed32": .sfixed32, "sfixed64": .sfixed64, "sint32": .sint32, "sint64": .sint64,
    ]

    /// The wire type a single value is written with (protobuf encoding guide, "Message Structure").
    var wireType: UInt64 {
        switch self {
        case .int32, .int64, .uint32, .uint64, .sint32, .sint64, .bool, .enumeration: 0
        case .fixed64, .sfixed64, .double: 1
        case .string, .bytes, .message, .map: 2
        case .fixed32, .sfixed32, .float: 5
        }
    }

    /// Whether repeated values of this type can be packed (numeric scalars and enums).
    var isPackable: Bool { wireType != 2 }

    var name: String {
        switch self {
        case .message(let name), .enumeration(let name): name
        case .map(let key, let value): "map<\(key.name), \(value.name)>"
        default: ProtobufFieldType.scalars.first { $0.value == self }?.key ?? "?"
        }
    }
}

/// One enum type.
package struct ProtobufEnum: Sendable, Hashable {
    package var name: String
    package var fullName: String
    /// Values in declaration order; the first is the default (proto3 requires it to be 0).
    package var values: [(name: String, number: Int32)]

    package static func == (left: ProtobufEnum, right: ProtobufEnum) -> Bool {
        left.fullName == right.fullName && left.values.map(\.name) == right.values.map(\.name)
            && left.values.map(\.number) == right.values.map(\.number)
    }

    package func hash(into hasher: inout Hasher) {
        hasher.combine(fullName)
        for value in values {
            hasher.combine(value.name)
            hasher.combine(value.number)
        }
    }
}
