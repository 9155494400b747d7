/// A parsed JSON value. Numbers keep their source text so they are re-emitted exactly.
package enum JSONValue: Sendable, Hashable {
    case null
    case bool(Bool)
    case number(String)
    case string(String)
    case array([JSONValue])
    case object([JSONField])

    package subscript(key: String) -> JSONValue? {
        guard case .object(let fields) = self else { return nil }
        return fields.first { $0.key == key }?.value
    }

    package var stringValue: String? {
        if case .string(let value) = self { return value }
        return nil
    }

    /// An integer value, when the number is integral and fits.
    package var intValue: Int? {
        guard case .number(let text) = self else { return nil }
        if let int = Int(text) { return int }
        if let double = Double(text), double.rounded() == double, abs(double) < 9e15 { return Int(double) }
        return nil
    }

    package var uint64Value: UInt64? {
        guard case .number(let text) = self else { return nil }
        return UInt64(text)
    }

    package var arrayValue: [JSONValue]? {
        if case .array(let values) = self { return values }
        return nil
    }
}

/// One member of a JSON object, in source order.
package struct JSONField: Sendable, Hashable {
    package var key: String
    package var value: JSONValue
    package init(key: String, value: JSONValue) {
        self.key = key
        self.value = value
    }
}

/// A top-level JSON object with each member's raw byte range, so a frontend can forward a member
/// (a publish's `data`, a request's `id`) without re-encoding it.
package struct JSONDocument: Sendable {
    package struct Member: Sendable {
        package var value: JSONValue
        /// Byte range of the value in the parsed input.
        package var range: Range<Int>
    }

    package var members: [String: Member]

    package subscript(key: String) -> JSONValue? { members[key]?.value }
}

/// Why JSON was refused.
package struct JSONError: Error, Sendable, Hashable, CustomStringConvertible {
    package var message: String
    package var offset: Int
    package var description: String { "invalid JSON at byte \(offset): \(message)" }
}
