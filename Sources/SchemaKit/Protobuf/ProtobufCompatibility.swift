/// Protobuf schema compatibility for the common cases of Confluent's `ProtobufSchema` diff
/// (`io.confluent.kafka.schemaregistry.protobuf.diff`): messages matched by full name, fields by
/// number. Incompatible: PACKAGE_CHANGED, MESSAGE_REMOVED, FIELD_KIND_CHANGED (scalar ⇄ message ⇄
/// enum ⇄ map), FIELD_SCALAR_KIND_CHANGED outside a wire-compatible group, FIELD_NAMED_TYPE_CHANGED,
/// FIELD_LABEL_CHANGED (repeated ⇄ singular for non length-delimited types), FIELD_MOVED_TO_EXISTING_ONEOF,
/// MULTIPLE_FIELDS_MOVED_TO_ONEOF, ONEOF_FIELD_REMOVED. Compatible: FIELD_ADDED, FIELD_REMOVED,
/// FIELD_NAME_CHANGED, enum constants added or removed, a single field moved into a new oneof, changes
/// within the groups {int32, uint32, int64, uint64, bool, enums}, {sint32, sint64}, {fixed32, sfixed32},
/// {fixed64, sfixed64}, {string, bytes}.
package enum ProtobufCompatibility {
    /// Why data written with `writer` cannot be read with `reader`; empty when it can.
    package static func incompatibilities(reader: ProtobufSchema, writer: ProtobufSchema) -> [String] {
        var problems: [String] = []
        if reader.packageName != writer.packageName {
            problems.append("PACKAGE_CHANGED: \(writer.packageName) → \(reader.packageName)")
        }
        for (name, writerMessage) in writer.messagesByName.sorted(by: { $0.key < $1.key }) {
            let readerName =
                reader.packageName == writer.packageName
                ? name : Self.rename(name, writer.packageName, reader.packageName)
            guard let readerMessage = reader.messagesByName[readerName] else {
                problems.append("MESSAGE_REMOVED: \(name)")
                continue
            }
            compare(readerMessage, writerMessage, reader: reader, writer: writer, into: &problems)
        }
        return problems
    }

    private static func rename(_ name: String, _ from: String, _ to: String) -> String {
        guard !from.isEmpty, name.hasPrefix(from + ".") else { return to.isEmpty ? name : "\(to).\(name)" }
        let rest = name.dropFirst(from.count + 1)
        return to.isEmpty ? String(rest) : "\(to).\(rest)"
    }

    private static func compare(
        _ readerMessage: ProtobufMessage, _ writerMessage: ProtobufMessage, reader: ProtobufSchema,
        writer: ProtobufSchema,
        into problems: inout [String]
    ) {
        let at = writerMessage.fullName
        var movedToNewOneof: [Int: Int] = [:]
        for writerField in writerMessage.fields {
            guard let readerField = readerMessage.field(number: writerField.number) else { continue }  // FIELD_REMOVED
            let where_ = "\(at).\(writerField.name) (#\(writerField.number))"
            switch (readerField.type, writerField.type) {
            case (.message(let r), .message(let w)):
                if shortName(r) != shortName(w) {
                    problems.append("FIELD_NAMED_TYPE_CHANGED at \(where_): \(w) → \(r)")
                }
            case (.map(let rk, let rv), .map(let wk, let wv)):
                if rk != wk || kindGroup(rv) != kindGroup(wv) {
                    problems.append(
                        "FIELD_KIND_CHANGED at \(where_): \(writerField.type.name) → \(readerField.type.name)")
                }
            case (.message, _), (_, .message), (.map, _), (_, .map):
                problems.append("FIELD_KIND_CHANGED at \(where_): \(writerField.type.name) → \(readerField.type.name)")
            default:
                if kindGroup(readerField.type) != kindGroup(writerField.type) {
                    problems.append(
                        "FIELD_SCALAR_KIND_CHANGED at \(where_): \(writerField.type.name) → \(readerField.type.name)")
                }
            }
            if (readerField.label == .repeated) != (writerField.label == .repeated), writerField.type.wireType != 2 {
                problems.append("FIELD_LABEL_CHANGED at \(where_): repeated ⇄ singular")
            }
            if writerField.oneofIndex == nil, let oneof = readerField.oneofIndex {
                let name = readerMessage.oneofs[oneof]
                if writerMessage.oneofs.contains(name) {
                    problems.append("FIELD_MOVED_TO_EXISTING_ONEOF at \(where_): into \(name)")
                } else {
                    movedToNewOneof[oneof, default: 0] += 1
                }
            }
        }
        // ONEOF_FIELD_REMOVED: a oneof both declare must keep every writer member inside a oneof.
        for (index, oneof) in writerMessage.oneofs.enumerated() where readerMessage.oneofs.contains(oneof) {
            for writerField in writerMessage.fields where writerField.oneofIndex == index {
                if readerMessage.field(number: writerField.number)?.oneofIndex == nil {
                    problems.append("ONEOF_FIELD_REMOVED at \(at).\(oneof): #\(writerField.number)")
                }
            }
        }
        for (oneof, count) in movedToNewOneof where count > 1 {
            problems.append(
                "MULTIPLE_FIELDS_MOVED_TO_ONEOF at \(at): \(count) fields into \(readerMessage.oneofs[oneof])")
        }
    }

    private static func shortName(_ name: String) -> Substring { name.split(separator: ".").last ?? Substring(name) }

    /// Scalars that read each other's wire values.
    private static func kindGroup(_ type: ProtobufFieldType) -> String {
        switch type {
        // Enums are varints on the wire: an enum reads an int32 and back (as Confluent's diff allows).
        case .int32, .uint32, .int64, .uint64, .bool, .enumeration: "varint"
        case .sint32, .sint64: "zigzag"
        case .fixed32, .sfixed32: "fixed32"
        case .fixed64, .sfixed64: "fixed64"
        case .string, .bytes: "length"
        case .float: "float"
        case .double: "double"
        case .message(let name): "message " + String(shortName(name))
        case .map(let key, let value): "map \(kindGroup(key)) \(kindGroup(value))"
        }
    }
}
