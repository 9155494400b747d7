import BusCore

/// A schema compiled once into typed validator nodes, for the publish path's yes/no question ("is this
/// payload valid?") at a few hundred nanoseconds: every keyword read and converted up front, regular
/// expressions compiled, `$ref` targets linked by node index, and the instance read from a `JSONTape`
/// rather than a tree. The verdict is the evaluator's (`JSONSchemaEvaluator`), keyword for keyword;
/// why an instance is invalid is still asked of the evaluator, off the fast path.
///
/// Not compiled (`JSONSchema.compiled` is nil, the evaluator answers): schemas that use `$dynamicRef`
/// (its target depends on the dynamic scope) or whose metaschema turns the validation vocabulary off. A
/// subschema with `unevaluatedProperties`/`unevaluatedItems` becomes one `interpreted` node that hands
/// its part of the instance to the evaluator, which tracks the annotations those keywords need; the
/// rest of the schema stays compiled and tracks none.
///
/// A class, immutable after `init`: a `JSONSchema` copied on the publish path retains it once rather
/// than each of its arrays and dictionaries.
package final class CompiledJSONSchema: Sendable {
    /// Every node; subschemas and `$ref` targets are indices into it.
    let nodes: [Node]
    let root: Int
    /// For `interpreted` nodes: their subschemas and base URIs, and what the evaluator needs.
    let interpreted: [(JSONValue, String)]
    let index: JSONSchemaIndex
    let patterns: [String: SchemaPattern]

    init(
        nodes: [Node], root: Int, interpreted: [(JSONValue, String)], index: JSONSchemaIndex,
        patterns: [String: SchemaPattern]
    ) {
        self.nodes = nodes
        self.root = root
        self.interpreted = interpreted
        self.index = index
        self.patterns = patterns
    }

    /// One subschema's keywords, in the forms evaluation needs. Absent keywords are nil or empty.
    struct Node: Sendable {
        enum Shape: Sendable {
            /// `true`, `{}` and anything that is not a schema object.
            case alwaysValid
            /// `false`, or a `$ref` that resolves nowhere (it fails whenever it is reached).
            case alwaysInvalid
            case keywords
            /// Evaluated by `JSONSchemaEvaluator`: the subschema and its base URI are `interpreted[n]`.
            case interpreted(Int)
        }

        var shape: Shape = .keywords
        var reference: Int?
        /// Bits of `TypeMask`; nil when `type` is absent.
        var types: UInt8?
        var enumOptions: [SchemaConstant]?
        var constant: SchemaConstant?
        // Numbers.
        var multipleOf: JSONNumber?
        var multipleOfDecimal: JSONDecimal?
        var maximum: Double?
        var exclusiveMaximum: Double?
        var minimum: Double?
        var exclusiveMinimum: Double?
        var hasNumberKeywords = false
        // Strings.
        var maxLength: Int?
        var minLength: Int?
        var pattern: SchemaPattern?
        var hasStringKeywords = false
        // Arrays.
        var maxItems: Int?
        var minItems: Int?
        var uniqueItems = false
        var prefixItems: [Int] = []
        var restItems: Int?
        var contains: Int?
        var minContains = 1
        var maxContains: Int?
        var hasArrayKeywords = false
        // Objects.
        var maxProperties: Int?
        var minProperties: Int?
        var required: [SchemaKey] = []
        var dependentRequired: [(SchemaKey, [SchemaKey])] = []
        var dependentSchemas: [(SchemaKey, Int)] = []
        var propertyNames: Int?
        var properties: [(SchemaKey, Int)] = []
        var patternProperties: [(SchemaPattern, Int)] = []
        var additionalProperties: Int?
        /// Some name in `properties`, `required`, `dependent*` is not ASCII: member names are then compared
        /// as `String`s (canonical equivalence, as `JSONValue`'s subscript compares them).
        var namesNeedStrings = false
        var hasObjectKeywords = false
        // In-place applicators.
        var allOf: [Int] = []
        var anyOf: [Int]?
        var oneOf: [Int]?
        var not: Int?
        var condition: Int?
        var then: Int?
        var otherwise: Int?
    }

    /// `type` names as bits.
    enum TypeMask {
        static let null: UInt8 = 1
        static let boolean: UInt8 = 2
        static let number: UInt8 = 4
        static let integer: UInt8 = 8
        static let string: UInt8 = 16
        static let array: UInt8 = 32
        static let object: UInt8 = 64

        static func bit(_ name: String) -> UInt8 {
            switch name {
            case "null": null
            case "boolean": boolean
            case "number": number
            case "integer": integer
            case "string": string
            case "array": array
            case "object": object
            default: 0
            }
        }
    }
}

/// A member name a schema mentions, ready for comparing with a tape's names.
struct SchemaKey: Sendable {
    let string: String
    let bytes: [UInt8]
    let isASCII: Bool

    init(_ string: String) {
        self.string = string
        bytes = Array(string.utf8)
        isASCII = bytes.allSatisfy { $0 < 0x80 }
    }
}
