package import BusCore

/// A JSON Schema (draft 2020-12, plus the draft-07 keywords Confluent users still send: `definitions`,
/// `dependencies`, `items` as an array with `additionalItems`), indexed for `$ref` and ready to
/// validate instances. References resolve inside the schema and against `references` (other documents by
/// URI, e.g. a registry's referenced subjects); nothing is fetched.
package struct JSONSchema: Sendable {
    /// The schema document.
    package let root: JSONValue
    /// The base URI the root is resolved against when it has no absolute `$id`.
    /// Hierarchical, so a relative `$ref` (`address.json`, as Confluent schema references are named)
    /// resolves to a sibling (`switchboard:/schemas/address.json`); never fetched.
    package static let defaultBaseURI = "switchboard:/schemas/root.json"
    let index: JSONSchemaIndex
    /// Every `pattern` and `patternProperties` regular expression, compiled once (by source text).
    let patterns: [String: SchemaPattern]
    /// The schema as validator nodes, for `isValid(_: JSONTape)`; nil when only the evaluator can
    /// answer (`$dynamicRef`, the validation vocabulary turned off).
    package let compiled: CompiledJSONSchema?

    /// Parses schema text; `references` maps URIs (absolute, or relative to the root's default base)
    /// to documents `$ref` may point into.
    package init(parsing text: String, references: [String: JSONValue] = [:]) throws(SchemaError) {
        let json: JSONValue
        do {
            json = try Array(text.utf8).withUnsafeBytes { bytes throws(JSONError) in try JSONParser.parse(bytes) }
        } catch {
            throw .schema("schema is not JSON: \(error)")
        }
        try self.init(json: json, references: references)
    }

    package init(json: JSONValue, references: [String: JSONValue] = [:]) throws(SchemaError) {
        switch json {
        case .object, .bool: break
        default: throw .schema("a JSON schema must be an object or a boolean")
        }
        root = json
        var index = JSONSchemaIndex()
        for (uri, document) in references.sorted(by: { $0.key < $1.key }) {
            // A relative key ("address.json") names a sibling of the root.
            let absolute = SchemaURI.resolve(uri, against: Self.defaultBaseURI)
            try index.add(document, base: SchemaURI.split(absolute).0, checked: false)
        }
        index.baseOfRoot = nil  // set by the root's own $id, not a supplied document's
        try index.add(json, base: Self.defaultBaseURI)
        index.rootBase = index.baseOfRoot ?? Self.defaultBaseURI
        try index.checkReferences()
        if case .string(let metaschema)? = json["$schema"],
            case .object(let vocabularies)? = index.resources[SchemaURI.split(metaschema).0]?["$vocabulary"]
        {
            index.assertsValidation = vocabularies.contains { $0.key.hasSuffix("/vocab/validation") }
        }
        var patterns: [String: SchemaPattern] = [:]
        for source in index.patterns {
            guard let pattern = SchemaPattern(source) else {
                throw .schema("pattern \(source) is not a valid regular expression")
            }
            patterns[source] = pattern
        }
        self.index = index
        self.patterns = patterns
        compiled = CompiledJSONSchema(root: json, index: index, patterns: patterns)
    }

    /// Every violation of the schema by `instance`; empty when the instance is valid.
    package func violations(of instance: JSONValue) -> [JSONSchemaViolation] {
        var evaluator = JSONSchemaEvaluator(index: index, patterns: patterns)
        if evaluator.evaluate(instance, root, base: index.rootBase, path: "") != nil { return [] }
        return evaluator.errors.isEmpty
            ? [JSONSchemaViolation(path: "", message: "instance is not valid")] : evaluator.errors
    }

    /// Whether `instance` is valid.
    package func isValid(_ instance: JSONValue) -> Bool { violations(of: instance).isEmpty }

    /// Whether the document on `tape` is valid, by the compiled validator: the publish path's question,
    /// answered without building a tree. Nil when the schema is not compiled; ask `violations(of:)`.
    /// The verdict is always `violations(of:)`'s; a refusal's path and message come from there too.
    package func isValid(_ tape: JSONTape) -> Bool? { compiled?.isValid(tape) }

    /// Throws `invalidRecord` naming the first violation when `instance` is not valid.
    package func validate(_ instance: JSONValue) throws(SchemaError) {
        if let first = violations(of: instance).first { throw .record(first.description) }
    }
}

/// One way an instance breaks its schema: where and why.
package struct JSONSchemaViolation: Sendable, Hashable, CustomStringConvertible {
    /// The instance location as a JSON Pointer (RFC 6901): `""` is the whole instance, `/a/0` the first
    /// item of member `a`; `~` and `/` in member names are written `~0` and `~1`.
    package var path: String
    package var message: String
    /// `/a/0: message`; the whole instance reads `(root): message`.
    package var description: String { "\(path.isEmpty ? "(root)" : path): \(message)" }
}
