/// A normalized .proto text of a parsed schema: declarations in source order with fully qualified type
/// names, one per line, comments and options (but `packed = false` and `json_name`) dropped. Equal
/// definitions written differently get the same text, which is what the registry compares.
enum ProtobufCanonicalForm {
    static func write(_ schema: ProtobufSchema) -> String {
        var out = "syntax = \"proto3\";\n"
        if !schema.packageName.isEmpty { out += "package \(schema.packageName);\n" }
        let nested = Set(schema.messagesByName.values.flatMap(\.nestedEnums))
        for enumeration in schema.enumsByName.values.sorted(by: { $0.fullName < $1.fullName })
        where !nested.contains(enumeration.fullName) {
            write(enumeration, indent: "", into: &out)
        }
        for message in schema.messages { write(message, schema: schema, indent: "", into: &out) }
        return out
    }

    private static func write(
        _ message: ProtobufMessage, schema: ProtobufSchema, indent: String, into out: inout String
    ) {
        out += "\(indent)message \(message.name) {\n"
        let inner = indent + "  "
        for name in message.nestedEnums {
            if let enumeration = schema.enumsByName[name] { write(enumeration, indent: inner, into: &out) }
        }
        for name in message.nestedMessages {
            if let nested = schema.messagesByName[name] { write(nested, schema: schema, indent: inner, into: &out) }
        }
        for field in message.fields where field.oneofIndex == nil { write(field, indent: inner, into: &out) }
        for (index, oneof) in message.oneofs.enumerated() {
            out += "\(inner)oneof \(oneof) {\n"
            for field in message.fields where field.oneofIndex == index {
                write(field, indent: inner + "  ", into: &out)
            }
            out += "\(inner)}\n"
        }
        if !message.reservedNumbers.isEmpty || !message.reservedNames.isEmpty {
            let numbers = message.reservedNumbers.map {
                $0.count == 1 ? "\($0.lowerBound)" : "\($0.lowerBound) to \($0.upperBound)"
            }
            let names = message.reservedNames.map { "\"\($0)\"" }
            out += "\(inner)reserved \((numbers + names).joined(separator: ", "));\n"
        }
        out += "\(indent)}\n"
    }

    private static func write(_ field: ProtobufField, indent: String, into out: inout String) {
        let label =
            switch field.label {
            case .singular: ""
            case .optional: "optional "
            case .repeated: if case .map = field.type { "" } else { "repeated " }
            }
        let type: String =
            switch field.type {
            case .message(let name), .enumeration(let name): "." + name
            case .map(let key, let value): "map<\(key.name), \(typeName(value))>"
            default: field.type.name
            }
        var options: [String] = []
        if field.label == .repeated, field.type.isPackable, !field.packed { options.append("packed = false") }
        if field.jsonName != ProtobufParser.lowerCamelCase(field.name) {
            options.append("json_name = \"\(field.jsonName)\"")
        }
        let suffix = options.isEmpty ? "" : " [\(options.joined(separator: ", "))]"
        out += "\(indent)\(label)\(type) \(field.name) = \(field.number)\(suffix);\n"
    }

    private static func typeName(_ type: ProtobufFieldType) -> String {
        switch type {
        case .message(let name), .enumeration(let name): "." + name
        default: type.name
        }
    }

    private static func write(_ enumeration: ProtobufEnum, indent: String, into out: inout String) {
        out += "\(indent)enum \(enumeration.name) {\n"
        for value in enumeration.values { out += "\(indent)  \(value.name) = \(value.number);\n" }
        out += "\(indent)}\n"
    }
}
