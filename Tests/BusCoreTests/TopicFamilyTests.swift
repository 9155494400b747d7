import BusCore
import Testing

/// The bus shares one cached plan among the topics of a family (`TopicFamily`) only when nothing names
/// their last level; these check that the two answers to "does anything name it" are sound: when they say
/// no, every sibling matches exactly what the topic matches.
@Suite struct TopicFamilyTests {
    static let levels = ["a", "b", "$x", ""]
    static let filterLevels = ["a", "b", "+"]

    static var topics: [String] {
        var topics: [String] = []
        for a in levels {
            for b in levels {
                topics.append("\(a)/\(b)")
                for c in levels { topics.append("\(a)/\(b)/\(c)") }
            }
        }
        return topics
    }

    static var filters: [String] {
        var filters: [String] = ["#", "+", "$x/#", "$x/+", "+/+/+"]
        for a in filterLevels {
            filters.append("\(a)/#")
            for b in filterLevels {
                filters.append("\(a)/\(b)")
                filters.append("\(a)/\(b)/#")
                for c in filterLevels { filters.append("\(a)/\(b)/\(c)") }
            }
        }
        return filters
    }

    /// `topic` with its last level replaced by each level of the alphabet (and one no filter spells).
    static func siblings(_ topic: String) -> [Topic] {
        var parts = topic.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        return (levels + ["other"]).map { last in
            parts[parts.count - 1] = last
            return Topic(trusted: parts.joined(separator: "/"))
        }
    }

    @Test func filterThatDoesNotNameTheLastLevelMatchesEverySiblingAlike() throws {
        for text in Self.filters {
            let filter = try TopicFilter(text)
            for name in Self.topics {
                let topic = try Topic(name)
                guard !filter.namesLastLevel(of: topic) else { continue }
                for sibling in Self.siblings(name) {
                    #expect(filter.matches(sibling) == filter.matches(topic), "\(text) on \(name) vs \(sibling)")
                }
            }
        }
    }

    @Test func filterNamingTheLastLevel() throws {
        let topic = try Topic("collections/tasks/r1")
        #expect(try TopicFilter("collections/tasks/r1").namesLastLevel(of: topic))
        #expect(try TopicFilter("collections/+/r2").namesLastLevel(of: topic))
        #expect(try TopicFilter("collections/tasks/r1/#").namesLastLevel(of: topic))
        #expect(try !TopicFilter("collections/tasks/+").namesLastLevel(of: topic))
        #expect(try !TopicFilter("collections/#").namesLastLevel(of: topic))
        #expect(try !TopicFilter("collections/notes/r1").namesLastLevel(of: topic))
        #expect(try !TopicFilter("collections/tasks/r1/x").namesLastLevel(of: topic))
        #expect(try !TopicFilter("sessions/+/messages").namesLastLevel(of: topic))
    }

    @Test func indexThatNamesNoLastLevelMatchesEverySiblingAlike() throws {
        // Each filter alone, and all of them at once.
        let sets = Self.filters.map { [$0] } + [Self.filters]
        for texts in sets {
            let index = SubscriptionIndex<Sub>()
            for text in texts { index.insert(try TopicFilter(text), member: Sub(text)) }
            for name in Self.topics {
                let match = index.match(try Topic(name))
                guard !match.namesLastLevel else { continue }
                let expected = Set(match.members.map(ObjectIdentifier.init))
                for sibling in Self.siblings(name) {
                    let got = Set(index.match(sibling).members.map(ObjectIdentifier.init))
                    #expect(got == expected, "\(texts) on \(name) vs \(sibling)")
                }
            }
        }
    }

    @Test func indexNamesTheLastLevelWhenAFilterDoes() throws {
        let index = SubscriptionIndex<Sub>()
        index.insert(try TopicFilter("collections/tasks/+"), member: Sub("all"))
        #expect(!index.match(try Topic("collections/tasks/r1")).namesLastLevel)
        index.insert(try TopicFilter("collections/tasks/r9"), member: Sub("one"))
        #expect(index.match(try Topic("collections/tasks/r1")).namesLastLevel)
        #expect(!index.match(try Topic("collections/notes/r1")).namesLastLevel)
    }

    @Test func familyIsTheTopicWithoutItsLastLevel() throws {
        #expect(TopicFamily(try Topic("collections/tasks/r1")) == TopicFamily(try Topic("collections/tasks/r2")))
        #expect(TopicFamily(try Topic("collections/tasks/r1")) != TopicFamily(try Topic("collections/notes/r1")))
        #expect(TopicFamily(try Topic("a/b")) != TopicFamily(try Topic("a/b/c")))
        #expect(TopicFamily(try Topic("a//")) == TopicFamily(try Topic("a//x")))
        #expect(TopicFamily(try Topic("single")) == nil)
        #expect(TopicFamily(try Topic("/x"))?.parent == "")
    }
}
