/// A recursive-descent parser for proto3 .proto files (https://protobuf.dev/reference/protobuf/proto3-spec/):
/// `syntax`, `package`, `option`s (skipped), messages with nested messages and enums, scalar, message
/// and enum fields, `repeated`, `optional`, `map<,>`, `oneof`, `reserved`; `service` blocks are skipped.
/// Imports are refused with a clear error: a schema here must be self-contained.
struct ProtobufParser {
    /// Most tokens read and deepest nesting: a schema comes from the network.
    static let maxTokens = 200_000
    static let maxDepth = 32

    private var tokens: [ProtobufToken]
    private var position = 0
    private var packageName = ""
    /// Declarations before type resolution.
    private var messages: [String: PendingMessage] = [:]
    private var messageOrder: [String] = []
    private var enums: [String: ProtobufEnum] = [:]

    private struct PendingField {
        var field: ProtobufField
        var typeName: String
        var keyType: String?
        var scope: String
    }

    private struct PendingMessage {
        var message: ProtobufMessage
        var fields: [PendingField]
    }

    init(_ text: String) throws(SchemaError) {
        tokens = try ProtobufTokenizer.tokenize(text, limit: Self.maxTokens)
    }

    mutating func parseFile() throws(SchemaError) -> ProtobufSchema {
        var topLevel: [String] = []
        if peek("syntax") {
            position += 1
            try expect("=")
            let syntax = try stringLiteral()
            try expect(";")
            guard syntax == "proto3" else {
                throw SchemaError(.unsupported, "syntax \(syntax) is not supported; only proto3 is")
            }
        }
        while position < tokens.count {
            if peek(";") {
                position += 1
            } else if peek("package") {
                position += 1
                packageName = try fullIdentifier()
                try expect(";")
            } else if peek("import") {
                position += 1
                let path = (try? stringLiteral()) ?? "?"
                throw SchemaError(
                    .unsupported,
                    "import \"\(path)\" is not supported: schemas must be self-contained (no imports, well-known types included)"
                )
            } else if peek("option") {
                try skipStatement()
            } else if peek("message") {
                topLevel.append(try message(scope: packageName, depth: 0))
            } else if peek("enum") {
                try enumeration(scope: packageName)
            } else if peek("service") || peek("extend") {
                position += 1
                _ = try identifier()
                try skipBlock()
            } else {
                throw error("unexpected \(tokens[position].text)")
            }
        }
        return try resolve(topLevel: topLevel)
    }

    // MARK: - Declarations

    private mutating func message(scope: String, depth: Int) throws(SchemaError) -> String {
        guard depth < Self.maxDepth else { throw error("messages nested too deeply") }
        try expect("message")
        let name = try identifier()
        let fullName = scope.isEmpty ? name : "\(scope).\(name)"
        guard messages[fullName] == nil, enums[fullName] == nil else { throw error("\(fullName) is defined twice") }
        var pending = PendingMessage(
            message: ProtobufMessage(
                name: name, fullName: fullName, fields: [], oneofs: [], nestedMessages: [], nestedEnums: [],
                reservedNumbers: [], reservedNames: []),
            fields: [])
        messages[fullName] = pending  // reserve the name
        try expect("{")
        while !peek("}") {
            guard position < tokens.count else { throw error("message \(name) is not closed") }
            if peek(";") {
                position += 1
            } else if peek("message") {
                pending.message.nestedMessages.append(try message(scope: fullName, depth: depth + 1))
            } else if peek("enum") {
                pending.message.nestedEnums.append(try enumeration(scope: fullName))
            } else if peek("option") {
                try skipStatement()
            } else if peek("reserved") {
                try reserved(into: &pending.message)
            } else if peek("extensions") || peek("extend") {
                throw SchemaError(.unsupported, "extensions are proto2 only")
            } else if peek("oneof") {
                position += 1
                let oneofName = try identifier()
                let oneofIndex = pending.message.oneofs.count
                pending.message.oneofs.append(oneofName)
                try expect("{")
                while !peek("}") {
                    guard position < tokens.count else { throw error("oneof \(oneofName) is not closed") }
                    if peek(";") {
                        position += 1
                    } else if peek("option") {
                        try skipStatement()
                    } else {
                        var field = try field(scope: fullName, label: .singular)
                        field.field.oneofIndex = oneofIndex
                        pending.fields.append(field)
                    }
                }
                position += 1
            } else if peek("map") && peek("<", offset: 1) {
                pending.fields.append(try mapField(scope: fullName))
            } else {
                var label = ProtobufField.Label.singular
                if peek("repeated") {
                    label = .repeated
                    position += 1
                } else if peek("optional") {
                    label = .optional
                    position += 1
                } else if peek("required") {
                    throw SchemaError(.unsupported, "required fields are proto2 only")
                }
                pending.fields.append(try field(scope: fullName, label: label))
            }
        }
        position += 1
        var numbers: Set<Int> = []
        for pending in pending.fields {
            guard numbers.insert(pending.field.number).inserted else {
                throw error("field number \(pending.field.number) is used twice in \(fullName)")
            }
        }
        messages[fullName] = pending
        messageOrder.append(fullName)
        return fullName
    }

    private mutating func field(scope: String, label: ProtobufField.Label) throws(SchemaError) -> PendingField {
        let typeName = try fullIdentifier()
        let name = try identifier()
        try expect("=")
        let number = try fieldNumber()
        var field = ProtobufField(
            name: name, number: number, label: label, type: .bool, oneofIndex: nil, packed: true,
            jsonName: Self.lowerCamelCase(name))
        try fieldOptions(into: &field)
        try expect(";")
        return PendingField(field: field, typeName: typeName, keyType: nil, scope: scope)
    }

    private mutating func mapField(scope: String) throws(SchemaError) -> PendingField {
        position += 1  // map
        try expect("<")
        let keyType = try identifier()
        try expect(",")
        let valueType = try fullIdentifier()
        try expect(">")
        let name = try identifier()
        try expect("=")
        let number = try fieldNumber()
        var field = ProtobufField(
            name: name, number: number, label: .repeated, type: .bool, oneofIndex: nil, packed: false,
            jsonName: Self.lowerCamelCase(name))
        try fieldOptions(into: &field)
        try expect(";")
        return PendingField(field: field, typeName: valueType, keyType: keyType, scope: scope)
    }

    private mutating func fieldNumber() throws(SchemaError) -> Int {
        let token = try next()
        guard let number = Self.integer(token.text), number >= 1, number <= 536_870_911,
            !(19000...19999).contains(number)
        else { throw error("invalid field number \(token.text)") }
        return number
    }

    /// `[packed = false, json_name = "x", deprecated = true]`: packed and json_name matter, the rest not.
    private mutating func fieldOptions(into field: inout ProtobufField) throws(SchemaError) {
        guard peek("[") else { return }
        position += 1
        while true {
            let name = try fullIdentifier()
            try expect("=")
            let value = try next()
            if name == "packed" { field.packed = value.text == "true" }
            if name == "json_name", value.kind == .string { field.jsonName = value.text }
            if peek(",") {
                position += 1
                continue
            }
            try expect("]")
            return
        }
    }

    @discardableResult
    private mutating func enumeration(scope: String) throws(SchemaError) -> String {
        try expect("enum")
        let name = try identifier()
        let fullName = scope.isEmpty ? name : "\(scope).\(name)"
        guard messages[fullName] == nil, enums[fullName] == nil else { throw error("\(fullName) is defined twice") }
        var values: [(name: String, number: Int32)] = []
        try expect("{")
        while !peek("}") {
            guard position < tokens.count else { throw error("enum \(name) is not closed") }
            if peek(";") {
                position += 1
            } else if peek("option") || peek("reserved") {
                try skipStatement()
            } else {
                let valueName = try identifier()
                try expect("=")
                var text = try next().text
                if text == "-" { text = "-" + (try next().text) }
                guard let number = Self.integer(text), let number32 = Int32(exactly: number) else {
                    throw error("invalid enum value \(text)")
                }
                if peek("[") { try skipBrackets() }
                try expect(";")
                values.append((valueName, number32))
            }
        }
        position += 1
        guard let first = values.first else { throw error("enum \(fullName) has no values") }
        guard first.number == 0 else { throw error("the first value of enum \(fullName) must be 0 in proto3") }
        enums[fullName] = ProtobufEnum(name: name, fullName: fullName, values: values)
        return fullName
    }

    private mutating func reserved(into message: inout ProtobufMessage) throws(SchemaError) {
        position += 1
        while !peek(";") {
            let token = try next()
            if token.kind == .string {
                message.reservedNames.append(token.text)
            } else if let low = Self.integer(token.text) {
                var high = low
                if peek("to") {
                    position += 1
                    let end = try next().text
                    high = end == "max" ? 536_870_911 : (Self.integer(end) ?? low)
                }
                if high >= low { message.reservedNumbers.append(low...high) }
            } else if token.text != "," {
                throw error("unexpected \(token.text) in reserved")
            }
        }
        position += 1
    }

    // MARK: - Type resolution

    private func resolve(topLevel: [String]) throws(SchemaError) -> ProtobufSchema {
        var resolved: [String: ProtobufMessage] = [:]
        for (fullName, pending) in messages {
            var message = pending.message
            for field in pending.fields {
                var field = field
                let valueType = try type(named: field.typeName, scope: field.scope)
                if let keyName = field.keyType {
                    guard let key = ProtobufFieldType.scalars[keyName], key != .double, key != .float, key != .bytes
                    else {
                        throw error("map key type \(keyName) is not allowed")
                    }
                    if case .map = valueType { throw error("map values cannot be maps") }
                    field.field.type = .map(key: key, value: valueType)
                } else {
                    field.field.type = valueType
                }
                if field.field.label == .repeated, !field.field.type.isPackable { field.field.packed = false }
                for range in message.reservedNumbers where range.contains(field.field.number) {
                    throw error("field \(field.field.name) uses reserved number \(field.field.number)")
                }
                if message.reservedNames.contains(field.field.name) {
                    throw error("field \(field.field.name) uses a reserved name")
                }
                message.fields.append(field.field)
            }
            resolved[fullName] = message
        }
        return ProtobufSchema(
            packageName: packageName, messages: topLevel.compactMap { resolved[$0] }, messagesByName: resolved,
            enumsByName: enums)
    }

    /// Protobuf's scoping: a name is looked up from the innermost enclosing scope outwards; a leading
    /// dot makes it fully qualified.
    private func type(named name: String, scope: String) throws(SchemaError) -> ProtobufFieldType {
        if let scalar = ProtobufFieldType.scalars[name] { return scalar }
        if name.hasPrefix("google.protobuf.") || name.hasPrefix(".google.protobuf.") {
            throw SchemaError(.unsupported, "well-known type \(name) needs an import, which is not supported")
        }
        var candidates: [String] = []
        if name.hasPrefix(".") {
            candidates = [String(name.dropFirst())]
        } else {
            var current = scope
            while true {
                candidates.append(current.isEmpty ? name : "\(current).\(name)")
                guard !current.isEmpty else { break }
                current = current.lastIndex(of: ".").map { String(current[..<$0]) } ?? ""
            }
        }
        for candidate in candidates {
            if messages[candidate] != nil { return .message(candidate) }
            if enums[candidate] != nil { return .enumeration(candidate) }
        }
        throw SchemaError(.invalidSchema, "type \(name) is not defined")
    }

    // MARK: - Tokens

    private func peek(_ text: String, offset: Int = 0) -> Bool {
        position + offset < tokens.count && tokens[position + offset].kind != .string
            && tokens[position + offset].text == text
    }

    private mutating func next() throws(SchemaError) -> ProtobufToken {
        guard position < tokens.count else { throw SchemaError.schema("unexpected end of the .proto text") }
        defer { position += 1 }
        return tokens[position]
    }

    private mutating func expect(_ text: String) throws(SchemaError) {
        guard peek(text) else {
            throw error(
                position < tokens.count
                    ? "expected \(text), found \(tokens[position].text)" : "expected \(text) at the end")
        }
        position += 1
    }

    private mutating func identifier() throws(SchemaError) -> String {
        let token = try next()
        guard token.kind == .identifier, !token.text.contains(".") else {
            throw error("expected a name, found \(token.text)")
        }
        return token.text
    }

    /// A dotted name, possibly starting with a dot.
    private mutating func fullIdentifier() throws(SchemaError) -> String {
        let token = try next()
        guard token.kind == .identifier else { throw error("expected a type name, found \(token.text)") }
        return token.text
    }

    private mutating func stringLiteral() throws(SchemaError) -> String {
        let token = try next()
        guard token.kind == .string else { throw error("expected a string, found \(token.text)") }
        return token.text
    }

    /// Skips to the end of a statement, over any `{…}` aggregate value.
    private mutating func skipStatement() throws(SchemaError) {
        while !peek(";") {
            if peek("{") {
                try skipBlock()
                continue
            }
            _ = try next()
        }
        position += 1
    }

    private mutating func skipBlock() throws(SchemaError) {
        while !peek("{") { _ = try next() }
        var depth = 0
        repeat {
            let token = try next()
            if token.kind == .symbol && token.text == "{" { depth += 1 }
            if token.kind == .symbol && token.text == "}" { depth -= 1 }
        } while depth > 0
    }

    private mutating func skipBrackets() throws(SchemaError) {
        while !peek("]") { _ = try next() }
        position += 1
    }

    private func error(_ message: String) -> SchemaError {
        let line = position < tokens.count ? tokens[position].line : (tokens.last?.line ?? 1)
        return .schema("line \(line): \(message)")
    }

    static func integer(_ text: String) -> Int? {
        if text.hasPrefix("0x") || text.hasPrefix("0X") { return Int(text.dropFirst(2), radix: 16) }
        if text.hasPrefix("-0x") { return Int(text.dropFirst(3), radix: 16).map { -$0 } }
        if text.count > 1, text.hasPrefix("0") { return Int(text.dropFirst(), radix: 8) }
        return Int(text)
    }

    /// protoc's json_name: underscores dropped, the letter after each one upper-cased.
    static func lowerCamelCase(_ name: String) -> String {
        var out = ""
        var upperNext = false
        for character in name {
            if character == "_" {
                upperNext = true
            } else if upperNext {
                out += character.uppercased()
                upperNext = false
            } else {
                out.append(character)
            }
        }
        return out
    }
}
