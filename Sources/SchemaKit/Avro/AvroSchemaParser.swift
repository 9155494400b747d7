import BusCore

/// Turns schema JSON into `AvroType`s, resolving names against namespaces as the spec's "Names" section
/// says and refusing what the spec forbids (bad names, redefinitions, unions in unions, duplicate
/// branches, unknown type names).
struct AvroSchemaParser {
    /// Nesting deeper than this is refused (a schema, not a payload, but still input from the network).
    static let maxDepth = 64

    /// Named types defined so far, by full name. A record is entered before its fields are parsed so
    /// fields can refer to it (recursive types).
    var named: [String: AvroType] = [:]

    mutating func parse(_ json: JSONValue, namespace: String, depth: Int) throws(SchemaError) -> AvroType {
        guard depth < Self.maxDepth else { throw .schema("schema nested more than \(Self.maxDepth) deep") }
        switch json {
        case .string(let name):
            return try reference(name, namespace: namespace)
        case .array(let branches):
            return try union(branches, namespace: namespace, depth: depth)
        case .object:
            return try complex(json, namespace: namespace, depth: depth)
        default:
            throw .schema("a schema must be a type name, an object or a union array, not \(json)")
        }
    }

    /// A primitive name or a reference to an already defined named type.
    private func reference(_ name: String, namespace: String) throws(SchemaError) -> AvroType {
        if let primitive = AvroType.primitives[name] { return primitive }
        let candidates = name.contains(".") || namespace.isEmpty ? [name] : ["\(namespace).\(name)", name]
        for candidate in candidates where named[candidate] != nil {
            return .reference(candidate)
        }
        throw .schema("\(name) is not a defined type")
    }

    private mutating func union(_ branches: [JSONValue], namespace: String, depth: Int) throws(SchemaError)
        -> AvroType
    {
        var types: [AvroType] = []
        var seen: Set<String> = []
        for branch in branches {
            let type = try parse(branch, namespace: namespace, depth: depth + 1)
            if case .union = type { throw .schema("a union may not immediately contain another union") }
            // Branches are told apart by type, or by name for named types.
            guard seen.insert(type.branchName).inserted else {
                throw .schema("union contains \(type.branchName) twice")
            }
            types.append(type)
        }
        return .union(types)
    }

    private mutating func complex(_ json: JSONValue, namespace: String, depth: Int) throws(SchemaError)
        -> AvroType
    {
        guard let typeMember = json["type"] else { throw .schema("schema object has no \"type\"") }
        guard case .string(let typeName) = typeMember else {
            // {"type": {...}} or {"type": [...]}: the object wraps another schema.
            return try parse(typeMember, namespace: namespace, depth: depth + 1)
        }
        let type: AvroType
        switch typeName {
        case "record", "error":
            type = try record(json, isError: typeName == "error", namespace: namespace, depth: depth)
        case "enum":
            type = try enumeration(json, namespace: namespace)
        case "fixed":
            type = try fixed(json, namespace: namespace)
        case "array":
            guard let items = json["items"] else { throw .schema("array schema has no \"items\"") }
            type = .array(try parse(items, namespace: namespace, depth: depth + 1))
        case "map":
            guard let values = json["values"] else { throw .schema("map schema has no \"values\"") }
            type = .map(try parse(values, namespace: namespace, depth: depth + 1))
        default:
            type = try reference(typeName, namespace: namespace)
        }
        return Self.annotate(type, with: json, named: named)
    }

    // MARK: - Named types

    /// The full name and namespace of a named type's definition.
    private func fullName(_ json: JSONValue, enclosing: String) throws(SchemaError) -> (String, String) {
        guard let name = json["name"]?.stringValue else { throw .schema("named type has no \"name\"") }
        let full: String
        if name.contains(".") {
            full = name
        } else {
            let space = json["namespace"]?.stringValue ?? enclosing
            full = space.isEmpty ? name : "\(space).\(name)"
        }
        for part in full.split(separator: ".", omittingEmptySubsequences: false) {
            guard Self.isValidName(part) else { throw .schema("\(full) is not a valid name") }
        }
        guard AvroType.primitives[String(AvroType.shortName(full))] == nil || full.contains(".") else {
            throw .schema("\(full) redefines a primitive type")
        }
        guard named[full] == nil else { throw .schema("\(full) is defined twice") }
        let lastDot = full.lastIndex(of: ".")
        return (full, lastDot.map { String(full[..<$0]) } ?? "")
    }

    private func aliases(_ json: JSONValue, namespace: String) -> [String] {
        (json["aliases"]?.arrayValue ?? []).compactMap(\.stringValue).map {
            $0.contains(".") || namespace.isEmpty ? $0 : "\(namespace).\($0)"
        }
    }

    private mutating func record(_ json: JSONValue, isError: Bool, namespace: String, depth: Int)
        throws(SchemaError) -> AvroType
    {
        let (full, space) = try fullName(json, enclosing: namespace)
        guard let fieldsJSON = json["fields"]?.arrayValue else {
            throw .schema("record \(full) has no \"fields\" array")
        }
        var record = AvroRecord(fullName: full, aliases: aliases(json, namespace: space), fields: [], isError: isError)
        named[full] = .record(record)  // visible to its own fields
        var names: Set<String> = []
        for fieldJSON in fieldsJSON {
            guard let name = fieldJSON["name"]?.stringValue, Self.isValidName(Substring(name)) else {
                throw .schema("record \(full) has a field without a valid name")
            }
            guard names.insert(name).inserted else { throw .schema("record \(full) has field \(name) twice") }
            guard let typeJSON = fieldJSON["type"] else { throw .schema("field \(full).\(name) has no type") }
            let type = try parse(typeJSON, namespace: space, depth: depth + 1)
            let fieldAliases = (fieldJSON["aliases"]?.arrayValue ?? []).compactMap(\.stringValue)
            record.fields.append(
                AvroField(name: name, type: type, defaultValue: fieldJSON["default"], aliases: fieldAliases))
        }
        named[full] = .record(record)
        return .record(record)
    }

    private mutating func enumeration(_ json: JSONValue, namespace: String) throws(SchemaError) -> AvroType {
        let (full, space) = try fullName(json, enclosing: namespace)
        guard let symbolsJSON = json["symbols"]?.arrayValue else { throw .schema("enum \(full) has no symbols") }
        var symbols: [String] = []
        for symbol in symbolsJSON {
            guard let text = symbol.stringValue, Self.isValidName(Substring(text)) else {
                throw .schema("enum \(full) has an invalid symbol \(symbol)")
            }
            guard !symbols.contains(text) else { throw .schema("enum \(full) has symbol \(text) twice") }
            symbols.append(text)
        }
        let defaultSymbol = json["default"]?.stringValue
        if let defaultSymbol, !symbols.contains(defaultSymbol) {
            throw .schema("enum \(full)'s default \(defaultSymbol) is not one of its symbols")
        }
        let type = AvroType.enumeration(
            AvroEnum(
                fullName: full, aliases: aliases(json, namespace: space), symbols: symbols, defaultSymbol: defaultSymbol
            ))
        named[full] = type
        return type
    }

    private mutating func fixed(_ json: JSONValue, namespace: String) throws(SchemaError) -> AvroType {
        let (full, space) = try fullName(json, enclosing: namespace)
        guard let size = json["size"]?.intValue, size >= 0, size <= Int(Int32.max) else {
            throw .schema("fixed \(full) needs a non-negative integer size")
        }
        let type = AvroType.fixed(AvroFixed(fullName: full, aliases: aliases(json, namespace: space), size: size))
        named[full] = type
        return type
    }

    // MARK: - Logical types

    /// Wraps `type` in its `logicalType` annotation when the annotation is valid for it; the spec says an
    /// invalid logical type is ignored and the underlying type used.
    static func annotate(_ type: AvroType, with json: JSONValue, named: [String: AvroType]) -> AvroType {
        guard let name = json["logicalType"]?.stringValue else { return type }
        var base = type
        if case .reference(let full) = type, let definition = named[full] { base = definition }
        let fits: Bool
        var logical = AvroLogicalType(name: name)
        switch (name, base) {
        case ("decimal", .bytes), ("decimal", .fixed):
            guard let precision = json["precision"]?.intValue, precision > 0 else { return type }
            let scale = json["scale"]?.intValue ?? 0
            if case .fixed(let fixed) = base {
                // The most digits `size` bytes of two's complement can hold.
                let maxPrecision = Int((Double(8 * fixed.size - 1) * 0.30102999566398120).rounded(.down))
                guard precision <= maxPrecision else { return type }
            }
            guard scale >= 0, scale <= precision else { return type }
            logical.precision = precision
            logical.scale = scale
            fits = true
        case ("uuid", .string), ("uuid", .fixed): fits = true
        case ("date", .int), ("time-millis", .int): fits = true
        case ("time-micros", .long), ("timestamp-millis", .long), ("timestamp-micros", .long),
            ("timestamp-nanos", .long), ("local-timestamp-millis", .long), ("local-timestamp-micros", .long),
            ("local-timestamp-nanos", .long):
            fits = true
        case ("duration", .fixed(let fixed)): fits = fixed.size == 12
        default: fits = false
        }
        return fits ? .logical(logical, type) : type
    }

    /// `[A-Za-z_][A-Za-z0-9_]*`
    static func isValidName(_ name: Substring) -> Bool {
        guard let first = name.utf8.first else { return false }
        func letter(_ byte: UInt8) -> Bool {
            (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A) || byte == UInt8(ascii: "_")
        }
        return letter(first) && name.utf8.allSatisfy { letter($0) || ($0 >= 0x30 && $0 <= 0x39) }
    }
}

extension AvroLogicalType {
    init(name: String) {
        self.name = name
        self.precision = nil
        self.scale = nil
    }
}
