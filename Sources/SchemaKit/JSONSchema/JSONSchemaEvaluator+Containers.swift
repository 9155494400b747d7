import BusCore

/// The array and object keywords, with the annotations `unevaluatedItems`/`unevaluatedProperties` read.
extension JSONSchemaEvaluator {
    mutating func array(
        _ elements: [JSONValue], _ schema: JSONValue, base: String, path: @autoclosure () -> String,
        into annotations: inout JSONSchemaAnnotations
    ) -> Bool {
        if index.assertsValidation, !arrayAssertions(elements, schema, path: path()) { return false }
        return arrayApplicators(elements, schema, base: base, path: path(), into: &annotations)
    }

    /// The validation vocabulary's array keywords.
    private mutating func arrayAssertions(_ elements: [JSONValue], _ schema: JSONValue, path: @autoclosure () -> String)
        -> Bool
    {
        if let limit = schema["maxItems"].flatMap(Self.count), elements.count > limit {
            return failed(path(), "array has more than \(limit) items")
        }
        if let limit = schema["minItems"].flatMap(Self.count), elements.count < limit {
            return failed(path(), "array has fewer than \(limit) items")
        }
        if schema["uniqueItems"] == .bool(true) {
            for i in elements.indices {
                for j in elements.indices where j > i && elements[i].schemaEquals(elements[j]) {
                    return failed(path(), "items \(i) and \(j) are equal")
                }
            }
        }
        return true
    }

    private mutating func arrayApplicators(
        _ elements: [JSONValue], _ schema: JSONValue, base: String, path: @autoclosure () -> String,
        into annotations: inout JSONSchemaAnnotations
    ) -> Bool {
        // prefixItems, or draft-07's `items` array, then `items` (or `additionalItems`) for the rest.
        var prefix: [JSONValue]?
        var rest: JSONValue?
        if case .array(let schemas)? = schema["prefixItems"] {
            prefix = schemas
            rest = schema["items"]
        } else if case .array(let schemas)? = schema["items"] {
            prefix = schemas
            rest = schema["additionalItems"]
        } else {
            rest = schema["items"]
        }
        var start = 0
        if let prefix {
            for (index, subschema) in prefix.enumerated() where index < elements.count {
                guard evaluate(elements[index], subschema, base: base, path: Self.pointer(path(), index)) != nil else {
                    return false
                }
            }
            start = min(prefix.count, elements.count)
            annotations.itemsPrefix = max(annotations.itemsPrefix, start)
        }
        if let rest {
            for index in start..<elements.count {
                guard evaluate(elements[index], rest, base: base, path: Self.pointer(path(), index)) != nil else {
                    return false
                }
            }
            annotations.allItems = true
        }
        if let contains = schema["contains"] {
            let mark = errors.count
            var matched: [Int] = []
            for (index, element) in elements.enumerated()
            where evaluate(element, contains, base: base, path: Self.pointer(path(), index)) != nil {
                matched.append(index)
            }
            errors.removeSubrange(mark...)
            let minimum = schema["minContains"].flatMap(Self.count) ?? 1
            if matched.count < minimum {
                return failed(path(), "array contains \(matched.count) matching items, fewer than \(minimum)")
            }
            if let maximum = schema["maxContains"].flatMap(Self.count), matched.count > maximum {
                return failed(path(), "array contains \(matched.count) matching items, more than \(maximum)")
            }
            annotations.items.formUnion(matched)
        }
        if let unevaluated = schema["unevaluatedItems"] {
            for (index, element) in elements.enumerated() where !annotations.evaluated(item: index) {
                guard evaluate(element, unevaluated, base: base, path: Self.pointer(path(), index)) != nil else {
                    return false
                }
            }
            annotations.allItems = true
        }
        return true
    }

    mutating func object(
        _ members: [JSONField], _ instance: JSONValue, _ schema: JSONValue, base: String,
        path: @autoclosure () -> String,
        into annotations: inout JSONSchemaAnnotations
    ) -> Bool {
        if index.assertsValidation, !objectAssertions(members, instance, schema, path: path()) { return false }
        return objectApplicators(members, instance, schema, base: base, path: path(), into: &annotations)
    }

    /// The validation vocabulary's object keywords.
    private mutating func objectAssertions(
        _ members: [JSONField], _ instance: JSONValue, _ schema: JSONValue, path: @autoclosure () -> String
    )
        -> Bool
    {
        if let limit = schema["maxProperties"].flatMap(Self.count), members.count > limit {
            return failed(path(), "object has more than \(limit) properties")
        }
        if let limit = schema["minProperties"].flatMap(Self.count), members.count < limit {
            return failed(path(), "object has fewer than \(limit) properties")
        }
        if case .array(let required)? = schema["required"] {
            for case .string(let name) in required where instance[name] == nil {
                return failed(path(), "required property \(name) is missing")
            }
        }
        if case .object(let dependencies)? = schema["dependentRequired"] {
            guard dependentRequired(dependencies, instance, path: path()) else { return false }
        }
        return true
    }

    private mutating func objectApplicators(
        _ members: [JSONField], _ instance: JSONValue, _ schema: JSONValue, base: String,
        path: @autoclosure () -> String,
        into annotations: inout JSONSchemaAnnotations
    ) -> Bool {
        if case .object(let dependencies)? = schema["dependencies"] {
            // Draft-07: an array is dependentRequired, a schema is dependentSchemas.
            let required = dependencies.filter { if case .array = $0.value { true } else { false } }
            guard dependentRequired(required, instance, path: path()) else { return false }
            for dependency in dependencies where dependency.value.isSchemaShaped && instance[dependency.key] != nil {
                guard let result = evaluate(instance, dependency.value, base: base, path: path()) else { return false }
                annotations.merge(result)
            }
        }
        if case .object(let dependencies)? = schema["dependentSchemas"] {
            for dependency in dependencies where instance[dependency.key] != nil {
                guard let result = evaluate(instance, dependency.value, base: base, path: path()) else { return false }
                annotations.merge(result)
            }
        }
        if let names = schema["propertyNames"] {
            for member in members {
                guard evaluate(.string(member.key), names, base: base, path: Self.pointer(path(), member.key)) != nil
                else {
                    return failed(path(), "property name \(member.key) is not allowed")
                }
            }
        }
        let properties: [JSONField] =
            if case .object(let fields)? = schema["properties"] { fields } else { [] }
        let patterns: [JSONField] =
            if case .object(let fields)? = schema["patternProperties"] { fields } else { [] }
        for member in members {
            var covered = false
            if let property = properties.first(where: { $0.key == member.key }) {
                covered = true
                guard evaluate(member.value, property.value, base: base, path: Self.pointer(path(), member.key)) != nil
                else { return false }
            }
            for pattern in patterns where matches(member.key, pattern.key) {
                covered = true
                guard evaluate(member.value, pattern.value, base: base, path: Self.pointer(path(), member.key)) != nil
                else { return false }
            }
            if !covered, let additional = schema["additionalProperties"] {
                covered = true
                guard evaluate(member.value, additional, base: base, path: Self.pointer(path(), member.key)) != nil
                else {
                    return failed(
                        Self.pointer(path(), member.key), "property \(member.key) is not allowed (additionalProperties)"
                    )
                }
            }
            if covered { annotations.properties.insert(member.key) }
        }
        if let unevaluated = schema["unevaluatedProperties"] {
            for member in members where !annotations.properties.contains(member.key) {
                guard evaluate(member.value, unevaluated, base: base, path: Self.pointer(path(), member.key)) != nil
                else {
                    return failed(path(), "property \(member.key) is not allowed (unevaluatedProperties)")
                }
                annotations.properties.insert(member.key)
            }
        }
        return true
    }

    private mutating func dependentRequired(
        _ dependencies: [JSONField], _ instance: JSONValue, path: @autoclosure () -> String
    ) -> Bool {
        for dependency in dependencies where instance[dependency.key] != nil {
            guard case .array(let names) = dependency.value else { continue }
            for case .string(let name) in names where instance[name] == nil {
                return failed(path(), "property \(name) is required when \(dependency.key) is present")
            }
        }
        return true
    }
}
