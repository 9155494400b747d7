package import BusCore
package import NIOCore
package import SchemaKit

/// The config file's `payload_schemas` (issue 21, "Message translation"; docs/topics.md, "Payload
/// schemas"): topic filters whose publishes must be JSON that satisfies a JSON Schema. One checker for
/// every protocol: each frontend asks `check` on its publish path, next to its publish-permission check,
/// and turns a `PayloadSchemaViolation` into its own refusal.
///
/// Immutable after start-up (rules come from the config file), so it needs no lock and no generation:
/// with no rules `check` is one branch; with rules it walks the rules' precomputed filter levels against
/// the topic's bytes without allocating, and parses and validates only on a match. A governed payload
/// is read into a `JSONTape` (on the stack, no tree) and checked by each schema's compiled validator;
/// only a refusal (or a schema the validator cannot take) parses a `JSONValue` and asks the schema's
/// evaluator where and why, so the refusal names the same JSON Pointer path it always has.
package final class PayloadSchemas: Sendable {
    /// One rule: publishes on topics matching `filter` must be JSON valid under `schema`.
    package struct Rule: Sendable {
        package let filter: TopicFilter
        package let schema: JSONSchema
        /// The filter's levels, split and classified once.
        let levels: [Level]

        package init(filter: TopicFilter, schema: JSONSchema) {
            self.filter = filter
            self.schema = schema
            self.levels = filter.levels.map { level in
                switch level {
                case "+": .one
                case "#": .rest
                default: .exact(Array(level.utf8))
                }
            }
        }
    }

    /// One level of a rule's filter.
    enum Level: Sendable {
        /// A literal level, as bytes.
        case exact([UInt8])
        /// `+`: any one level.
        case one
        /// `#`: the rest, including nothing.
        case rest
    }

    /// The rules, in config order. A topic several rules match must satisfy all of them.
    package let rules: [Rule]
    /// `rules.isEmpty`, read first so an unconfigured server pays one branch per publish.
    package let isEmpty: Bool
    /// Each rule's filter levels, apart from the rules: the loops below read a rule by index only once
    /// it matches, as copying a `Rule` out of `rules` retains everything its schema holds.
    private let levels: [[Level]]
    /// Each rule's compiled validator (nil: its schema's evaluator answers), for the same reason.
    private let validators: [CompiledJSONSchema?]

    /// No rules: every payload passes.
    package static let none = PayloadSchemas(rules: [])

    package init(rules: [Rule]) {
        self.rules = rules
        self.isEmpty = rules.isEmpty
        self.levels = rules.map(\.levels)
        self.validators = rules.map(\.schema.compiled)
    }

    /// Whether some rule governs `topic` (a frontend can skip reading content types when none does).
    package func governs(_ topic: Topic) -> Bool {
        if isEmpty { return false }
        return levels.contains { Self.matches($0, topic) }
    }

    /// Checks a publish: nil when it may go on, else why not. The payload rule (docs/topics.md) decides
    /// what is JSON: a declared `text/*` (UTF-8) or `application/octet-stream` payload is not, whatever
    /// its bytes; otherwise the bytes must be one complete JSON value.
    @inline(__always)
    package func check(_ topic: Topic, payload: ByteBuffer, contentType: String?) -> PayloadSchemaViolation? {
        if isEmpty { return nil }
        return checkRules(topic, payload: payload, contentType: contentType)
    }

    private func checkRules(_ topic: Topic, payload: ByteBuffer, contentType: String?) -> PayloadSchemaViolation? {
        guard let first = levels.firstIndex(where: { Self.matches($0, topic) }) else { return nil }
        if let reason = Self.notJSON(payload, contentType: contentType) {
            return PayloadSchemaViolation(
                topic: topic.name, filter: rules[first].filter.text, path: "", message: reason)
        }
        return payload.withUnsafeReadableBytes { bytes in
            JSONTape.withTape(of: bytes) { tape in
                var instance: JSONValue?
                for index in first..<levels.count where Self.matches(levels[index], topic) {
                    if let tape, let validator = validators[index], validator.isValid(tape) { continue }
                    let rule = rules[index]
                    // Refused (or not compiled): the evaluator says where and why, from a tree.
                    if instance == nil {
                        do {
                            instance = try JSONParser.parse(bytes)
                        } catch {
                            return PayloadSchemaViolation(
                                topic: topic.name, filter: rule.filter.text, path: "",
                                message: "payload is not JSON (\(error))")
                        }
                    }
                    if let violation = rule.schema.violations(of: instance!).first {
                        return PayloadSchemaViolation(
                            topic: topic.name, filter: rule.filter.text, path: violation.path,
                            message: violation.message)
                    }
                }
                return nil
            }
        }
    }

    /// Why a payload declared as text or binary is not JSON, whatever its bytes; nil when it may be.
    private static func notJSON(_ payload: ByteBuffer, contentType: String?) -> String? {
        guard let contentType else { return nil }
        let type = contentType.lowercased()
        if type.hasPrefix("text/") && payload.withUnsafeReadableBytes(UTF8Validation.isValid) {
            return "payload is text (\(contentType)), not JSON"
        }
        if type.hasPrefix("application/octet-stream") {
            return "payload is binary (\(contentType)), not JSON"
        }
        return nil
    }

    /// `TopicFilter.matches` over bytes, without splitting the topic into an array.
    static func matches(_ pattern: [Level], _ topic: Topic) -> Bool {
        var name = topic.name
        return name.withUTF8 { bytes in
            // [MQTT-4.7.2-1] A filter starting with a wildcard does not match a topic starting with '$'.
            if bytes.first == UInt8(ascii: "$"), let first = pattern.first {
                if case .exact = first {} else { return false }
            }
            var start = 0
            for (index, level) in pattern.enumerated() {
                if case .rest = level { return true }
                if start > bytes.count { return false }
                var end = start
                switch level {
                case .rest: return true
                case .one:
                    while end < bytes.count && bytes[end] != UInt8(ascii: "/") { end += 1 }
                case .exact(let literal):
                    // The level must be exactly `literal`, then end at a '/' or the topic's end.
                    end = start + literal.count
                    guard end <= bytes.count, end == bytes.count || bytes[end] == UInt8(ascii: "/") else {
                        return false
                    }
                    for offset in 0..<literal.count where literal[offset] != bytes[start + offset] { return false }
                }
                start = end + 1
                if index == pattern.count - 1 { return start > bytes.count }
            }
            return false
        }
    }
}

/// Why a publish was refused: the topic, the rule's filter, where in the payload (a JSON Pointer, RFC
/// 6901; `""` is the whole payload, as when it is not JSON) and what is wrong. Frontends put
/// `description` in their protocol's error (reason string, `-ERR`, error frame …).
package struct PayloadSchemaViolation: Error, Sendable, Hashable, CustomStringConvertible {
    package let topic: String
    package let filter: String
    /// The failing instance location as a JSON Pointer.
    package let path: String
    package let message: String

    package init(topic: String, filter: String, path: String, message: String) {
        self.topic = topic
        self.filter = filter
        self.path = path
        self.message = message
    }

    /// `payload at "/temp" does not match the schema of sensors/#: 120 is greater than maximum 100`.
    package var description: String {
        "payload at \"\(path)\" does not match the schema of \(filter): \(message)"
    }
}
