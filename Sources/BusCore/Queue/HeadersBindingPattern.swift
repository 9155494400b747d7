/// A headers-exchange binding's arguments, parsed once at bind time: which headers must match and whether
/// all or any of them (`x-match`). Keys starting with `x-` are left out, except with `all-with-x` and
/// `any-with-x`; `x-match` itself never takes part. A void value asks only that the header be present.
package struct HeadersBindingPattern: Sendable, Equatable {
    /// Whether every listed header must match (`all`) or one is enough (`any`).
    package var requiresAll: Bool
    /// The headers to compare, by key.
    package var headers: [(key: String, value: HeaderValue)]

    /// Parses a binding's arguments; refused (406) when `x-match` is not one of the four values.
    package init(arguments: [String: HeaderValue]) throws(BrokerRefusal) {
        let includesX: Bool
        switch arguments["x-match"] {
        case nil, .string("all"):
            (requiresAll, includesX) = (true, false)
        case .string("any"):
            (requiresAll, includesX) = (false, false)
        case .string("all-with-x"):
            (requiresAll, includesX) = (true, true)
        case .string("any-with-x"):
            (requiresAll, includesX) = (false, true)
        case .string(let other):
            throw BrokerRefusal(
                .preconditionFailed,
                "Invalid x-match field value <<\"\(other)\">>; expected all, any, all-with-x, or any-with-x")
        case let other?:
            throw BrokerRefusal(.preconditionFailed, "Invalid x-match field type (value \(other)); expected longstr")
        }
        headers = arguments.filter { $0.key != "x-match" && (includesX || !$0.key.hasPrefix("x-")) }
            .sorted { $0.key < $1.key }.map { (key: $0.key, value: $0.value) }
    }

    /// Whether a message with `messageHeaders` matches. With no headers to compare, `all` matches every
    /// message and `any` none (RabbitMQ's `headers_match`).
    package func matches(_ messageHeaders: [String: HeaderValue]) -> Bool {
        if requiresAll {
            for (key, value) in headers {
                guard let actual = messageHeaders[key], value == .void || value.matches(actual) else { return false }
            }
            return true
        }
        for (key, value) in headers {
            if let actual = messageHeaders[key], value == .void || value.matches(actual) { return true }
        }
        return false
    }

    package static func == (left: Self, right: Self) -> Bool {
        left.requiresAll == right.requiresAll && left.headers.elementsEqual(right.headers) { $0 == $1 }
    }
}
