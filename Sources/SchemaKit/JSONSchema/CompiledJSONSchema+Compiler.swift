import BusCore

extension CompiledJSONSchema {
    /// Compiles `root` as `JSONSchemaEvaluator` would walk it; nil when the evaluator must answer for the
    /// whole schema (see the type's comment).
    convenience init?(root: JSONValue, index: JSONSchemaIndex, patterns: [String: SchemaPattern]) {
        guard index.assertsValidation else { return nil }
        var compiler = Compiler(index: index, patterns: patterns)
        let rootNode = compiler.add(root, base: index.rootBase, baseIsResolved: false)
        // `$ref` targets are compiled from a work list, not recursively, so a long chain of references
        // cannot exhaust the stack.
        while let (slot, schema, base) = compiler.pending.popLast() {
            compiler.nodes[slot] = compiler.node(schema, base: base, baseIsResolved: true)
        }
        guard !compiler.failed else { return nil }
        self.init(
            nodes: compiler.nodes, root: rootNode, interpreted: compiler.interpreted, index: index, patterns: patterns)
    }

    /// Builds nodes; mirrors `JSONSchemaEvaluator` keyword by keyword, including how it reads
    /// malformed keyword values (ignored, or for `type`, matching nothing).
    struct Compiler {
        let index: JSONSchemaIndex
        let patterns: [String: SchemaPattern]
        var nodes: [Node] = []
        /// Absolute `$ref` target URI → its node.
        var targets: [String: Int] = [:]
        var interpreted: [(JSONValue, String)] = []
        /// Target nodes reserved but not yet compiled: slot, schema, base.
        var pending: [(Int, JSONValue, String)] = []
        /// A pattern did not compile, or a `$dynamicRef` can be reached: leave the schema to the evaluator.
        var failed = false

        init(index: JSONSchemaIndex, patterns: [String: SchemaPattern]) {
            self.index = index
            self.patterns = patterns
        }

        /// Compiles `schema` into a new node and returns its index.
        mutating func add(_ schema: JSONValue, base: String, baseIsResolved: Bool = false) -> Int {
            let slot = nodes.count
            nodes.append(Node(shape: .alwaysValid))
            nodes[slot] = node(schema, base: base, baseIsResolved: baseIsResolved)
            return slot
        }

        mutating func node(_ schema: JSONValue, base: String, baseIsResolved: Bool) -> Node {
            switch schema {
            case .bool(false): return Node(shape: .alwaysInvalid)
            case .object: break
            default: return Node(shape: .alwaysValid)
            }
            var base = base
            if !baseIsResolved, case .string(let id)? = schema["$id"], !id.hasPrefix("#") {
                base = SchemaURI.split(SchemaURI.resolve(id, against: base)).0
            }
            // Its target depends on the dynamic scope, which only the evaluator keeps. Every subschema the
            // evaluator can reach is compiled (or visited, under `interpreted`), so none escapes this.
            if schema["$dynamicRef"] != nil { failed = true }
            var node = Node()
            if case .string(let reference)? = schema["$ref"] {
                node.reference = target(SchemaURI.resolve(reference, against: base))
            }
            generic(schema, into: &node)
            applicators(schema, base: base, into: &node)
            numeric(schema, into: &node)
            string(schema, into: &node)
            array(schema, base: base, into: &node)
            object(schema, base: base, into: &node)
            let unevaluated = [schema["unevaluatedProperties"], schema["unevaluatedItems"]].compactMap { $0 }
            if !unevaluated.isEmpty {
                // The evaluator answers for this subschema (it tracks the annotations these keywords
                // read); its subschemas were compiled above only to visit what it can reach.
                for subschema in unevaluated { _ = add(subschema, base: base) }
                interpreted.append((schema, base))
                return Node(shape: .interpreted(interpreted.count - 1))
            }
            return node
        }

        /// The node for a `$ref` target, reserved now and compiled from the work list.
        private mutating func target(_ uri: String) -> Int {
            if let known = targets[uri] { return known }
            let slot = nodes.count
            targets[uri] = slot
            if let (schema, base) = index.lookup(uri) {
                nodes.append(Node(shape: .alwaysValid))
                pending.append((slot, schema, base))
            } else {
                // The evaluator fails "unresolved $ref" whenever it gets here.
                nodes.append(Node(shape: .alwaysInvalid))
            }
            return slot
        }

        private func count(_ value: JSONValue?) -> Int? { value.flatMap(JSONSchemaEvaluator.count) }

        private func bound(_ value: JSONValue?) -> Double? { value.flatMap(JSONNumber.init)?.double }

        private mutating func pattern(_ source: String) -> SchemaPattern? {
            if let compiled = patterns[source] ?? SchemaPattern(source) { return compiled }
            failed = true
            return nil
        }

        private func generic(_ schema: JSONValue, into node: inout Node) {
            if let type = schema["type"] {
                let names: [String] =
                    switch type {
                    case .string(let name): [name]
                    case .array(let names): names.compactMap(\.stringValue)
                    default: []
                    }
                node.types = names.reduce(0) { $0 | TypeMask.bit($1) }
            }
            if case .array(let options)? = schema["enum"] { node.enumOptions = options.map(SchemaConstant.init) }
            if let constant = schema["const"] { node.constant = SchemaConstant(constant) }
        }

        private mutating func applicators(_ schema: JSONValue, base: String, into node: inout Node) {
            if case .array(let subschemas)? = schema["allOf"] { node.allOf = subschemas.map { add($0, base: base) } }
            if case .array(let subschemas)? = schema["anyOf"] { node.anyOf = subschemas.map { add($0, base: base) } }
            if case .array(let subschemas)? = schema["oneOf"] { node.oneOf = subschemas.map { add($0, base: base) } }
            if let subschema = schema["not"] { node.not = add(subschema, base: base) }
            if let condition = schema["if"] {
                node.condition = add(condition, base: base)
                if let then = schema["then"] { node.then = add(then, base: base) }
                if let otherwise = schema["else"] { node.otherwise = add(otherwise, base: base) }
            }
        }

        private func numeric(_ schema: JSONValue, into node: inout Node) {
            node.multipleOf = schema["multipleOf"].flatMap(JSONNumber.init)
            node.maximum = bound(schema["maximum"])
            node.exclusiveMaximum = bound(schema["exclusiveMaximum"])
            node.minimum = bound(schema["minimum"])
            node.exclusiveMinimum = bound(schema["exclusiveMinimum"])
            node.hasNumberKeywords =
                node.multipleOf != nil || node.maximum != nil || node.exclusiveMaximum != nil || node.minimum != nil
                || node.exclusiveMinimum != nil
        }

        private mutating func string(_ schema: JSONValue, into node: inout Node) {
            node.maxLength = count(schema["maxLength"])
            node.minLength = count(schema["minLength"])
            if case .string(let source)? = schema["pattern"] { node.pattern = pattern(source) }
            node.hasStringKeywords = node.maxLength != nil || node.minLength != nil || node.pattern != nil
        }

        private mutating func array(_ schema: JSONValue, base: String, into node: inout Node) {
            node.maxItems = count(schema["maxItems"])
            node.minItems = count(schema["minItems"])
            node.uniqueItems = schema["uniqueItems"] == .bool(true)
            // prefixItems, or draft-07's `items` array, then `items` (or `additionalItems`) for the rest.
            var rest: JSONValue?
            if case .array(let schemas)? = schema["prefixItems"] {
                node.prefixItems = schemas.map { add($0, base: base) }
                rest = schema["items"]
            } else if case .array(let schemas)? = schema["items"] {
                node.prefixItems = schemas.map { add($0, base: base) }
                rest = schema["additionalItems"]
            } else {
                rest = schema["items"]
            }
            if let rest { node.restItems = add(rest, base: base) }
            if let contains = schema["contains"] {
                node.contains = add(contains, base: base)
                node.minContains = count(schema["minContains"]) ?? 1
                node.maxContains = count(schema["maxContains"])
            }
            node.hasArrayKeywords =
                node.maxItems != nil || node.minItems != nil || node.uniqueItems || !node.prefixItems.isEmpty
                || node.restItems != nil || node.contains != nil
        }

        private mutating func object(_ schema: JSONValue, base: String, into node: inout Node) {
            node.maxProperties = count(schema["maxProperties"])
            node.minProperties = count(schema["minProperties"])
            if case .array(let required)? = schema["required"] {
                node.required = required.compactMap(\.stringValue).map(SchemaKey.init)
            }
            var dependencies: [JSONField] = []
            if case .object(let fields)? = schema["dependentRequired"] { dependencies += fields }
            if case .object(let fields)? = schema["dependencies"] {
                // Draft-07: an array is dependentRequired, a schema is dependentSchemas.
                dependencies += fields.filter { if case .array = $0.value { true } else { false } }
                for field in fields where field.value.isSchemaShaped {
                    node.dependentSchemas.append((SchemaKey(field.key), add(field.value, base: base)))
                }
            }
            for dependency in dependencies {
                guard case .array(let names) = dependency.value else { continue }
                node.dependentRequired.append(
                    (SchemaKey(dependency.key), names.compactMap(\.stringValue).map(SchemaKey.init)))
            }
            if case .object(let fields)? = schema["dependentSchemas"] {
                for field in fields {
                    node.dependentSchemas.append((SchemaKey(field.key), add(field.value, base: base)))
                }
            }
            if let names = schema["propertyNames"] { node.propertyNames = add(names, base: base) }
            if case .object(let fields)? = schema["properties"] {
                node.properties = fields.map { (SchemaKey($0.key), add($0.value, base: base)) }
            }
            if case .object(let fields)? = schema["patternProperties"] {
                for field in fields {
                    guard let compiled = pattern(field.key) else { continue }
                    node.patternProperties.append((compiled, add(field.value, base: base)))
                }
            }
            if let additional = schema["additionalProperties"] {
                node.additionalProperties = add(additional, base: base)
            }
            let names =
                node.required + node.properties.map(\.0) + node.dependentSchemas.map(\.0)
                + node.dependentRequired.flatMap { [$0.0] + $0.1 }
            node.namesNeedStrings = names.contains { !$0.isASCII }
            node.hasObjectKeywords =
                node.maxProperties != nil || node.minProperties != nil || !node.required.isEmpty
                || !node.dependentRequired.isEmpty || !node.dependentSchemas.isEmpty || node.propertyNames != nil
                || !node.properties.isEmpty || !node.patternProperties.isEmpty || node.additionalProperties != nil
        }
    }
}
