import BusCore

/// An `enum` option or `const` value, read once into the forms tape comparison needs: strings as
/// bytes, numbers as exact decimals. Equality is `JSONValue.schemaEquals`.
indirect enum SchemaConstant: Sendable {
    case null
    case bool(Bool)
    /// `JSONNumber` (nil when it cannot read the text, as `schemaEquals` then compares nils) and the
    /// fast form when it has one.
    case number(JSONNumber?, JSONDecimal?)
    case string([UInt8])
    case array([SchemaConstant])
    case object([(name: [UInt8], value: SchemaConstant)])

    init(_ value: JSONValue) {
        switch value {
        case .null: self = .null
        case .bool(let flag): self = .bool(flag)
        case .number:
            let number = JSONNumber(value)
            self = .number(number, number.flatMap(JSONDecimal.init))
        case .string(let text): self = .string(Array(text.utf8))
        case .array(let elements): self = .array(elements.map(SchemaConstant.init))
        case .object(let fields): self = .object(fields.map { (Array($0.key.utf8), SchemaConstant($0.value)) })
        }
    }
}

extension CompiledJSONSchemaValidator {
    /// `constant.schemaEquals(value at token)`.
    func equals(_ token: Int, _ constant: SchemaConstant) -> Bool {
        let current = tokens[token]
        switch (current.kind, constant) {
        case (.null, .null): return true
        case (.trueLiteral, .bool(let flag)): return flag
        case (.falseLiteral, .bool(let flag)): return !flag
        case (.number, .number(let number, let decimal)):
            let text = tape.text(current)
            if let decimal, let instance = JSONDecimal(text) { return instance == decimal }
            return JSONNumber(String(decoding: text, as: UTF8.self)) == number
        case (.string, .string(let bytes)):
            return current.escaped ? tape.stringBytes(current) == bytes : Self.bytesEqual(tape.body(current), bytes)
        case (.array, .array(let elements)):
            guard Int(current.count) == elements.count else { return false }
            var element = token + 1
            for expected in elements {
                if !equals(element, expected) { return false }
                element = Int(tokens[element].next)
            }
            return true
        case (.object, .object(let fields)):
            guard Int(current.count) == fields.count else { return false }
            return fields.allSatisfy { field in
                guard let value = member(token, bytes: field.name) else { return false }
                return equals(value, field.value)
            }
        default: return false
        }
    }

    /// `(value at first).schemaEquals(value at second)`, for `uniqueItems`.
    func tapeEquals(_ first: Int, _ second: Int) -> Bool {
        let left = tokens[first]
        let right = tokens[second]
        guard left.kind == right.kind else { return false }
        switch left.kind {
        case .null, .falseLiteral, .trueLiteral: return true
        case .number:
            let leftText = tape.text(left)
            let rightText = tape.text(right)
            if let leftDecimal = JSONDecimal(leftText), let rightDecimal = JSONDecimal(rightText) {
                return leftDecimal == rightDecimal
            }
            return JSONNumber(String(decoding: leftText, as: UTF8.self))
                == JSONNumber(String(decoding: rightText, as: UTF8.self))
        case .string:
            if !left.escaped && !right.escaped {
                let leftBody = tape.body(left)
                let rightBody = tape.body(right)
                return leftBody.count == rightBody.count && leftBody.elementsEqual(rightBody)
            }
            return tape.stringBytes(left) == tape.stringBytes(right)
        case .array:
            guard left.count == right.count else { return false }
            var leftElement = first + 1
            var rightElement = second + 1
            for _ in 0..<left.count {
                if !tapeEquals(leftElement, rightElement) { return false }
                leftElement = Int(tokens[leftElement].next)
                rightElement = Int(tokens[rightElement].next)
            }
            return true
        case .object:
            guard left.count == right.count else { return false }
            var key = first + 1
            for _ in 0..<left.count {
                guard let match = member(second, bytes: tape.stringBytes(tokens[key])),
                    tapeEquals(key + 1, match)
                else { return false }
                key = Int(tokens[key + 1].next)
            }
            return true
        }
    }

    /// The value token of the first member whose decoded name is `name`, byte for byte (as
    /// `schemaEquals` matches members).
    func member(_ object: Int, bytes name: [UInt8]) -> Int? {
        var key = object + 1
        for _ in 0..<tokens[object].count {
            let token = tokens[key]
            let same = token.escaped ? tape.stringBytes(token) == name : Self.bytesEqual(tape.body(token), name)
            if same { return key + 1 }
            key = Int(tokens[key + 1].next)
        }
        return nil
    }
}
