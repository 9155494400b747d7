/// AMQP routing keys (and STOMP `/topic/` names) ⇄ bus topics (DESIGN.md §2, docs/topics.md "AMQP").
/// Words become levels (`.` ⇄ `/`); in a binding key `*` ⇄ `+` and a trailing `#` ⇄ `#`. A character one
/// side cannot spell is percent-escaped by that side and unescaped on the way back — the NATS rule:
///
/// | in a routing-key word | in a topic level |
/// |---|---|
/// | `/`, `+`, `#` | `%2F`, `%2B`, `%23` |
/// | | `.` in a level becomes `%2E` in the word |
///
/// so the routing key `a.b/c` is the topic `a/b%2Fc`, and the topic `a/b.c` is the routing key `a.b%2Ec`.
/// An empty routing key has no topic (a publish with it stays inside the AMQP broker).
package enum RoutingKeyMapping {
    /// The topic a concrete routing key publishes to; nil for the empty key.
    package static func topicName(forRoutingKey key: String) -> String? {
        guard !key.isEmpty else { return nil }
        if !key.utf8.contains(where: { $0 == UInt8(ascii: "/") || $0 == UInt8(ascii: "+") || $0 == UInt8(ascii: "#") })
        {
            return String(decoding: key.utf8.map { $0 == UInt8(ascii: ".") ? UInt8(ascii: "/") : $0 }, as: UTF8.self)
        }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(key.utf8.count + 6)
        for byte in key.utf8 {
            switch byte {
            case UInt8(ascii: "."): bytes.append(UInt8(ascii: "/"))
            case UInt8(ascii: "/"): bytes.append(contentsOf: "%2F".utf8)
            case UInt8(ascii: "+"): bytes.append(contentsOf: "%2B".utf8)
            case UInt8(ascii: "#"): bytes.append(contentsOf: "%23".utf8)
            default: bytes.append(byte)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// The routing key a bus topic is delivered with (the inverse of `topicName(forRoutingKey:)`).
    package static func routingKey(forTopic topic: String) -> String {
        if !topic.utf8.contains(where: { $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "%") }) {
            return String(decoding: topic.utf8.map { $0 == UInt8(ascii: "/") ? UInt8(ascii: ".") : $0 }, as: UTF8.self)
        }
        let source = Array(topic.utf8)
        var bytes: [UInt8] = []
        bytes.reserveCapacity(source.count + 4)
        var index = 0
        while index < source.count {
            let byte = source[index]
            if byte == UInt8(ascii: "%"), index + 2 < source.count, source[index + 1] == UInt8(ascii: "2") {
                let decoded: UInt8? =
                    switch source[index + 2] {
                    case UInt8(ascii: "F"): UInt8(ascii: "/")
                    case UInt8(ascii: "B"): UInt8(ascii: "+")
                    case UInt8(ascii: "3"): UInt8(ascii: "#")
                    default: nil
                    }
                if let decoded {
                    bytes.append(decoded)
                    index += 3
                    continue
                }
            }
            switch byte {
            case UInt8(ascii: "/"): bytes.append(UInt8(ascii: "."))
            case UInt8(ascii: "."): bytes.append(contentsOf: "%2E".utf8)
            default: bytes.append(byte)
            }
            index += 1
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// A topic binding key as a bus filter: `exact` when the filter matches the same topics as the key,
    /// otherwise the narrowest filter that covers it (a `#` that is not the last word ends the filter
    /// there), and the caller checks each message against the key itself. nil for keys no topic can match
    /// through the bus (the empty key).
    package static func filterText(forBindingKey key: String) -> (filter: String, exact: Bool)? {
        guard !key.isEmpty else { return nil }
        let words = key.split(separator: ".", omittingEmptySubsequences: false)
        var levels: [String] = []
        levels.reserveCapacity(words.count)
        for (index, word) in words.enumerated() {
            switch word {
            case "*":
                levels.append("+")
            case "#":
                levels.append("#")
                return (levels.joined(separator: "/"), index == words.count - 1)
            default:
                // A concrete word maps like a one-word routing key (never nil: the word is not empty, or
                // it is an empty level, which a topic allows).
                levels.append(word.isEmpty ? "" : topicName(forRoutingKey: String(word))!)
            }
        }
        return (levels.joined(separator: "/"), true)
    }
}
