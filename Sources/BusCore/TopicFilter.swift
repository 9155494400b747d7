/// A subscription pattern: `+` matches one level, `#` the rest (including none), and
/// `$share/<group>/<filter>` makes the subscription shared: each message goes to one member of the group.
package struct TopicFilter: Hashable, Sendable, CustomStringConvertible {
    /// The filter as written by the client, including any `$share/<group>/` prefix.
    package let text: String
    /// The pattern without the shared prefix.
    package let pattern: String
    /// The shared group's name, when the filter is shared.
    package let shareGroup: String?

    package init(_ text: String, limits: TopicLimits = .default) throws(TopicError) {
        if text.hasPrefix("$share/") {
            let rest = text.dropFirst("$share/".count)
            guard let slash = rest.firstIndex(of: "/") else { throw .malformedSharedSubscription }
            let group = String(rest[..<slash])
            let pattern = String(rest[rest.index(after: slash)...])
            // [MQTT-4.8.2-1] / [MQTT-4.8.2-2]: non-empty ShareName without wildcards, then a filter.
            if group.isEmpty || group.contains("+") || group.contains("#") { throw .malformedSharedSubscription }
            if pattern.isEmpty { throw .malformedSharedSubscription }
            try Topic.validate(pattern, limits: limits, allowWildcards: true)
            self.text = text
            self.pattern = pattern
            self.shareGroup = group
        } else {
            try Topic.validate(text, limits: limits, allowWildcards: true)
            self.text = text
            self.pattern = text
            self.shareGroup = nil
        }
    }

    package var description: String { text }

    /// Whether the pattern has a wildcard level.
    package var hasWildcards: Bool {
        pattern.utf8.contains(UInt8(ascii: "+")) || pattern.utf8.contains(UInt8(ascii: "#"))
    }

    /// The levels of the pattern.
    package var levels: [Substring] { Topic.splitLevels(pattern) }

    /// Whether `topic` matches the pattern. The trie does this for many filters at once; this one is for
    /// single checks (history rules, permissions) and for testing the trie against a reference.
    /// Whether `topic` matches, walking both names' bytes level by level: no level arrays (history rules
    /// and permissions ask this on every plan-cache miss, and a reply subject per request misses every time).
    package func matches(_ topic: Topic) -> Bool {
        var pattern = pattern
        var name = topic.name
        return pattern.withUTF8 { pattern in name.withUTF8 { TopicFilter.matches(pattern: pattern, topic: $0) } }
    }

    /// `matches(patternLevels:topicLevels:)` on the UTF-8 bytes of a pattern and a topic name.
    package static func matches(pattern: UnsafeBufferPointer<UInt8>, topic: UnsafeBufferPointer<UInt8>) -> Bool {
        let slash = UInt8(ascii: "/")
        let plus = UInt8(ascii: "+")
        let hash = UInt8(ascii: "#")
        // [MQTT-4.7.2-1] Filters starting with a wildcard do not match topics starting with '$'.
        if topic.first == UInt8(ascii: "$"), let first = pattern.first, first == plus || first == hash,
            pattern.count == 1 || pattern[1] == slash
        {
            return false
        }
        var p = 0  // the pattern's current level starts here
        var t = 0  // the topic's
        var topicHasLevel = true
        while p <= pattern.count {
            var patternEnd = p
            while patternEnd < pattern.count, pattern[patternEnd] != slash { patternEnd += 1 }
            let length = patternEnd - p
            if length == 1, pattern[p] == hash { return true }
            guard topicHasLevel else { return false }
            var topicEnd = t
            while topicEnd < topic.count, topic[topicEnd] != slash { topicEnd += 1 }
            if !(length == 1 && pattern[p] == plus) {
                guard topicEnd - t == length else { return false }
                if length > 0, memcmp(pattern.baseAddress! + p, topic.baseAddress! + t, length) != 0 { return false }
            }
            p = patternEnd + 1
            if topicEnd < topic.count { t = topicEnd + 1 } else { topicHasLevel = false }
        }
        return !topicHasLevel
    }

    /// Whether the pattern tells `topic` apart from the topics that differ from it only in the last level:
    /// it names that level literally (`a/b/x` or `a/b/x/#` for `a/b/x`) and its levels above match.
    /// (The trie answers the same for many filters at once: `SubscriptionMatch.namesLastLevel`.)
    package func namesLastLevel(of topic: Topic) -> Bool {
        // A pattern with fewer levels than the topic has none at the topic's last (the default `#` rule,
        // `a/#` for `a/b/c`): counting separators allocates nothing, and a plan-cache miss asks this of every
        // history rule (a JetStream ack subject per message misses every time).
        let slash = UInt8(ascii: "/")
        guard pattern.utf8.count(where: { $0 == slash }) >= topic.name.utf8.count(where: { $0 == slash }) else {
            return false
        }
        return TopicFilter.namesLastLevel(patternLevels: levels, topicLevels: topic.levels)
    }

    package static func namesLastLevel(patternLevels: [Substring], topicLevels: [Substring]) -> Bool {
        let last = topicLevels.count - 1
        guard last >= 0, patternLevels.count > last else { return false }
        let named = patternLevels[last]
        guard named != "+", named != "#" else { return false }
        guard patternLevels.count == last + 1 || (patternLevels.count == last + 2 && patternLevels[last + 1] == "#")
        else { return false }
        for index in 0..<last {
            let level = patternLevels[index]
            // A `#` above matches every last level alike.
            if level == "#" { return false }
            if level != "+" && !TopicBytes.equal(level, topicLevels[index]) { return false }
        }
        return true
    }

    /// Whether the filter `patternLevels` may match a topic that begins with `prefix` and has more levels
    /// after it (`SubscriptionIndex.mayMatch(topicsUnder:)` for one filter).
    package static func mayMatch(patternLevels: [Substring], topicsUnder prefix: [Substring]) -> Bool {
        // [MQTT-4.7.2-1] Filters starting with a wildcard do not match topics starting with '$'.
        if let first = prefix.first, first.hasPrefix("$"),
            let firstPattern = patternLevels.first, firstPattern == "+" || firstPattern == "#"
        {
            return false
        }
        for (index, level) in patternLevels.enumerated() {
            if level == "#" { return true }
            if index == prefix.count { return true }
            if level != "+" && !TopicBytes.equal(level, prefix[index]) { return false }
        }
        return false
    }

    package static func matches(patternLevels: [Substring], topicLevels: [Substring]) -> Bool {
        // [MQTT-4.7.2-1] Filters starting with a wildcard do not match topics starting with '$'.
        if let first = topicLevels.first, first.hasPrefix("$"),
            let firstPattern = patternLevels.first, firstPattern == "+" || firstPattern == "#"
        {
            return false
        }
        var index = 0
        while index < patternLevels.count {
            let level = patternLevels[index]
            if level == "#" { return true }
            if index >= topicLevels.count { return false }
            if level != "+" && !TopicBytes.equal(level, topicLevels[index]) { return false }
            index += 1
        }
        return index == topicLevels.count
    }
}

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif
