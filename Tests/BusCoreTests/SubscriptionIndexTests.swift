import BusCore
import Testing

final class Sub: CustomStringConvertible {
    let name: String
    init(_ name: String) { self.name = name }
    var description: String { name }
}

@Suite struct SubscriptionIndexTests {
    @Test func matchesAgreeWithReferenceMatcher() throws {
        // Every filter/topic pair from a small alphabet: the trie must agree with TopicFilter.matches.
        let levels = ["a", "b", "$x", ""]
        var topics: [String] = []
        for a in levels {
            topics.append(a)
            for b in levels {
                topics.append("\(a)/\(b)")
                for c in levels { topics.append("\(a)/\(b)/\(c)") }
            }
        }
        let filterLevels = ["a", "b", "+"]
        var filters: [String] = ["#", "+", "$x/#", "$x/+"]
        for a in filterLevels {
            filters.append("\(a)/#")
            for b in filterLevels {
                filters.append("\(a)/\(b)")
                filters.append("\(a)/\(b)/#")
            }
        }
        let index = SubscriptionIndex<Sub>()
        var subs: [(TopicFilter, Sub)] = []
        for text in filters {
            let filter = try TopicFilter(text)
            let sub = Sub(text)
            index.insert(filter, member: sub)
            subs.append((filter, sub))
        }
        for name in topics where !name.isEmpty {
            let topic = try Topic(name)
            let got = Set(index.match(topic).members.map { ObjectIdentifier($0) })
            let expected = Set(subs.filter { $0.0.matches(topic) }.map { ObjectIdentifier($0.1) })
            #expect(got == expected, "topic \(name)")
        }
        // Remove everything: the trie must end empty and match nothing.
        for (filter, sub) in subs { #expect(index.remove(filter, member: sub)) }
        #expect(index.count == 0)
        #expect(index.match(try Topic("a/b")).isEmpty)
    }

    /// `mayMatch(topicsUnder:)` never says no where a topic under the prefix (with a level more) matches
    /// a stored filter, for each filter alone and for all of them at once; `TopicFilter.mayMatch` agrees
    /// with the index for one filter; and it says no where nothing can match.
    @Test func mayMatchUnderAPrefixIsNeverWrongToSayNo() throws {
        let levels = ["a", "b", "$x"]
        var prefixes: [[String]] = levels.map { [$0] }
        for a in levels { for b in levels { prefixes.append([a, b]) } }
        var filters = ["#", "+", "$x/#", "$x/+", "+/+/#", "a", "$x"]
        for a in ["a", "b", "+", "$x"] {
            for b in ["a", "b", "+", "#"] {
                filters.append("\(a)/\(b)")
                for c in ["a", "+", "#"] where b != "#" { filters.append("\(a)/\(b)/\(c)") }
            }
        }
        // Every topic of one to three levels more than the longest prefix.
        var tails: [[String]] = [[]]
        for _ in 0..<3 { tails = tails.flatMap { tail in levels.map { tail + [$0] } } }
        // Per prefix, every topic under it: one to three levels more.
        let under = try prefixes.map { prefix in
            let names = Set(tails.flatMap { tail in (1...3).map { (prefix + tail.prefix($0)).joined(separator: "/") } })
            return (prefix.map { Substring($0) }, try names.map { try Topic($0) })
        }
        let all = SubscriptionIndex<Sub>()
        for text in filters {
            let filter = try TopicFilter(text)
            let one = SubscriptionIndex<Sub>()
            one.insert(filter, member: Sub(text))
            all.insert(filter, member: Sub(text))
            for (prefix, topics) in under {
                let may = one.mayMatch(topicsUnder: prefix)
                if topics.contains(where: { filter.matches($0) }) { #expect(may, "\(text) under \(prefix)") }
                #expect(
                    TopicFilter.mayMatch(patternLevels: filter.levels, topicsUnder: prefix) == may, "\(text) \(prefix)")
            }
        }
        for prefix in prefixes { #expect(all.mayMatch(topicsUnder: prefix.map { Substring($0) })) }
        // Said no: the JetStream acknowledgements' prefix, with what a server usually holds.
        let usual = SubscriptionIndex<Sub>()
        for text in ["#", "+/ACK/#", "$JS/API/#", "$JS/ACK", "_INBOX/+", "$share/g/orders/#"] {
            usual.insert(try TopicFilter(text), member: Sub(text))
        }
        #expect(!usual.mayMatch(topicsUnder: ["$JS", "ACK"]))
        for text in ["$JS/ACK/s/#", "$JS/+/s/c", "$share/g/$JS/ACK/#", "$JS/#"] {
            let index = SubscriptionIndex<Sub>()
            index.insert(try TopicFilter(text), member: Sub(text))
            #expect(index.mayMatch(topicsUnder: ["$JS", "ACK"]), "\(text)")
        }
        #expect(SubscriptionIndex<Sub>().mayMatch(topicsUnder: ["a"]) == false)
    }

    @Test func sharedGroupsCollectMembers() throws {
        let index = SubscriptionIndex<Sub>()
        let filter = try TopicFilter("$share/g/jobs/+")
        let one = Sub("1")
        let two = Sub("2")
        index.insert(filter, member: one)
        index.insert(filter, member: two)
        index.insert(try TopicFilter("$share/h/jobs/#"), member: one)
        let match = index.match(try Topic("jobs/x"))
        #expect(match.members.isEmpty)
        #expect(match.groups.count == 2)
        #expect(match.groups.first { $0.name == "g" }?.members.count == 2)
        #expect(index.remove(filter, member: one))
        #expect(!index.remove(filter, member: one))
        #expect(index.match(try Topic("jobs/x")).groups.first { $0.name == "g" }?.members.count == 1)
    }

    /// Many members of one filter (plain, `#` and a shared group) removed in a scrambled order: each removal
    /// takes that member and no other (members are found by identity, not by a generic comparison).
    @Test func removalsAmongManyMembersTakeExactlyTheOneNamed() throws {
        let index = SubscriptionIndex<Sub>()
        let filters = [try TopicFilter("room/1"), try TopicFilter("room/#"), try TopicFilter("$share/g/room/1")]
        var members: [(TopicFilter, Sub)] = []
        for filter in filters {
            for number in 0..<300 {
                let sub = Sub("\(filter.pattern) \(number)")
                index.insert(filter, member: sub)
                members.append((filter, sub))
            }
        }
        func matched() -> Set<ObjectIdentifier> {
            let match = index.match(try! Topic("room/1"))
            let everyone = match.members + match.groups.flatMap(\.members)
            return Set(everyone.map(ObjectIdentifier.init))
        }
        #expect(matched().count == 900)
        var generator = SystemRandomNumberGenerator()
        members.shuffle(using: &generator)
        var remaining = Set(members.map { ObjectIdentifier($0.1) })
        for (step, (filter, sub)) in members.enumerated() {
            #expect(!index.remove(filters[(filters.firstIndex(of: filter)! + 1) % 3], member: sub))
            #expect(index.remove(filter, member: sub))
            remaining.remove(ObjectIdentifier(sub))
            if step % 50 == 0 { #expect(matched() == remaining) }
        }
        #expect(index.count == 0)
        #expect(index.match(try Topic("room/1")).isEmpty)
    }

    @Test func removeOfUnknownPairIsFalse() throws {
        let index = SubscriptionIndex<Sub>()
        #expect(!index.remove(try TopicFilter("a/b"), member: Sub("x")))
        index.insert(try TopicFilter("a/b"), member: Sub("y"))
        #expect(!index.remove(try TopicFilter("a/b"), member: Sub("x")))
        #expect(index.count == 1)
    }

    @Test func boundedCacheStaysBounded() {
        var cache = BoundedCache<Int, Int>(capacity: 100)
        for i in 0..<1000 { cache.insert(i, for: i) }
        #expect(cache.count <= 100)
        #expect(cache[999] == 999)
    }

    /// The oldest go first (an update keeps a key's place), and what is kept is the newest.
    @Test func boundedCacheDropsTheOldestQuarter() {
        var cache = BoundedCache<Int, Int>(capacity: 8)
        for i in 0..<8 { cache.insert(i, for: i) }
        cache.insert(100, for: 3)  // an update: no eviction, same place
        #expect(cache.count == 8 && cache[3] == 100)
        cache.insert(8, for: 8)  // one over: the oldest two (0 and 1) go
        #expect(cache.count == 7 && cache[0] == nil && cache[1] == nil && cache[2] == 2 && cache[8] == 8)
        for i in 9..<1000 { cache.insert(i, for: i) }
        #expect(cache.count <= 8 && (993..<1000).allSatisfy { cache[$0] == $0 })
        cache.removeAll()
        #expect(cache.count == 0)
        cache.insert(1, for: 1)
        #expect(cache[1] == 1)
    }
}

/// Levels are split on the byte `/`, as topic validation counts them.
@Suite struct TopicLevelTests {
    @Test func aSeparatorBeforeACombiningMarkStillSeparates() throws {
        let topic = try Topic("a/\u{0486}b")
        #expect(topic.levels.count == 2)
        let filter = try TopicFilter("a/+")
        #expect(filter.matches(topic))
        let index = SubscriptionIndex<Sub>()
        let member = Sub("s")
        index.insert(filter, member: member)
        #expect(index.match(topic).members.map(\.name) == ["s"])
    }
}

/// Topics are byte strings: canonically equivalent spellings are different topics (MQTT, NATS).
@Suite struct TopicBytesTests {
    @Test func canonicallyEquivalentSpellingsAreDifferentTopics() throws {
        let composed = try Topic("caf\u{00E9}/x")
        let decomposed = try Topic("cafe\u{0301}/x")
        #expect(composed.name == decomposed.name)  // Swift's String equality says they are the same …
        #expect(composed != decomposed)  // … the bus does not.
        #expect(Set([composed, decomposed]).count == 2)
        let index = SubscriptionIndex<Sub>()
        index.insert(try TopicFilter("caf\u{00E9}/+"), member: Sub("s"))
        #expect(index.match(composed).members.map(\.name) == ["s"])
        #expect(index.match(decomposed).members.isEmpty)
        #expect(!(try TopicFilter("caf\u{00E9}/x")).matches(decomposed))
    }
}
