import BusCore

/// JSON Schema compatibility for the common cases of Confluent's `JsonSchema` diff: does every document
/// valid under `writer` stay valid under `reader`? Checked structurally, keyword by keyword, with
/// Confluent's difference names in the messages:
///
/// - `type`: the reader may widen (`integer` → `number`, adding types) but not narrow (TYPE_NARROWED).
/// - `properties` against the content model: a property the reader adds is fine when the writer's
///   model is closed (`additionalProperties: false`), incompatible when it is open and the reader
///   restricts it (PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL); a property the reader removes is fine when the
///   reader is open, incompatible when it is closed (PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL) or when
///   its `additionalProperties` schema does not take the writer's (PROPERTY_REMOVED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL).
/// - `required`: a newly required property is incompatible (REQUIRED_ATTRIBUTE_ADDED) unless its schema
///   has a `default` (REQUIRED_ATTRIBUTE_WITH_DEFAULT_ADDED, as Confluent counts it); dropping one is fine.
/// - `additionalProperties`/`items`/`properties` values recurse; closing an open model is incompatible.
/// - `enum`/`const`: the reader's values must include the writer's (ENUM_ARRAY_NARROWED).
/// - Bounds: `maximum`, `minimum`, `maxLength`, `minLength`, `maxItems`, `minItems`, `maxProperties`,
///   `minProperties` may only be relaxed (…_ADDED, …_DECREASED, …_INCREASED); `multipleOf` only to a
///   divisor of the old one (MULTIPLE_OF_REDUCED); `pattern`, `uniqueItems` and `format` may not be
///   added or changed.
/// - `anyOf`/`oneOf`: each writer branch must be taken by some reader branch
///   (COMBINED_TYPE_SUBSCHEMAS_CHANGED); `allOf`: each reader branch must accept the whole writer.
/// - `$ref`s (local) are followed; `true`/`{}` readers take anything, `false` writers give nothing.
/// Not checked: `if`/`then`/`else`, `not`, `dependentSchemas`, `patternProperties` beyond equality,
/// `unevaluated*` — differences there are reported as incompatible only when the keyword changed.
package enum JSONSchemaCompatibility {
    package static func incompatibilities(reader: JSONSchema, writer: JSONSchema) -> [String] {
        var checker = Checker(reader: reader, writer: writer)
        checker.check(
            reader.root, readerBase: reader.index.rootBase, writer.root, writerBase: writer.index.rootBase, path: "#")
        return checker.problems
    }

    private struct Checker {
        let reader: JSONSchema
        let writer: JSONSchema
        var problems: [String] = []
        var depth = 0

        init(reader: JSONSchema, writer: JSONSchema) {
            self.reader = reader
            self.writer = writer
        }

        static func follow(_ schema: JSONValue, base: String, in document: JSONSchema) -> (JSONValue, String) {
            var schema = schema
            var base = base
            var hops = 0
            while case .string(let reference)? = schema["$ref"], hops < 16,
                let (target, targetBase) = document.index.lookup(SchemaURI.resolve(reference, against: base))
            {
                // Sibling keywords of $ref are rare in registry schemas; the target carries the meaning.
                schema = target
                base = targetBase
                hops += 1
            }
            return (schema, base)
        }

        mutating func check(_ r: JSONValue, readerBase: String, _ w: JSONValue, writerBase: String, path: String) {
            guard depth < 32 else { return }
            depth += 1
            defer { depth -= 1 }
            let (r, rBase) = Self.follow(r, base: readerBase, in: reader)
            let (w, wBase) = Self.follow(w, base: writerBase, in: writer)
            if r == .bool(true) || r == .object([]) || w == .bool(false) { return }
            if r == .bool(false) {
                problems.append("SCHEMA_FALSE at \(path): the reader accepts nothing")
                return
            }
            let writerSchema = w == .bool(true) ? JSONValue.object([]) : w
            checkType(r, writerSchema, path: path)
            checkEnum(r, writerSchema, path: path)
            checkBounds(r, writerSchema, path: path)
            checkObject(r, rBase, writerSchema, wBase, path: path)
            checkArray(r, rBase, writerSchema, wBase, path: path)
            checkCombined(r, rBase, writerSchema, wBase, path: path)
            for keyword in [
                "not", "if", "then", "else", "dependentSchemas", "patternProperties", "unevaluatedProperties",
                "unevaluatedItems",
            ]
            where r[keyword] != nil && !(r[keyword]!.schemaEquals(w[keyword] ?? .null)) {
                problems.append("\(keyword.uppercased())_CHANGED at \(path): not checked beyond equality")
            }
        }

        static func types(_ schema: JSONValue) -> Set<String>? {
            switch schema["type"] {
            case .string(let name)?: [name]
            case .array(let names)?: Set(names.compactMap(\.stringValue))
            default: nil
            }
        }

        mutating func checkType(_ r: JSONValue, _ w: JSONValue, path: String) {
            guard let readerTypes = Self.types(r) else { return }
            guard let writerTypes = Self.types(w) else {
                problems.append("TYPE_NARROWED at \(path): the reader adds type \(readerTypes.sorted())")
                return
            }
            for type in writerTypes
            where !readerTypes.contains(type) && !(type == "integer" && readerTypes.contains("number")) {
                problems.append("TYPE_NARROWED at \(path): writer type \(type) is not a reader type")
            }
        }

        mutating func checkEnum(_ r: JSONValue, _ w: JSONValue, path: String) {
            var readerValues: [JSONValue]?
            if case .array(let values)? = r["enum"] { readerValues = values }
            if let constant = r["const"] { readerValues = (readerValues ?? []) + [constant] }
            guard let readerValues else { return }
            var writerValues: [JSONValue]?
            if case .array(let values)? = w["enum"] { writerValues = values }
            if let constant = w["const"] { writerValues = [constant] }
            guard let writerValues else {
                problems.append("ENUM_ARRAY_NARROWED at \(path): the reader adds an enum")
                return
            }
            for value in writerValues where !readerValues.contains(where: { $0.schemaEquals(value) }) {
                problems.append("ENUM_ARRAY_NARROWED at \(path): writer value \(value) is not allowed by the reader")
            }
        }

        mutating func checkBounds(_ r: JSONValue, _ w: JSONValue, path: String) {
            // (keyword, whether a larger reader value relaxes it)
            let bounds: [(String, Bool)] = [
                ("maximum", true), ("exclusiveMaximum", true), ("maxLength", true), ("maxItems", true),
                ("maxProperties", true), ("maxContains", true), ("minimum", false), ("exclusiveMinimum", false),
                ("minLength", false), ("minItems", false), ("minProperties", false), ("minContains", false),
            ]
            for (keyword, largerRelaxes) in bounds {
                guard let readerLimit = r[keyword].flatMap(JSONNumber.init)?.double else { continue }
                guard let writerLimit = w[keyword].flatMap(JSONNumber.init)?.double else {
                    problems.append("\(Self.constant(keyword))_ADDED at \(path)")
                    continue
                }
                if largerRelaxes ? readerLimit < writerLimit : readerLimit > writerLimit {
                    problems.append("\(Self.constant(keyword))_\(largerRelaxes ? "DECREASED" : "INCREASED") at \(path)")
                }
            }
            // MULTIPLE_OF_REDUCED: every multiple of the writer's divisor is one of the reader's.
            if let readerDivisor = r["multipleOf"].flatMap(JSONNumber.init),
                let writerDivisor = w["multipleOf"].flatMap(JSONNumber.init)
            {
                if !writerDivisor.isMultiple(of: readerDivisor) { problems.append("MULTIPLE_OF_CHANGED at \(path)") }
            } else if r["multipleOf"] != nil {
                problems.append("MULTIPLE_OF_ADDED at \(path)")
            }
            for keyword in ["pattern", "uniqueItems", "format"] {
                guard let readerValue = r[keyword], readerValue != .bool(false) else { continue }
                if !(w[keyword].map { $0.schemaEquals(readerValue) } ?? false) {
                    problems.append("\(Self.constant(keyword))_CHANGED at \(path)")
                }
            }
        }

        static func constant(_ keyword: String) -> String {
            var out = ""
            for character in keyword {
                if character.isUppercase { out += "_" }
                out += character.uppercased()
            }
            return out
        }

        static func isClosed(_ schema: JSONValue) -> Bool {
            schema["additionalProperties"] == .bool(false) || schema["unevaluatedProperties"] == .bool(false)
        }

        mutating func checkObject(_ r: JSONValue, _ rBase: String, _ w: JSONValue, _ wBase: String, path: String) {
            let readerProperties: [JSONField] = if case .object(let fields)? = r["properties"] { fields } else { [] }
            let writerProperties: [JSONField] = if case .object(let fields)? = w["properties"] { fields } else { [] }
            let writerRequired = Set((w["required"]?.arrayValue ?? []).compactMap(\.stringValue))
            for name in (r["required"]?.arrayValue ?? []).compactMap(\.stringValue) where !writerRequired.contains(name)
            {
                // Confluent counts a newly required property that has a default as compatible
                // (REQUIRED_ATTRIBUTE_WITH_DEFAULT_ADDED).
                let property = readerProperties.first { $0.key == name }?.value
                if property?["default"] == nil {
                    problems.append("REQUIRED_ATTRIBUTE_ADDED at \(path): \(name)")
                }
            }
            for property in readerProperties {
                let at = "\(path)/properties/\(property.key)"
                if let writerProperty = writerProperties.first(where: { $0.key == property.key }) {
                    check(property.value, readerBase: rBase, writerProperty.value, writerBase: wBase, path: at)
                } else if Self.isClosed(w) {
                    continue  // OPTIONAL_PROPERTY_ADDED_TO_UNOPEN_CONTENT_MODEL: the writer never wrote it
                } else if let additional = w["additionalProperties"] {
                    // PROPERTY_ADDED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL when the reader takes it.
                    check(property.value, readerBase: rBase, additional, writerBase: wBase, path: at)
                } else if property.value != .bool(true) && property.value != .object([]) {
                    problems.append("PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL at \(at)")
                }
            }
            for property in writerProperties where !readerProperties.contains(where: { $0.key == property.key }) {
                let at = "\(path)/properties/\(property.key)"
                // PROPERTY_WITH_FALSE_REMOVED_FROM_CLOSED_CONTENT_MODEL: the writer never wrote it.
                if property.value == .bool(false) { continue }
                if let additional = r["additionalProperties"] {
                    if additional == .bool(false) {
                        problems.append("PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL at \(at)")
                    } else {
                        let before = problems.count
                        check(additional, readerBase: rBase, property.value, writerBase: wBase, path: at)
                        if problems.count > before {
                            problems.insert(
                                "PROPERTY_REMOVED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL at \(at)", at: before)
                        }
                    }
                } else if r["unevaluatedProperties"] == .bool(false) {
                    problems.append("PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL at \(at)")
                }
            }
            if let readerAdditional = r["additionalProperties"] {
                if let writerAdditional = w["additionalProperties"] {
                    check(
                        readerAdditional, readerBase: rBase, writerAdditional, writerBase: wBase,
                        path: "\(path)/additionalProperties")
                } else if readerAdditional != .bool(true) {
                    problems.append("ADDITIONAL_PROPERTIES_NARROWED at \(path): the writer's content model is open")
                }
            }
        }

        mutating func checkArray(_ r: JSONValue, _ rBase: String, _ w: JSONValue, _ wBase: String, path: String) {
            let readerItems = r["items"].flatMap { $0.isSchemaShaped ? $0 : nil }
            let writerItems = w["items"].flatMap { $0.isSchemaShaped ? $0 : nil }
            if let readerItems {
                check(
                    readerItems, readerBase: rBase, writerItems ?? .bool(true), writerBase: wBase, path: "\(path)/items"
                )
            }
            let readerPrefix = r["prefixItems"]?.arrayValue ?? (r["items"]?.arrayValue ?? [])
            let writerPrefix = w["prefixItems"]?.arrayValue ?? (w["items"]?.arrayValue ?? [])
            for (index, item) in readerPrefix.enumerated() {
                let writerItem = index < writerPrefix.count ? writerPrefix[index] : (writerItems ?? .bool(true))
                check(item, readerBase: rBase, writerItem, writerBase: wBase, path: "\(path)/prefixItems/\(index)")
            }
        }

        mutating func checkCombined(_ r: JSONValue, _ rBase: String, _ w: JSONValue, _ wBase: String, path: String) {
            for keyword in ["anyOf", "oneOf"] {
                guard let readerBranches = r[keyword]?.arrayValue else { continue }
                let writerBranches = w["anyOf"]?.arrayValue ?? w["oneOf"]?.arrayValue ?? [w]
                for (index, writerBranch) in writerBranches.enumerated() {
                    let taken = readerBranches.contains { readerBranch in
                        var trial = Checker(reader: reader, writer: writer)
                        trial.depth = depth
                        trial.check(readerBranch, readerBase: rBase, writerBranch, writerBase: wBase, path: path)
                        return trial.problems.isEmpty
                    }
                    if !taken {
                        problems.append(
                            "COMBINED_TYPE_SUBSCHEMAS_CHANGED at \(path)/\(keyword): writer branch \(index) is taken by no reader branch"
                        )
                    }
                }
            }
            if let readerBranches = r["allOf"]?.arrayValue {
                var writerWithoutAllOf = w
                if case .object(let fields) = w { writerWithoutAllOf = .object(fields.filter { $0.key != "allOf" }) }
                let writerBranches = w["allOf"]?.arrayValue ?? []
                for (index, readerBranch) in readerBranches.enumerated() {
                    // Taken when the writer as a whole, or one of its own allOf branches, satisfies it.
                    let candidates = [writerWithoutAllOf] + writerBranches
                    let taken = candidates.contains { candidate in
                        var trial = Checker(reader: reader, writer: writer)
                        trial.depth = depth
                        trial.check(readerBranch, readerBase: rBase, candidate, writerBase: wBase, path: path)
                        return trial.problems.isEmpty
                    }
                    if !taken { problems.append("COMBINED_TYPE_SUBSCHEMAS_CHANGED at \(path)/allOf/\(index)") }
                }
            }
        }
    }
}
