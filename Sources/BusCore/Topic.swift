/// A concrete topic name: `/`-separated levels, no wildcards. The bus's canonical spelling (DESIGN.md §2).
package struct Topic: Hashable, Sendable, CustomStringConvertible {
    /// The topic as the bus spells it.
    package let name: String

    /// Validates `name` against `limits`. Empty levels (`a//b`, `/a`) are allowed, as in MQTT.
    package init(_ name: String, limits: TopicLimits = .default) throws(TopicError) {
        try Topic.validate(name, limits: limits, allowWildcards: false)
        self.name = name
    }

    /// Builds a topic the bus made itself (reply inboxes); the caller guarantees validity.
    package init(trusted name: String) {
        self.name = name
    }

    package var description: String { name }

    /// Topics are byte strings (MQTT, NATS): equal when their bytes are, whereas Swift's String equality is
    /// Unicode canonical equivalence ("é" == "e\u{301}"), which would route one topic's messages to the other.
    package static func == (lhs: Topic, rhs: Topic) -> Bool {
        lhs.isIdentical(to: rhs) || TopicBytes.equal(lhs.name, rhs.name)
    }

    /// Whether both hold the very same string value — the same storage, or the same small (inline)
    /// string — which makes them equal without reading a byte. The hot path compares a topic with the
    /// one it saw last (a publisher repeating its topic, a subscriber's cached `MSG` prefix), which is
    /// mostly the same value passed along, so this settles most comparisons with two integer compares.
    @inlinable
    package func isIdentical(to other: Topic) -> Bool { TopicBytes.identical(name, other.name) }

    package func hash(into hasher: inout Hasher) { TopicBytes.hash(name, into: &hasher) }

    /// The levels, split on the byte `/` (not on Characters: a `/` followed by a combining mark is one
    /// Character, but still a separator).
    package var levels: [Substring] { Topic.splitLevels(name) }

    /// `text` split on the byte `/`, empty levels kept.
    package static func splitLevels(_ text: String) -> [Substring] {
        text.utf8.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false).map { Substring($0) }
    }

    /// Checks the rules shared by names and filters; with `allowWildcards` also the placement of `+`/`#`.
    static func validate(_ name: String, limits: TopicLimits, allowWildcards: Bool) throws(TopicError) {
        let utf8 = name.utf8
        if utf8.isEmpty { throw .empty }
        if utf8.count > limits.maxBytes { throw .tooLong(limit: limits.maxBytes) }
        var levels = 1
        var levelStart = true
        var previous: UInt8 = 0
        var index = 0
        let count = utf8.count
        for byte in utf8 {
            switch byte {
            case 0:
                throw .containsNull
            case UInt8(ascii: "/"):
                levels += 1
                if levels > limits.maxLevels { throw .tooManyLevels(limit: limits.maxLevels) }
                levelStart = true
                previous = byte
                index += 1
                continue
            case UInt8(ascii: "+"):
                guard allowWildcards else { throw .wildcardInTopic }
                // [MQTT-4.7.1-2] '+' must occupy an entire level.
                let nextIsEnd = index + 1 == count
                if !levelStart { throw .misplacedSingleLevelWildcard }
                if !nextIsEnd && utf8[utf8.index(utf8.startIndex, offsetBy: index + 1)] != UInt8(ascii: "/") {
                    throw .misplacedSingleLevelWildcard
                }
            case UInt8(ascii: "#"):
                guard allowWildcards else { throw .wildcardInTopic }
                // [MQTT-4.7.1-1] '#' must be the last character and alone in its level.
                if !levelStart || index + 1 != count { throw .misplacedMultiLevelWildcard }
            default:
                break
            }
            levelStart = false
            previous = byte
            index += 1
        }
        _ = previous
    }
}

/// Byte-wise equality and hashing for topic names and levels (see `Topic.==`).
@usableFromInline package enum TopicBytes {
    /// Whether `lhs` and `rhs` are the very same string value: the same storage, or the same small
    /// (inline, up to 15 bytes) string - so equal small strings always are. Equal without reading a byte;
    /// false says nothing.
    @inlinable
    package static func identical(_ lhs: String, _ rhs: String) -> Bool {
        #if _pointerBitWidth(_64)
            // A String is two words; equal words are the same value.
            return unsafeBitCast(lhs, to: (UInt64, UInt64).self) == unsafeBitCast(rhs, to: (UInt64, UInt64).self)
        #else
            return false
        #endif
    }

    @inline(__always)
    package static func equal<S: StringProtocol>(_ lhs: S, _ rhs: S) -> Bool {
        let left = lhs.utf8
        let right = rhs.utf8
        guard left.count == right.count else { return false }
        let fast = left.withContiguousStorageIfAvailable { a in
            right.withContiguousStorageIfAvailable { b in
                a.count == 0 || memcmp(a.baseAddress!, b.baseAddress!, a.count) == 0
            }
        }
        if let fast, let result = fast { return result }
        return left.elementsEqual(right)
    }

    @inline(__always)
    package static func hash<S: StringProtocol>(_ text: S, into hasher: inout Hasher) {
        let utf8 = text.utf8
        let done: Void? = utf8.withContiguousStorageIfAvailable { hasher.combine(bytes: UnsafeRawBufferPointer($0)) }
        if done == nil {
            for byte in utf8 { hasher.combine(byte) }
        }
        hasher.combine(utf8.count)
    }
}

/// One level of a filter, as the subscription index keys it: by its bytes (see `Topic.==`).
struct TopicLevel: Hashable {
    let text: Substring
    init(_ text: Substring) { self.text = text }
    static func == (lhs: TopicLevel, rhs: TopicLevel) -> Bool { TopicBytes.equal(lhs.text, rhs.text) }
    func hash(into hasher: inout Hasher) { TopicBytes.hash(text, into: &hasher) }
}

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif
