import BusCore

/// Where `$ref`s land: every schema resource by absolute URI (the root and each `$id`), every
/// `$anchor`/`$dynamicAnchor` as `uri#name`.
struct JSONSchemaIndex: Sendable {
    /// Resource URI (no fragment) → the resource's schema.
    var resources: [String: JSONValue] = [:]
    /// `uri#name` → the schema holding `$anchor`/`$dynamicAnchor: name` inside resource `uri`.
    var anchors: [String: JSONValue] = [:]
    /// `uri#name` for each `$dynamicAnchor`.
    var dynamicAnchors: Set<String> = []
    /// Every `$ref`/`$dynamicRef` as (absolute target, where it sits), checked once all is indexed.
    var references: [(String, String)] = []
    /// Every `pattern` and `patternProperties` key, compiled once to refuse bad ones.
    var patterns: Set<String> = []
    var rootBase = ""
    /// Whether the validation vocabulary is in force: false when the root's `$schema` is a supplied
    /// metaschema whose `$vocabulary` leaves it out (draft 2020-12 §8.1.2).
    var assertsValidation = true
    var baseOfRoot: String?

    /// Keywords whose value is a schema.
    static let schemaKeywords: Set<String> = [
        "additionalProperties", "unevaluatedProperties", "unevaluatedItems", "contains", "propertyNames", "if", "then",
        "else", "not", "additionalItems", "items",
    ]
    /// Keywords whose value is an object of schemas.
    static let schemaMapKeywords: Set<String> = [
        "$defs", "definitions", "properties", "patternProperties", "dependentSchemas", "dependencies",
    ]
    /// Keywords whose value is an array of schemas.
    static let schemaArrayKeywords: Set<String> = ["allOf", "anyOf", "oneOf", "prefixItems", "items"]

    /// Deepest schema nesting indexed.
    static let maxDepth = 64

    /// Indexes a document; `checked` records its references for `checkReferences` (the schema being
    /// registered is checked, supplied documents are only resolved into when evaluation reaches them).
    mutating func add(_ document: JSONValue, base: String, checked: Bool = true) throws(SchemaError) {
        resources[base] = resources[base] ?? document
        let before = references.count
        try walk(document, base: base, depth: 0, isRoot: true)
        if !checked { references.removeSubrange(before...) }
    }

    private mutating func walk(_ schema: JSONValue, base: String, depth: Int, isRoot: Bool) throws(SchemaError) {
        guard depth < Self.maxDepth else { throw .schema("schema nested more than \(Self.maxDepth) deep") }
        guard case .object(let members) = schema else {
            if case .bool = schema { return }
            throw .schema("a subschema must be an object or a boolean")
        }
        var base = base
        if case .string(let id)? = schema["$id"] {
            if id.hasPrefix("#") {
                // Draft-07 style plain-name identifier: an anchor.
                anchors["\(base)\(id)"] = schema
            } else {
                base = SchemaURI.split(SchemaURI.resolve(id, against: base)).0
                resources[base] = schema
                if isRoot && baseOfRoot == nil { baseOfRoot = base }
            }
        }
        if case .string(let anchor)? = schema["$anchor"] { anchors["\(base)#\(anchor)"] = schema }
        if case .string(let anchor)? = schema["$dynamicAnchor"] {
            anchors["\(base)#\(anchor)"] = schema
            dynamicAnchors.insert("\(base)#\(anchor)")
        }
        for keyword in ["$ref", "$dynamicRef"] {
            guard let value = schema[keyword] else { continue }
            guard case .string(let reference) = value else { throw .schema("\(keyword) must be a string") }
            references.append((SchemaURI.resolve(reference, against: base), reference))
        }
        if case .string(let pattern)? = schema["pattern"] { patterns.insert(pattern) }
        if case .object(let properties)? = schema["patternProperties"] {
            for property in properties { patterns.insert(property.key) }
        }
        for member in members {
            if Self.schemaKeywords.contains(member.key) {
                if member.value.isSchemaShaped {
                    try walk(member.value, base: base, depth: depth + 1, isRoot: false)
                } else if !(member.key == "items" && member.value.arrayValue != nil) {
                    throw .schema("\(member.key) must be a schema")
                }
            }
            if Self.schemaMapKeywords.contains(member.key) {
                guard case .object(let entries) = member.value else { throw .schema("\(member.key) must be an object") }
                for entry in entries {
                    if entry.value.isSchemaShaped {
                        try walk(entry.value, base: base, depth: depth + 1, isRoot: false)
                    } else if !(member.key == "dependencies" && entry.value.arrayValue != nil) {
                        throw .schema("\(member.key)/\(entry.key) must be a schema")
                    }
                }
            }
            if Self.schemaArrayKeywords.contains(member.key), case .array(let entries) = member.value {
                for entry in entries { try walk(entry, base: base, depth: depth + 1, isRoot: false) }
            }
        }
    }

    /// Refuses a schema whose references lead nowhere or whose patterns do not compile.
    func checkReferences() throws(SchemaError) {
        for (target, written) in references where lookup(target) == nil {
            throw .schema("$ref \(written) does not resolve (only local references and supplied documents are used)")
        }
        for pattern in patterns {
            guard (try? Regex(pattern)) != nil else {
                throw .schema("pattern \(pattern) is not a valid regular expression")
            }
        }
    }

    /// The schema an absolute URI names, and the base URI that applies inside it.
    func lookup(_ uri: String) -> (JSONValue, String)? {
        let (resource, fragment) = SchemaURI.split(uri)
        guard let document = resources[resource] else { return nil }
        if fragment.isEmpty { return (document, resource) }
        if fragment.hasPrefix("/") {
            return Self.pointer(SchemaURI.percentDecoded(fragment), in: document, base: resource)
        }
        return anchors["\(resource)#\(fragment)"].map { ($0, resource) }
    }

    /// RFC 6901 JSON pointer, tracking `$id`s passed on the way so the target's base is right.
    static func pointer(_ pointer: String, in document: JSONValue, base: String) -> (JSONValue, String)? {
        var current = document
        var base = base
        for raw in pointer.split(separator: "/", omittingEmptySubsequences: false).dropFirst() {
            let token = raw.replacingOccurrences("~1", with: "/").replacingOccurrences("~0", with: "~")
            switch current {
            case .object:
                guard let next = current[token] else { return nil }
                current = next
            case .array(let elements):
                guard let index = Int(token), index >= 0, index < elements.count else { return nil }
                current = elements[index]
            default: return nil
            }
            if case .string(let id)? = current["$id"], !id.hasPrefix("#") {
                base = SchemaURI.split(SchemaURI.resolve(id, against: base)).0
            }
        }
        return (current, base)
    }
}

extension JSONValue {
    var isSchemaShaped: Bool {
        switch self {
        case .object, .bool: true
        default: false
        }
    }
}

extension StringProtocol {
    func replacingOccurrences(_ target: String, with replacement: String) -> String {
        guard contains(target) else { return String(self) }
        return String(self).split(separator: target, omittingEmptySubsequences: false).joined(separator: replacement)
    }
}
