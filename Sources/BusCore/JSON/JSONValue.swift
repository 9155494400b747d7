/// A parsed JSON value. Numbers keep their source text so they are re-emitted exactly.
public enum JSONValue: Sendable, Hashable {
    case null
    case bool(Bool)
    case number(String)
    case string(String)
    case array([JSONValue])
    case object([JSONField])

    public subscript(key: String) -> JSONValue? {
        guard case .object(let fields) = self else { return nil }
        return fields.first { $0.key == key }?.value
    }

    public var stringValue: String? {
        if case .string(let value) = self { return value }
        return nil
    }

    /// An integer value, when the number is integral and fits.
    public var intValue: Int? {
        guard case .number(let text) = self else { return nil }
        if let int = Int(text) { return int }
        if let double = Double(text), double.rounded() == double, abs(double) < 9e15 { return Int(double) }
        return nil
    }

    public var uint64Value: UInt64? {
        guard case .number(let text) = self else { return nil }
        return UInt64(text)
    }

    public var arrayValue: [JSONValue]? {
        if case .array(let values) = self { return values }
        return nil
    }
}

/// One member of a JSON object, in source order.
public struct JSONField: Sendable, Hashable {
    public var key: String
    public var value: JSONValue
    public init(key: String, value: JSONValue) {
        self.key = key
        self.value = value
    }
}

/// A top-level JSON object with each member's raw byte range, so a frontend can forward a member
/// (a publish's `data`, a request's `id`) without re-encoding it.
public struct JSONDocument: Sendable {
    public struct Member: Sendable {
        public var value: JSONValue
        /// Byte range of the value in the parsed input.
        public var range: Range<Int>
    }

    public var members: [String: Member]

    public subscript(key: String) -> JSONValue? { members[key]?.value }
}

/// Why JSON was refused.
public struct JSONError: Error, Sendable, Hashable, CustomStringConvertible {
    public var message: String
    public var offset: Int
    public var description: String { "invalid JSON at byte \(offset): \(message)" }
}
