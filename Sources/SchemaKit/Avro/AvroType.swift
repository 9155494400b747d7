package import BusCore

/// One node of a parsed Avro schema (https://avro.apache.org/docs/1.11.1/specification/).
/// A named type (record, enum, fixed) appears in full where it is first defined and as `.reference`
/// everywhere after, exactly as the schema's JSON spells it; `AvroSchema.namedTypes` resolves references.
package indirect enum AvroType: Sendable, Hashable {
    case null, boolean, int, long, float, double, bytes, string
    /// A record: a fixed list of named fields.
    case record(AvroRecord)
    /// An enum: one of a list of symbols.
    case enumeration(AvroEnum)
    /// A fixed-size byte string.
    case fixed(AvroFixed)
    /// An array of `items`.
    case array(AvroType)
    /// A map from strings to `values`.
    case map(AvroType)
    /// One of several branches, chosen by index.
    case union([AvroType])
    /// A named type defined elsewhere in the schema, by full name.
    case reference(String)
    /// A logical type: an annotation on `base` that changes nothing on the wire
    /// (`decimal`, `uuid`, `date`, `timestamp-millis`, …).
    case logical(AvroLogicalType, AvroType)

    /// The primitive type names of the spec.
    static let primitives: [String: AvroType] = [
        "null": .null, "boolean": .boolean, "int": .int, "long": .long, "float": .float, "double": .double,
        "bytes": .bytes, "string": .string,
    ]

    /// The name a union branch goes by in Avro's JSON encoding (`{"int": 1}`, `{"com.x.User": {...}}`).
    var branchName: String {
        switch self {
        case .null: "null"
        case .boolean: "boolean"
        case .int: "int"
        case .long: "long"
        case .float: "float"
        case .double: "double"
        case .bytes: "bytes"
        case .string: "string"
        case .record(let record): record.fullName
        case .enumeration(let enumeration): enumeration.fullName
        case .fixed(let fixed): fixed.fullName
        case .array: "array"
        case .map: "map"
        case .union: "union"
        case .reference(let name): name
        case .logical(_, let base): base.branchName
        }
    }
}

/// A logical type annotation and its parameters.
package struct AvroLogicalType: Sendable, Hashable {
    /// `decimal`, `uuid`, `date`, `time-millis`, `time-micros`, `timestamp-millis`, …
    package var name: String
    /// `decimal` only.
    package var precision: Int?
    /// `decimal` only (0 when absent).
    package var scale: Int?
}

/// An Avro record type.
package struct AvroRecord: Sendable, Hashable {
    /// Namespace-qualified name.
    package var fullName: String
    /// Other full names readers may know it by.
    package var aliases: [String]
    /// The fields in declaration (and wire) order.
    package var fields: [AvroField]
    /// `error` rather than `record` (protocol errors; encoded the same).
    package var isError: Bool
}

/// One field of a record.
package struct AvroField: Sendable, Hashable {
    package var name: String
    package var type: AvroType
    /// The default a reader uses when the writer lacks the field, in Avro's JSON default form.
    package var defaultValue: JSONValue?
    /// Other names of the field a reader matches writer fields by.
    package var aliases: [String]
}

/// An Avro enum type.
package struct AvroEnum: Sendable, Hashable {
    package var fullName: String
    package var aliases: [String]
    package var symbols: [String]
    /// The symbol a reader uses for a writer's symbol it does not know.
    package var defaultSymbol: String?
}

/// An Avro fixed type.
package struct AvroFixed: Sendable, Hashable {
    package var fullName: String
    package var aliases: [String]
    package var size: Int
}

extension AvroType {
    /// The short name of a full name (`com.x.User` → `User`).
    static func shortName(_ fullName: String) -> Substring {
        fullName.split(separator: ".", omittingEmptySubsequences: false).last ?? Substring(fullName)
    }
}
