extension TopicFilter {
    /// Whether every topic `other` matches is matched by `self` too: a stream capturing `self` holds
    /// everything a subscription on `other` can receive (wildcard recovery, docs/topics.md). Shared
    /// prefixes are ignored; `$`-topics follow the matching rule (a leading wildcard covers none of them).
    package func covers(_ other: TopicFilter) -> Bool {
        let mine = levels
        let theirs = other.levels
        var index = 0
        while index < mine.count {
            let level = mine[index]
            if level == "#" {
                // A leading `#` matches no `$` topic: it covers only filters that cannot reach one.
                return index > 0 || !Self.mayMatchDollarTopic(theirs)
            }
            guard index < theirs.count else { return false }
            let their = theirs[index]
            if their == "#" {
                // Only `#` covers `#`, and `+/#` a leading one (no topic is empty, so the zero levels a
                // leading `#` could match are never a topic).
                return index == 0 && level == "+" && mine.count == 2 && mine[1] == "#"
            }
            if level == "+" {
                if index == 0 && Self.mayMatchDollarTopic(theirs) { return false }
            } else if level != their {
                return false
            }
            index += 1
        }
        return index == theirs.count
    }

    /// Whether a filter with these levels can match a topic whose first level starts with `$`.
    private static func mayMatchDollarTopic(_ levels: [Substring]) -> Bool {
        guard let first = levels.first else { return false }
        return first.hasPrefix("$")
    }
}
