import BusCore
import Testing

@Suite struct TopicFilterCoversTests {
    private func covers(_ a: String, _ b: String) throws -> Bool {
        try TopicFilter(a).covers(TopicFilter(b))
    }

    @Test func examples() throws {
        #expect(try covers("chat/#", "chat/+"))
        #expect(try covers("chat/#", "chat/#"))
        #expect(try covers("chat/#", "chat"))
        #expect(try covers("chat/+", "chat/lobby"))
        #expect(try covers("#", "a/+/c"))
        #expect(try covers("+/+", "a/+"))
        #expect(try !covers("chat/+", "chat/#"))
        #expect(try !covers("chat/lobby", "chat/+"))
        #expect(try !covers("chat/+", "chat/a/b"))
        #expect(try !covers("a/b", "a/b/c"))
        // A leading wildcard matches no `$` topic, so it covers no filter that can reach one.
        #expect(try !covers("#", "$SYS/#"))
        #expect(try !covers("+/x", "$SYS/x"))
        #expect(try covers("$SYS/#", "$SYS/+"))
    }

    /// `a.covers(b)` holds exactly when every topic `b` matches, `a` matches: checked against
    /// `matches` over every filter and topic of up to three levels on a small alphabet.
    @Test func agreesWithMatching() throws {
        let levels = ["a", "b", "$s"]
        var topics: [[String]] = []
        for n in 1...3 {
            var next: [[String]] = [[]]
            for _ in 0..<n { next = next.flatMap { prefix in levels.map { prefix + [$0] } } }
            topics += next
        }
        var filters: [String] = []
        for n in 1...3 {
            var next: [[String]] = [[]]
            for i in 0..<n {
                let choices = levels + ["+"] + (i == n - 1 ? ["#"] : [])
                next = next.flatMap { prefix in choices.map { prefix + [$0] } }
            }
            filters += next.map { $0.joined(separator: "/") }
        }
        let parsedTopics = try topics.map { try Topic($0.joined(separator: "/")) }
        let parsed = try filters.map { try TopicFilter($0) }
        for a in parsed {
            for b in parsed {
                // The sample is complete for filters of up to three levels, except `#` also matching
                // deeper topics: "every sampled topic" then stands for "every topic".
                let implied = parsedTopics.allSatisfy { !b.matches($0) || a.matches($0) }
                let deeperOnly = b.pattern.hasSuffix("#") && !a.pattern.hasSuffix("#")
                if deeperOnly && implied { continue }
                #expect(a.covers(b) == implied, "\(a) covers \(b)")
            }
        }
    }
}
