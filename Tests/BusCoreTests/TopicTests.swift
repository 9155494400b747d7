import BusCore
import Testing

@Suite struct TopicTests {
    @Test func validTopics() throws {
        for name in ["a", "a/b/c", "a//b", "/a", "a/", "$SYS/broker", "ü/ñ"] {
            _ = try Topic(name)
        }
    }

    @Test func invalidTopics() {
        #expect(throws: TopicError.empty) { try Topic("") }
        #expect(throws: TopicError.wildcardInTopic) { try Topic("a/+") }
        #expect(throws: TopicError.wildcardInTopic) { try Topic("a/#") }
        #expect(throws: TopicError.containsNull) { try Topic("a\u{0}b") }
        #expect(throws: TopicError.tooLong(limit: 4)) { try Topic("abcde", limits: TopicLimits(maxBytes: 4)) }
        #expect(throws: TopicError.tooManyLevels(limit: 2)) { try Topic("a/b/c", limits: TopicLimits(maxLevels: 2)) }
    }

    @Test func filters() throws {
        for text in ["#", "+", "a/+/c", "a/#", "+/+", "a/b", "$share/g/a/#", "$share/g/+"] {
            _ = try TopicFilter(text)
        }
        // [MQTT-4.7.1-1] / [MQTT-4.7.1-2]
        #expect(throws: TopicError.misplacedMultiLevelWildcard) { try TopicFilter("a/#/b") }
        #expect(throws: TopicError.misplacedMultiLevelWildcard) { try TopicFilter("a#") }
        #expect(throws: TopicError.misplacedSingleLevelWildcard) { try TopicFilter("a+") }
        #expect(throws: TopicError.misplacedSingleLevelWildcard) { try TopicFilter("a/+b") }
        // [MQTT-4.8.2-1]
        #expect(throws: TopicError.malformedSharedSubscription) { try TopicFilter("$share//a") }
        #expect(throws: TopicError.malformedSharedSubscription) { try TopicFilter("$share/g") }
        #expect(throws: TopicError.malformedSharedSubscription) { try TopicFilter("$share/g+/a") }
        let shared = try TopicFilter("$share/workers/jobs/+")
        #expect(shared.shareGroup == "workers")
        #expect(shared.pattern == "jobs/+")
    }

    @Test func matching() throws {
        func match(_ filter: String, _ topic: String) throws -> Bool { try TopicFilter(filter).matches(Topic(topic)) }
        #expect(try match("a/b", "a/b"))
        #expect(try !match("a/b", "a/c"))
        #expect(try match("a/+", "a/b"))
        #expect(try !match("a/+", "a/b/c"))
        #expect(try match("a/#", "a"))  // '#' includes the parent level
        #expect(try match("a/#", "a/b/c"))
        #expect(try match("#", "x/y"))
        #expect(try match("+/+", "/x"))
        #expect(try !match("#", "$SYS/x"))  // [MQTT-4.7.2-1]
        #expect(try !match("+/x", "$SYS/x"))
        #expect(try match("$SYS/#", "$SYS/x"))
    }

    /// The byte walk `matches` uses (and `namesLastLevel`'s level count) agree with the level arrays on every
    /// pair of a small alphabet: `$` topics, empty levels, `#` matching its parent level, trailing slashes.
    @Test func byteMatcherAgreesWithLevelMatcher() throws {
        let levels = ["a", "ab", "$x", ""]
        var topics: [String] = []
        for a in levels {
            topics.append(a)
            for b in levels {
                topics.append("\(a)/\(b)")
                for c in levels { topics.append("\(a)/\(b)/\(c)") }
            }
        }
        var filters = ["#", "+", "$x/#", "$x/+", "a", "ab", "", "/", "+/", "/#", "+/+/+", "a//#"]
        for a in ["a", "ab", "+", ""] {
            filters.append("\(a)/#")
            for b in ["a", "+", ""] {
                filters += ["\(a)/\(b)", "\(a)/\(b)/#", "\(a)/\(b)/+"]
            }
        }
        for text in topics where !text.isEmpty {
            let topic = try Topic(text)
            for pattern in filters where !pattern.isEmpty {
                let filter = try TopicFilter(pattern)
                let expected = TopicFilter.matches(patternLevels: filter.levels, topicLevels: topic.levels)
                #expect(filter.matches(topic) == expected, "\(pattern) vs \(text)")
                let names = TopicFilter.namesLastLevel(patternLevels: filter.levels, topicLevels: topic.levels)
                #expect(filter.namesLastLevel(of: topic) == names, "\(pattern) names the last level of \(text)")
            }
        }
    }
}
