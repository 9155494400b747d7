import BusCore

/// Evaluates an instance against a schema, keyword by keyword, returning the annotations of a
/// successful evaluation (nil when the instance is invalid) and recording why it failed.
struct JSONSchemaEvaluator {
    /// Deepest evaluation (schema applications in one chain); bounds `$ref` cycles that make no
    /// progress through the instance.
    static let maxDepth = 256

    let index: JSONSchemaIndex
    var errors: [JSONSchemaViolation] = []
    /// Resource URIs entered, outermost first: the dynamic scope `$dynamicRef` searches.
    var dynamicScope: [String] = []
    var depth = 0
    /// The schema's patterns, compiled when it was (`JSONSchema.patterns`).
    let patterns: [String: SchemaPattern]
    /// Patterns met that `patterns` lacks (none for a schema `JSONSchema` checked).
    var regexCache: [String: Regex<AnyRegexOutput>] = [:]

    init(index: JSONSchemaIndex, patterns: [String: SchemaPattern] = [:]) {
        self.index = index
        self.patterns = patterns
    }

    /// `baseIsResolved`: `base` already accounts for the schema's own `$id` (a `$ref` target).
    mutating func evaluate(
        _ instance: JSONValue, _ schema: JSONValue, base: String, path: @autoclosure () -> String,
        baseIsResolved: Bool = false
    )
        -> JSONSchemaAnnotations?
    {
        switch schema {
        case .bool(true): return JSONSchemaAnnotations()
        case .bool(false): return fail(path(), "no value is allowed here (false schema)")
        case .object: break
        default: return JSONSchemaAnnotations()
        }
        guard depth < Self.maxDepth else { return fail(path(), "schema evaluation nested too deeply ($ref cycle?)") }
        depth += 1
        defer { depth -= 1 }
        var base = base
        if !baseIsResolved, case .string(let id)? = schema["$id"], !id.hasPrefix("#") {
            base = SchemaURI.split(SchemaURI.resolve(id, against: base)).0
        }
        let enteredScope = dynamicScope.last != base
        if enteredScope { dynamicScope.append(base) }
        defer { if enteredScope { dynamicScope.removeLast() } }

        var annotations = JSONSchemaAnnotations()
        guard references(instance, schema, base: base, path: path(), into: &annotations),
            !index.assertsValidation || generic(instance, schema, path: path()),
            applicators(instance, schema, base: base, path: path(), into: &annotations)
        else { return nil }
        switch instance {
        case .number:
            guard !index.assertsValidation || numeric(instance, schema, path: path()) else { return nil }
        case .string(let text):
            guard !index.assertsValidation || string(text, schema, path: path()) else { return nil }
        case .array(let elements):
            guard array(elements, schema, base: base, path: path(), into: &annotations) else { return nil }
        case .object(let members):
            guard object(members, instance, schema, base: base, path: path(), into: &annotations) else { return nil }
        default: break
        }
        return annotations
    }

    mutating func fail(_ path: @autoclosure () -> String, _ message: String) -> JSONSchemaAnnotations? {
        errors.append(JSONSchemaViolation(path: path(), message: message))
        return nil
    }

    /// `path` extended by member `key`, as a JSON Pointer (RFC 6901 §3: `~` → `~0`, `/` → `~1`). Only
    /// called when a violation is recorded (paths are autoclosures), so valid instances build no strings.
    static func pointer(_ path: String, _ key: String) -> String {
        guard key.utf8.contains(where: { $0 == UInt8(ascii: "~") || $0 == UInt8(ascii: "/") }) else {
            return path + "/" + key
        }
        var escaped = ""
        for character in key {
            switch character {
            case "~": escaped += "~0"
            case "/": escaped += "~1"
            default: escaped.append(character)
            }
        }
        return path + "/" + escaped
    }

    /// `path` extended by array index `index`, as a JSON Pointer.
    static func pointer(_ path: String, _ index: Int) -> String { path + "/" + String(index) }

    mutating func failed(_ path: @autoclosure () -> String, _ message: String) -> Bool {
        errors.append(JSONSchemaViolation(path: path(), message: message))
        return false
    }

    // MARK: - $ref, $dynamicRef

    private mutating func references(
        _ instance: JSONValue, _ schema: JSONValue, base: String, path: @autoclosure () -> String,
        into annotations: inout JSONSchemaAnnotations
    ) -> Bool {
        if case .string(let reference)? = schema["$ref"] {
            let target = SchemaURI.resolve(reference, against: base)
            guard let (resolved, targetBase) = index.lookup(target) else {
                return failed(path(), "unresolved $ref \(reference)")
            }
            guard let result = evaluate(instance, resolved, base: targetBase, path: path(), baseIsResolved: true) else {
                return false
            }
            annotations.merge(result)
        }
        if case .string(let reference)? = schema["$dynamicRef"] {
            let target = SchemaURI.resolve(reference, against: base)
            guard var (resolved, targetBase) = index.lookup(target) else {
                return failed(path(), "unresolved $dynamicRef \(reference)")
            }
            // A dynamic anchor in the initially resolved resource makes the reference dynamic: the
            // outermost resource in scope with the same dynamic anchor wins (draft 2020-12 §8.2.3.2).
            let (_, fragment) = SchemaURI.split(target)
            if !fragment.isEmpty, !fragment.hasPrefix("/"), index.dynamicAnchors.contains(target) {
                for scope in dynamicScope where index.dynamicAnchors.contains("\(scope)#\(fragment)") {
                    if let found = index.lookup("\(scope)#\(fragment)") {
                        (resolved, targetBase) = found
                        break
                    }
                }
            }
            guard let result = evaluate(instance, resolved, base: targetBase, path: path(), baseIsResolved: true) else {
                return false
            }
            annotations.merge(result)
        }
        return true
    }

    // MARK: - Any instance

    private mutating func generic(_ instance: JSONValue, _ schema: JSONValue, path: @autoclosure () -> String) -> Bool {
        if let type = schema["type"] {
            let names: [String] =
                switch type {
                case .string(let name): [name]
                case .array(let names): names.compactMap(\.stringValue)
                default: []
                }
            if !names.contains(where: { Self.hasType(instance, $0) }) {
                return failed(path(), "expected \(names.joined(separator: " or ")), got \(Self.typeName(instance))")
            }
        }
        if case .array(let options)? = schema["enum"], !options.contains(where: { $0.schemaEquals(instance) }) {
            return failed(path(), "value is not one of the enum's values")
        }
        if let constant = schema["const"], !constant.schemaEquals(instance) {
            return failed(path(), "value is not the const value")
        }
        return true
    }

    static func hasType(_ instance: JSONValue, _ name: String) -> Bool {
        switch (name, instance) {
        case ("null", .null), ("boolean", .bool), ("string", .string), ("array", .array), ("object", .object),
            ("number", .number):
            return true
        case ("integer", .number): return JSONNumber(instance)?.isInteger ?? false
        default: return false
        }
    }

    static func typeName(_ instance: JSONValue) -> String {
        switch instance {
        case .null: "null"
        case .bool: "boolean"
        case .number: "number"
        case .string: "string"
        case .array: "array"
        case .object: "object"
        }
    }

    // MARK: - In-place applicators

    private mutating func applicators(
        _ instance: JSONValue, _ schema: JSONValue, base: String, path: @autoclosure () -> String,
        into annotations: inout JSONSchemaAnnotations
    ) -> Bool {
        if case .array(let subschemas)? = schema["allOf"] {
            for subschema in subschemas {
                guard let result = evaluate(instance, subschema, base: base, path: path()) else { return false }
                annotations.merge(result)
            }
        }
        if case .array(let subschemas)? = schema["anyOf"] {
            let mark = errors.count
            var any = false
            for subschema in subschemas {
                // Every branch is evaluated: each valid one contributes annotations.
                if let result = evaluate(instance, subschema, base: base, path: path()) {
                    annotations.merge(result)
                    any = true
                }
            }
            if any {
                errors.removeSubrange(mark...)
            } else {
                return failed(path(), "value matches none of anyOf's schemas")
            }
        }
        if case .array(let subschemas)? = schema["oneOf"] {
            let mark = errors.count
            var matches: [JSONSchemaAnnotations] = []
            for subschema in subschemas {
                if let result = evaluate(instance, subschema, base: base, path: path()) { matches.append(result) }
            }
            guard matches.count == 1 else {
                return failed(path(), "value matches \(matches.count) of oneOf's schemas, not exactly one")
            }
            errors.removeSubrange(mark...)
            annotations.merge(matches[0])
        }
        if let subschema = schema["not"] {
            let mark = errors.count
            let result = evaluate(instance, subschema, base: base, path: path())
            errors.removeSubrange(mark...)
            if result != nil { return failed(path(), "value matches the schema under not") }
        }
        if let condition = schema["if"] {
            let mark = errors.count
            if let result = evaluate(instance, condition, base: base, path: path()) {
                annotations.merge(result)
                if let then = schema["then"] {
                    guard let thenResult = evaluate(instance, then, base: base, path: path()) else { return false }
                    annotations.merge(thenResult)
                }
            } else {
                errors.removeSubrange(mark...)
                if let otherwise = schema["else"] {
                    guard let elseResult = evaluate(instance, otherwise, base: base, path: path()) else { return false }
                    annotations.merge(elseResult)
                }
            }
        }
        return true
    }

    // MARK: - Numbers and strings

    private mutating func numeric(_ instance: JSONValue, _ schema: JSONValue, path: @autoclosure () -> String) -> Bool {
        guard let number = JSONNumber(instance) else { return true }
        if let divisor = schema["multipleOf"].flatMap(JSONNumber.init), !number.isMultiple(of: divisor) {
            return failed(path(), "value is not a multiple of \(divisor.double)")
        }
        let value = number.double
        if let limit = schema["maximum"].flatMap(JSONNumber.init)?.double, value > limit {
            return failed(path(), "value is greater than the maximum \(limit)")
        }
        if let limit = schema["exclusiveMaximum"].flatMap(JSONNumber.init)?.double, value >= limit {
            return failed(path(), "value is not less than the exclusive maximum \(limit)")
        }
        if let limit = schema["minimum"].flatMap(JSONNumber.init)?.double, value < limit {
            return failed(path(), "value is less than the minimum \(limit)")
        }
        if let limit = schema["exclusiveMinimum"].flatMap(JSONNumber.init)?.double, value <= limit {
            return failed(path(), "value is not greater than the exclusive minimum \(limit)")
        }
        // Draft 4 style boolean exclusiveMaximum/exclusiveMinimum are not draft 2020-12 and are ignored.
        return true
    }

    private mutating func string(_ text: String, _ schema: JSONValue, path: @autoclosure () -> String) -> Bool {
        // Lengths count code points (draft 2020-12 §6.3.1), not UTF-16 units or grapheme clusters.
        if let limit = schema["maxLength"].flatMap(Self.count), text.unicodeScalars.count > limit {
            return failed(path(), "string is longer than \(limit)")
        }
        if let limit = schema["minLength"].flatMap(Self.count), text.unicodeScalars.count < limit {
            return failed(path(), "string is shorter than \(limit)")
        }
        if case .string(let pattern)? = schema["pattern"], !matches(text, pattern) {
            return failed(path(), "string does not match pattern \(pattern)")
        }
        // `format` is an annotation (the format-annotation vocabulary), so it asserts nothing.
        return true
    }

    /// A non-negative integer keyword value (`1.0` counts).
    static func count(_ value: JSONValue) -> Int? {
        guard let number = JSONNumber(value), number.isInteger, !number.negative else { return nil }
        let double = number.double
        return double < 1e15 ? Int(double) : Int.max
    }

    /// ECMA-262 patterns are unanchored: a match anywhere counts.
    mutating func matches(_ text: String, _ pattern: String) -> Bool {
        if let compiled = patterns[pattern] { return compiled.matches(text) }
        let regex: Regex<AnyRegexOutput>
        if let cached = regexCache[pattern] {
            regex = cached
        } else {
            guard let compiled = try? Regex(pattern) else { return false }
            regex = compiled.matchingSemantics(.unicodeScalar)
            regexCache[pattern] = regex
        }
        return (try? regex.firstMatch(in: text)) != nil
    }
}
