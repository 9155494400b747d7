/// NATS subjects ⇄ bus topics (DESIGN.md §2, docs/topics.md "NATS"). Tokens become levels (`.` ⇄ `/`),
/// `*` ⇄ `+`, `>` ⇄ `#`, a queue group ⇄ `$share/<group>/`. A character one side cannot spell is
/// percent-escaped by the side that cannot spell it, and unescaped on the way back:
///
/// | in a topic level | in a subject token |
/// |---|---|
/// | `.` | `%2E` |
/// | a byte ≤ 0x20 (space, tab, CR, LF …) | `%20`, `%09`, `%0D`, `%0A` … |
/// | a whole level `*` / `>` | `*` / `>` in a subject, `%2A` / `%3E` in a filter |
/// | an empty level (`a//b`) | `%00` |
/// | `%2F`, `%2B`, `%23` | `/`, `+`, `#` |
///
/// so `a/b.c` is `a.b%2Ec` and the NATS subject `x.y/z` is the topic `x/y%2Fz`. A level `*` or `>` is
/// delivered and stored as the token it is (as nats-server delivers what a client that is not pedantic
/// published to `a.*`); only a filter needs `%2A` / `%3E` to name it, its `*` and `>` being wildcards.
package enum NATSSubjectMapping {
    /// Why a subject was refused.
    package enum Failure: Error, Sendable, Hashable {
        case empty
        case emptyToken
        /// A wildcard where a concrete subject is required, or misplaced `>`.
        case wildcard
    }

    /// The topic a concrete subject publishes to. `literalWildcards`: a PUB of a client that is not
    /// pedantic, which nats-server takes as it comes — a `*` or `>` token is then the level `*` or `>`
    /// (what `%2A` and `%3E` spell) and an empty token an empty level (`%00`), instead of a refusal.
    package static func topicName(forSubject subject: String, literalWildcards: Bool = false) throws(Failure)
        -> String
    {
        try convert(subject, allowWildcards: false, literalWildcards: literalWildcards)
    }

    /// The filter a `SUB` subject (and queue group) subscribes with.
    package static func filterText(forSubject subject: String, queue: String? = nil) throws(Failure) -> String {
        let pattern = try convert(subject, allowWildcards: true, literalWildcards: false)
        guard let queue else { return pattern }
        return "$share/" + escapeQueue(queue) + "/" + pattern
    }

    /// The subject a topic is delivered on: a level `*` or `>` is that token (a PUB subject again only
    /// for a client that is not pedantic, `topicName(forSubject:literalWildcards:)`).
    package static func subject(forTopic topic: String) -> String {
        if isPlainTopic(topic) {
            return String(decoding: topic.utf8.map { $0 == UInt8(ascii: "/") ? UInt8(ascii: ".") : $0 }, as: UTF8.self)
        }
        // Split on bytes, not Characters: a separator followed by a combining mark is one Character.
        let levels = topic.utf8.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false).map {
            utf8Level -> String in
            let level = Substring(utf8Level)
            if level.isEmpty { return "%00" }
            if level == "*" || level == ">" { return String(level) }
            var token: [UInt8] = []
            token.reserveCapacity(level.utf8.count)
            let bytes = Array(level.utf8)
            var index = 0
            while index < bytes.count {
                if index + 2 < bytes.count, bytes[index] == UInt8(ascii: "%"),
                    let decoded = unescapeInToken(bytes[index + 1], bytes[index + 2])
                {
                    token.append(decoded)
                    index += 3
                    continue
                }
                let byte = bytes[index]
                if byte <= 0x20 || byte == UInt8(ascii: ".") {
                    token.append(UInt8(ascii: "%"))
                    token.append(hexDigit(byte >> 4))
                    token.append(hexDigit(byte & 0x0F))
                } else {
                    token.append(byte)
                }
                index += 1
            }
            return String(decoding: token, as: UTF8.self)
        }
        return levels.joined(separator: ".")
    }

    /// Whether a topic maps to a subject by swapping separators alone (the common case).
    private static func isPlainTopic(_ topic: String) -> Bool {
        var levelLength = 0
        var levelFirst: UInt8 = 0
        func levelIsSpecial() -> Bool {
            levelLength == 0
                || (levelLength == 1 && (levelFirst == UInt8(ascii: "*") || levelFirst == UInt8(ascii: ">")))
        }
        for byte in topic.utf8 {
            if byte == UInt8(ascii: "/") {
                if levelIsSpecial() { return false }
                levelLength = 0
                continue
            }
            if byte <= 0x20 || byte == UInt8(ascii: ".") || byte == UInt8(ascii: "%") { return false }
            if levelLength == 0 { levelFirst = byte }
            levelLength += 1
        }
        return !levelIsSpecial()
    }

    /// `%2F`, `%2B`, `%23` in a topic level: characters a NATS token holds as they are.
    private static func unescapeInToken(_ high: UInt8, _ low: UInt8) -> UInt8? {
        guard high == UInt8(ascii: "2") else { return nil }
        switch low {
        case UInt8(ascii: "F"): return UInt8(ascii: "/")
        case UInt8(ascii: "B"): return UInt8(ascii: "+")
        case UInt8(ascii: "3"): return UInt8(ascii: "#")
        default: return nil
        }
    }

    private static func hexDigit(_ value: UInt8) -> UInt8 {
        value < 10 ? UInt8(ascii: "0") + value : UInt8(ascii: "A") + value - 10
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }

    /// Subject → topic or filter text; the inverse of `subject(forTopic:)`.
    private static func convert(_ subject: String, allowWildcards: Bool, literalWildcards: Bool) throws(Failure)
        -> String
    {
        guard !subject.isEmpty else { throw .empty }
        if let plain = plainTopicName(subject) { return plain }
        let tokens = subject.utf8.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false).map {
            Substring($0)
        }
        var levels: [String] = []
        levels.reserveCapacity(tokens.count)
        for (index, token) in tokens.enumerated() {
            if token.isEmpty {
                guard literalWildcards else { throw .emptyToken }
                levels.append("")
                continue
            }
            if token == "*" || token == ">", literalWildcards {
                levels.append(String(token))
                continue
            }
            if token == "*" {
                guard allowWildcards else { throw .wildcard }
                levels.append("+")
                continue
            }
            if token == ">" {
                guard allowWildcards, index == tokens.count - 1 else { throw .wildcard }
                levels.append("#")
                continue
            }
            if token == "%00" {
                levels.append("")
                continue
            }
            if token == "%2A" || token == "%3E" {
                levels.append(token == "%2A" ? "*" : ">")
                continue
            }
            levels.append(level(forToken: token))
        }
        return levels.joined(separator: "/")
    }

    /// The topic name of a subject of plain tokens — none empty, no wildcard, nothing to escape or
    /// unescape (`/ + # % * >`), as nearly every subject is: its dots become slashes, in one pass with no
    /// token strings (what `convert` gives it token by token). Nil: `convert` goes token by token.
    private static func plainTopicName(_ subject: String) -> String? {
        var previous = UInt8(ascii: ".")
        for byte in subject.utf8 {
            switch byte {
            case UInt8(ascii: "/"), UInt8(ascii: "+"), UInt8(ascii: "#"), UInt8(ascii: "%"), UInt8(ascii: "*"),
                UInt8(ascii: ">"):
                return nil
            case UInt8(ascii: "."):
                // An empty token (leading, doubled): `convert` refuses it.
                if previous == UInt8(ascii: ".") { return nil }
            default:
                break
            }
            previous = byte
        }
        if previous == UInt8(ascii: ".") { return nil }
        let utf8 = subject.utf8
        return String(unsafeUninitializedCapacity: utf8.count) { buffer in
            var index = 0
            for byte in utf8 {
                buffer[index] = byte == UInt8(ascii: ".") ? UInt8(ascii: "/") : byte
                index += 1
            }
            return index
        }
    }

    private static func level(forToken token: Substring) -> String {
        var needsWork = false
        for byte in token.utf8
        where byte == UInt8(ascii: "/") || byte == UInt8(ascii: "+") || byte == UInt8(ascii: "#")
            || byte == UInt8(ascii: "%")
        {
            needsWork = true
            break
        }
        guard needsWork else { return String(token) }
        let bytes = Array(token.utf8)
        var level: [UInt8] = []
        level.reserveCapacity(bytes.count + 4)
        var index = 0
        while index < bytes.count {
            let byte = bytes[index]
            // `%2E` and `%00`…`%20` (a `.` or a control/space character of a topic level) come back.
            if byte == UInt8(ascii: "%"), index + 2 < bytes.count, let high = hexValue(bytes[index + 1]),
                let low = hexValue(bytes[index + 2])
            {
                let decoded = high << 4 | low
                if decoded == UInt8(ascii: ".") || (decoded > 0 && decoded <= 0x20) {
                    level.append(decoded)
                    index += 3
                    continue
                }
            }
            switch byte {
            case UInt8(ascii: "/"): level.append(contentsOf: "%2F".utf8)
            case UInt8(ascii: "+"): level.append(contentsOf: "%2B".utf8)
            case UInt8(ascii: "#"): level.append(contentsOf: "%23".utf8)
            default: level.append(byte)
            }
            index += 1
        }
        return String(decoding: level, as: UTF8.self)
    }

    /// A queue group name inside `$share/<group>/`: its `/`, `+` and `#` are escaped like a token's.
    private static func escapeQueue(_ queue: String) -> String { level(forToken: Substring(queue)) }
}
