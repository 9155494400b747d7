/// Avro's Parsing Canonical Form (spec, "Parsing Canonical Form for Schemas"): full names, no
/// namespaces, only the attributes that matter to parsing (`name`, `type`, `fields`, `symbols`,
/// `items`, `values`, `size`) in that order, no whitespace. Two schemas are the same schema when their
/// canonical forms are equal.
enum AvroCanonicalForm {
    static func write(_ type: AvroType) -> String {
        var out = ""
        write(type, into: &out)
        return out
    }

    private static func quoted(_ text: String) -> String {
        // Names and symbols are [A-Za-z0-9_.], so no escaping is ever needed.
        "\"\(text)\""
    }

    private static func write(_ type: AvroType, into out: inout String) {
        switch type {
        case .null, .boolean, .int, .long, .float, .double, .bytes, .string:
            out += quoted(type.branchName)
        case .reference(let name):
            out += quoted(name)
        case .logical(_, let base):
            // [PRIMITIVES]/[STRIP]: logicalType is not a parsing attribute.
            write(base, into: &out)
        case .array(let items):
            out += "{\"type\":\"array\",\"items\":"
            write(items, into: &out)
            out += "}"
        case .map(let values):
            out += "{\"type\":\"map\",\"values\":"
            write(values, into: &out)
            out += "}"
        case .union(let branches):
            out += "["
            for (index, branch) in branches.enumerated() {
                if index > 0 { out += "," }
                write(branch, into: &out)
            }
            out += "]"
        case .record(let record):
            out +=
                "{\"name\":\(quoted(record.fullName)),\"type\":\(record.isError ? "\"error\"" : "\"record\""),\"fields\":["
            for (index, field) in record.fields.enumerated() {
                if index > 0 { out += "," }
                out += "{\"name\":\(quoted(field.name)),\"type\":"
                write(field.type, into: &out)
                out += "}"
            }
            out += "]}"
        case .enumeration(let enumeration):
            out += "{\"name\":\(quoted(enumeration.fullName)),\"type\":\"enum\",\"symbols\":["
            out += enumeration.symbols.map(quoted).joined(separator: ",")
            out += "]}"
        case .fixed(let fixed):
            out += "{\"name\":\(quoted(fixed.fullName)),\"type\":\"fixed\",\"size\":\(fixed.size)}"
        }
    }
}
