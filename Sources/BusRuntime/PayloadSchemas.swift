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
/// the topic's bytes without allocating, and parses and validates only on a match.
package final class PayloadSchemas: Sendable {
    /// One rule: publishes on topics matching `filter` must be JSON valid under `schema`.
    package struct Rule: Sendable {
        package let filter: TopicFilter
        package let schema: JSONSchema
        /// The filter's levels as bytes, split once.
        let levels: [[UInt8]]

        package init(filter: TopicFilter, schema: JSONSchema) {
            self.filter = filter
            self.schema = schema
            self.levels = filter.levels.map { Array($0.utf8) }
        }
    }

    /// The rules, in config order. A topic several rules match must satisfy all of them.
    package let rules: [Rule]
    /// `rules.isEmpty`, read first so an unconfigured server pays one branch per publish.
    package let isEmpty: Bool

    /// No rules: every payload passes.
    package static let none = PayloadSchemas(rules: [])

    package init(rules: [Rule]) {
        self.rules = rules
        self.isEmpty = rules.isEmpty
    }

    /// Whether some rule governs `topic` (a frontend can skip reading content types when none does).
    package func governs(_ topic: Topic) -> Bool {
        if isEmpty { return false }
        return rules.contains { Self.matches($0.levels, topic) }
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
        var instance: JSONValue?
        for rule in rules where Self.matches(rule.levels, topic) {
            if instance == nil {
                switch Self.parse(payload, contentType: contentType) {
                case .success(let value): instance = value
                case .failure(let reason):
                    return PayloadSchemaViolation(
                        topic: topic.name, filter: rule.filter.text, path: "", message: reason.reason)
                }
            }
            if let first = rule.schema.violations(of: instance!).first {
                return PayloadSchemaViolation(
                    topic: topic.name, filter: rule.filter.text, path: first.path, message: first.message)
            }
        }
        return nil
    }

    private static func parse(_ payload: ByteBuffer, contentType: String?) -> Result<JSONValue, NotJSON> {
        if let contentType {
            let type = contentType.lowercased()
            if type.hasPrefix("text/") && payload.withUnsafeReadableBytes(UTF8Validation.isValid) {
                return .failure(NotJSON("payload is text (\(contentType)), not JSON"))
            }
            if type.hasPrefix("application/octet-stream") {
                return .failure(NotJSON("payload is binary (\(contentType)), not JSON"))
            }
        }
        do {
            return .success(
                try payload.withUnsafeReadableBytes { bytes throws(JSONError) in try JSONParser.parse(bytes) })
        } catch {
            return .failure(NotJSON("payload is not JSON (\(error))"))
        }
    }

    private struct NotJSON: Error {
        let reason: String
        init(_ reason: String) { self.reason = reason }
    }

    /// `TopicFilter.matches` over bytes, without splitting the topic into an array.
    static func matches(_ pattern: [[UInt8]], _ topic: Topic) -> Bool {
        var name = topic.name
        return name.withUTF8 { bytes in
            // [MQTT-4.7.2-1] A filter starting with a wildcard does not match a topic starting with '$'.
            if bytes.first == UInt8(ascii: "$"), let first = pattern.first, first == [0x2B] || first == [0x23] {
                return false
            }
            var start = 0
            for (index, level) in pattern.enumerated() {
                if level == [0x23] { return true }  // '#': the rest, including nothing
                if start > bytes.count { return false }
                var end = start
                while end < bytes.count && bytes[end] != UInt8(ascii: "/") { end += 1 }
                if level != [0x2B] {  // '+': any one level
                    if level.count != end - start { return false }
                    for offset in 0..<level.count where level[offset] != bytes[start + offset] { return false }
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
