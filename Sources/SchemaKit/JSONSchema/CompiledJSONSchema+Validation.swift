import BusCore

extension CompiledJSONSchema {
    /// Whether the document on `tape` is valid. Allocates nothing for the keywords the type compiles,
    /// on ASCII names and strings without escapes; escapes, non-ASCII names compared to non-ASCII
    /// schema names, numbers beyond 19 digits and `interpreted` nodes take slower, allocating paths.
    package func isValid(_ tape: JSONTape) -> Bool {
        nodes.withUnsafeBufferPointer { nodes in
            CompiledJSONSchemaValidator(schema: self, nodes: nodes, tape: tape).valid(0, root, depth: 0)
        }
    }
}

/// One validation: the schema's nodes and the tape, by pointer, so reading a node's keyword copies
/// nothing.
struct CompiledJSONSchemaValidator {
    let schema: CompiledJSONSchema
    let nodes: UnsafeBufferPointer<CompiledJSONSchema.Node>
    let tape: JSONTape

    private typealias TypeMask = CompiledJSONSchema.TypeMask

    var tokens: UnsafeBufferPointer<JSONTape.Token> { tape.tokens }

    /// Whether token `token`'s value satisfies node `node`. `depth` counts schema objects entered, as
    /// the evaluator's does, so a `$ref` cycle fails at the same point.
    func valid(_ token: Int, _ node: Int, depth: Int) -> Bool {
        switch nodes[node].shape {
        case .alwaysValid: return true
        case .alwaysInvalid: return false
        case .interpreted(let entry): return interpreted(token, entry, depth: depth)
        case .keywords: break
        }
        guard depth < JSONSchemaEvaluator.maxDepth else { return false }
        let depth = depth + 1
        if let reference = nodes[node].reference, !valid(token, reference, depth: depth) { return false }
        if let types = nodes[node].types, !hasType(token, types) { return false }
        if let options = nodes[node].enumOptions, !options.contains(where: { equals(token, $0) }) { return false }
        if let constant = nodes[node].constant, !equals(token, constant) { return false }
        guard applicators(token, node, depth: depth) else { return false }
        switch tokens[token].kind {
        case .number: return !nodes[node].hasNumberKeywords || number(token, node)
        case .string: return !nodes[node].hasStringKeywords || string(token, node)
        case .array: return !nodes[node].hasArrayKeywords || array(token, node, depth: depth)
        case .object: return !nodes[node].hasObjectKeywords || object(token, node, depth: depth)
        case .null, .falseLiteral, .trueLiteral: return true
        }
    }

    /// The evaluator, for a subschema it must evaluate itself (`unevaluated*`).
    private func interpreted(_ token: Int, _ entry: Int, depth: Int) -> Bool {
        let (subschema, base) = schema.interpreted[entry]
        var evaluator = JSONSchemaEvaluator(index: schema.index, patterns: schema.patterns)
        evaluator.depth = depth
        return evaluator.evaluate(tape.value(token), subschema, base: base, path: "", baseIsResolved: true) != nil
    }

    // MARK: - Any instance

    private func hasType(_ token: Int, _ types: UInt8) -> Bool {
        switch tokens[token].kind {
        case .null: types & TypeMask.null != 0
        case .falseLiteral, .trueLiteral: types & TypeMask.boolean != 0
        case .string: types & TypeMask.string != 0
        case .array: types & TypeMask.array != 0
        case .object: types & TypeMask.object != 0
        case .number: types & TypeMask.number != 0 || (types & TypeMask.integer != 0 && isInteger(token))
        }
    }

    private func isInteger(_ token: Int) -> Bool {
        let text = tape.text(tokens[token])
        if let decimal = JSONDecimal(text) { return decimal.isInteger }
        return JSONNumber(String(decoding: text, as: UTF8.self))?.isInteger ?? false
    }

    private func applicators(_ token: Int, _ node: Int, depth: Int) -> Bool {
        let allOf = nodes[node].allOf
        for position in allOf.indices where !valid(token, allOf[position], depth: depth) { return false }
        if let anyOf = nodes[node].anyOf {
            var any = false
            for position in anyOf.indices where valid(token, anyOf[position], depth: depth) {
                any = true
                break
            }
            if !any { return false }
        }
        if let oneOf = nodes[node].oneOf {
            var matches = 0
            for position in oneOf.indices where valid(token, oneOf[position], depth: depth) {
                matches += 1
                if matches > 1 { return false }
            }
            if matches != 1 { return false }
        }
        if let not = nodes[node].not, valid(token, not, depth: depth) { return false }
        if let condition = nodes[node].condition {
            let branch = valid(token, condition, depth: depth) ? nodes[node].then : nodes[node].otherwise
            if let branch, !valid(token, branch, depth: depth) { return false }
        }
        return true
    }

    // MARK: - Numbers and strings

    private func number(_ token: Int, _ node: Int) -> Bool {
        let text = tape.text(tokens[token])
        guard let decimal = JSONDecimal(text) else {
            return slowNumber(JSONNumber(String(decoding: text, as: UTF8.self)), node)
        }
        if let divisor = nodes[node].multipleOf {
            let multiple =
                decimal.isMultiple(of: divisor)
                ?? JSONNumber(String(decoding: text, as: UTF8.self))!.isMultiple(of: divisor)
            if !multiple { return false }
        }
        let value = decimal.double ?? JSONNumber(String(decoding: text, as: UTF8.self))!.double
        return withinBounds(value, node)
    }

    /// The evaluator's `numeric` for a number the fast reader leaves out.
    private func slowNumber(_ number: JSONNumber?, _ node: Int) -> Bool {
        guard let number else { return true }
        if let divisor = nodes[node].multipleOf, !number.isMultiple(of: divisor) { return false }
        return withinBounds(number.double, node)
    }

    private func withinBounds(_ value: Double, _ node: Int) -> Bool {
        if let limit = nodes[node].maximum, value > limit { return false }
        if let limit = nodes[node].exclusiveMaximum, value >= limit { return false }
        if let limit = nodes[node].minimum, value < limit { return false }
        if let limit = nodes[node].exclusiveMinimum, value <= limit { return false }
        return true
    }

    private func string(_ token: Int, _ node: Int) -> Bool {
        let current = tokens[token]
        if current.escaped {
            let text = tape.string(current)
            // Lengths count code points (draft 2020-12 §6.3.1).
            let length = text.unicodeScalars.count
            if let limit = nodes[node].maxLength, length > limit { return false }
            if let limit = nodes[node].minLength, length < limit { return false }
            if let pattern = nodes[node].pattern, !pattern.matches(text) { return false }
            return true
        }
        let body = tape.body(current)
        if nodes[node].maxLength != nil || nodes[node].minLength != nil {
            // Code points: every byte that is not a UTF-8 continuation byte starts one.
            var length = body.count
            if current.nonASCII {
                for byte in body where byte & 0xC0 == 0x80 { length -= 1 }
            }
            if let limit = nodes[node].maxLength, length > limit { return false }
            if let limit = nodes[node].minLength, length < limit { return false }
        }
        if let pattern = nodes[node].pattern, !pattern.matches(utf8: body) { return false }
        return true
    }

    // MARK: - Arrays

    private func array(_ token: Int, _ node: Int, depth: Int) -> Bool {
        let count = Int(tokens[token].count)
        if let limit = nodes[node].maxItems, count > limit { return false }
        if let limit = nodes[node].minItems, count < limit { return false }
        if nodes[node].uniqueItems, !uniqueItems(token) { return false }
        var element = token + 1
        var position = 0
        let prefix = nodes[node].prefixItems
        while position < count {
            let subschema = position < prefix.count ? prefix[position] : nodes[node].restItems
            if let subschema, !valid(element, subschema, depth: depth) { return false }
            if subschema == nil, position >= prefix.count { break }
            element = Int(tokens[element].next)
            position += 1
        }
        if let contains = nodes[node].contains {
            let minimum = nodes[node].minContains
            let maximum = nodes[node].maxContains
            var matched = 0
            element = token + 1
            for _ in 0..<count {
                if valid(element, contains, depth: depth) {
                    matched += 1
                    // Past the minimum with no maximum, more matches change nothing.
                    if maximum == nil, matched >= minimum { break }
                    if let maximum, matched > maximum { return false }
                }
                element = Int(tokens[element].next)
            }
            if matched < minimum { return false }
        }
        return true
    }

    private func uniqueItems(_ token: Int) -> Bool {
        var first = token + 1
        for _ in 0..<tokens[token].count {
            var second = Int(tokens[first].next)
            while second < Int(tokens[token].next) {
                if tapeEquals(first, second) { return false }
                second = Int(tokens[second].next)
            }
            first = Int(tokens[first].next)
        }
        return true
    }

    // MARK: - Objects

    private func object(_ token: Int, _ node: Int, depth: Int) -> Bool {
        let count = Int(tokens[token].count)
        if let limit = nodes[node].maxProperties, count > limit { return false }
        if let limit = nodes[node].minProperties, count < limit { return false }
        let strings = nodes[node].namesNeedStrings
        // Indices, not `for … in`: iterating copies each element, retaining its strings and arrays.
        let required = nodes[node].required
        for position in required.indices where member(token, required[position], strings) == nil { return false }
        if !nodes[node].dependentRequired.isEmpty || !nodes[node].dependentSchemas.isEmpty {
            for (name, names) in nodes[node].dependentRequired where member(token, name, strings) != nil {
                for required in names where member(token, required, strings) == nil { return false }
            }
            for (name, subschema) in nodes[node].dependentSchemas where member(token, name, strings) != nil {
                if !valid(token, subschema, depth: depth) { return false }
            }
        }
        let properties = nodes[node].properties
        let patterns = nodes[node].patternProperties
        let names = nodes[node].propertyNames
        let additional = nodes[node].additionalProperties
        var key = token + 1
        for _ in 0..<count {
            let value = key + 1
            if let names, !valid(key, names, depth: depth) { return false }
            var covered = false
            for position in properties.indices where keyEquals(key, properties[position].0, strings) {
                covered = true
                if !valid(value, properties[position].1, depth: depth) { return false }
                break
            }
            if !patterns.isEmpty {
                for (pattern, subschema) in patterns where keyMatches(key, pattern) {
                    covered = true
                    if !valid(value, subschema, depth: depth) { return false }
                }
            }
            if !covered, let additional, !valid(value, additional, depth: depth) { return false }
            key = Int(tokens[value].next)
        }
        return true
    }

    /// The value token of the first member named `name` (as `JSONValue`'s subscript finds it).
    private func member(_ object: Int, _ name: SchemaKey, _ strings: Bool) -> Int? {
        var key = object + 1
        for _ in 0..<tokens[object].count {
            if keyEquals(key, name, strings) { return key + 1 }
            key = Int(tokens[key + 1].next)
        }
        return nil
    }

    /// Member name equality as `String ==` decides it: bytes for ASCII names, canonical equivalence
    /// otherwise.
    private func keyEquals(_ key: Int, _ name: SchemaKey, _ strings: Bool) -> Bool {
        let token = tokens[key]
        if strings || token.escaped || token.nonASCII { return tape.string(token) == name.string }
        return Self.bytesEqual(tape.body(token), name.bytes)
    }

    static func bytesEqual(_ bytes: UnsafeRawBufferPointer, _ expected: [UInt8]) -> Bool {
        guard bytes.count == expected.count else { return false }
        for index in 0..<expected.count where bytes[index] != expected[index] { return false }
        return true
    }

    private func keyMatches(_ key: Int, _ pattern: SchemaPattern) -> Bool {
        let token = tokens[key]
        return token.escaped ? pattern.matches(tape.string(token)) : pattern.matches(utf8: tape.body(token))
    }
}
