import Testing

@testable import BusCore

/// docs/topics.md "NATS": the table of the escaping rule, both ways.
@Suite struct NATSSubjectMappingTests {
    @Test(arguments: [
        ("a.b.c", "a/b/c"),
        ("$SYS.stats", "$SYS/stats"),
        ("x.y/z", "x/y%2Fz"),
        ("a.b%2Ec", "a/b.c"),
        ("a.b+c.#", "a/b%2Bc/%23"),
        ("a.%00.b", "a//b"),
        ("sp%20ace", "sp ace"),
        ("_INBOX.abc.1", "_INBOX/abc/1"),
    ])
    func subjectToTopicAndBack(subject: String, topic: String) throws {
        #expect(try NATSSubjectMapping.topicName(forSubject: subject) == topic)
        #expect(NATSSubjectMapping.subject(forTopic: topic) == subject)
    }

    @Test func topicsWithCharactersNATSCannotSpell() throws {
        #expect(NATSSubjectMapping.subject(forTopic: "v1.2/x") == "v1%2E2.x")
        #expect(NATSSubjectMapping.subject(forTopic: "/lead") == "%00.lead")
        #expect(NATSSubjectMapping.subject(forTopic: "trail/") == "trail.%00")
        #expect(NATSSubjectMapping.subject(forTopic: "line\nbreak") == "line%0Abreak")
        // A level `*` or `>` is delivered as the token it is; `%2A` and `%3E` name it in a filter or a
        // pedantic client's PUB, where the bare token is a wildcard.
        #expect(NATSSubjectMapping.subject(forTopic: "*") == "*")
        #expect(NATSSubjectMapping.subject(forTopic: "a/>/b") == "a.>.b")
        #expect(try NATSSubjectMapping.topicName(forSubject: "a.%2A") == "a/*")
        #expect(try NATSSubjectMapping.topicName(forSubject: "a.%3E") == "a/>")
        #expect(try NATSSubjectMapping.filterText(forSubject: "a.%2A") == "a/*")
        // '*' inside a level is an ordinary character in both.
        #expect(NATSSubjectMapping.subject(forTopic: "a*b/c") == "a*b.c")
    }

    @Test func separatorsAreBytesNotCharacters() throws {
        // "." followed by a combining mark is one Character but still a separator (found by the fuzzer).
        let subject = "a.\u{0486}b"
        #expect(try NATSSubjectMapping.topicName(forSubject: subject) == "a/\u{0486}b")
        #expect(NATSSubjectMapping.subject(forTopic: "a/\u{0486}b") == subject)
    }

    @Test func filters() throws {
        #expect(try NATSSubjectMapping.filterText(forSubject: "a.*.c") == "a/+/c")
        #expect(try NATSSubjectMapping.filterText(forSubject: "a.>") == "a/#")
        #expect(try NATSSubjectMapping.filterText(forSubject: ">") == "#")
        #expect(try NATSSubjectMapping.filterText(forSubject: "jobs.*", queue: "workers") == "$share/workers/jobs/+")
        #expect(try NATSSubjectMapping.filterText(forSubject: "j", queue: "a/b") == "$share/a%2Fb/j")
    }

    @Test(arguments: ["", "a..b", ".a", "a.", "a.>.b"])
    func invalidFilters(subject: String) {
        #expect(throws: NATSSubjectMapping.Failure.self) { _ = try NATSSubjectMapping.filterText(forSubject: subject) }
    }

    /// Plain subjects (no empty token, nothing escaped) take a one-pass path: it must give what the
    /// token-by-token mapping gives, and leave every other subject to it.
    @Test func plainSubjectsMapTheirDotsToSlashes() throws {
        let ack = "$JS.ACK.orders.worker.1.1234.1230.1733470000000000000.17"
        #expect(
            try NATSSubjectMapping.topicName(forSubject: ack)
                == "$JS/ACK/orders/worker/1/1234/1230/1733470000000000000/17")
        #expect(try NATSSubjectMapping.topicName(forSubject: "é.ü-x.\u{0486}") == "é/ü-x/\u{0486}")
        #expect(try NATSSubjectMapping.topicName(forSubject: "single") == "single")
        #expect(try NATSSubjectMapping.topicName(forSubject: "a*b.c") == "a*b/c")
    }

    @Test(arguments: ["a..b", ".a", "a.", ".", ".."])
    func emptyTokensAreNotPublishSubjects(subject: String) {
        #expect(throws: NATSSubjectMapping.Failure.emptyToken) {
            _ = try NATSSubjectMapping.topicName(forSubject: subject)
        }
    }

    @Test(arguments: ["a.*", "a.>", ">", "*"])
    func wildcardsAreNotPublishSubjects(subject: String) {
        #expect(throws: NATSSubjectMapping.Failure.wildcard) {
            _ = try NATSSubjectMapping.topicName(forSubject: subject)
        }
    }

    @Test func literalWildcardsAreLevelsOfTheirOwn() throws {
        // A PUB of a client that is not pedantic: what `%2A`, `%3E` and `%00` spell, and back as it came
        // (an empty level as `%00`).
        for (subject, topic) in [
            ("$KV.b.hello.*", "$KV/b/hello/*"), ("a.>", "a/>"), ("a.>.b", "a/>/b"), ("a..b", "a//b"), ("*", "*"),
            ("a.%2A", "a/*"),
        ] {
            #expect(try NATSSubjectMapping.topicName(forSubject: subject, literalWildcards: true) == topic)
        }
        #expect(NATSSubjectMapping.subject(forTopic: "$KV/b/hello/*") == "$KV.b.hello.*")
        #expect(NATSSubjectMapping.subject(forTopic: "a//b") == "a.%00.b")
        #expect(throws: NATSSubjectMapping.Failure.empty) {
            _ = try NATSSubjectMapping.topicName(forSubject: "", literalWildcards: true)
        }
    }

    @Test func roundTripOfGeneratedTopics() throws {
        // Topics without '%' (whose escape sequences the rule reads back) survive topic → subject → topic,
        // the subject read as a PUB of a client that is not pedantic (a level `*` is the token `*`).
        let alphabet = Array("ab.*> \t/$_-9é")  // '+' and '#' are wildcards: never in a topic name
        var random = SystemRandomNumberGenerator()
        for _ in 0..<2000 {
            let topic = String((0..<Int.random(in: 1...12, using: &random)).map { _ in alphabet.randomElement()! })
            let subject = NATSSubjectMapping.subject(forTopic: topic)
            #expect(!subject.utf8.contains { $0 <= 0x20 }, "a subject never holds whitespace: \(subject)")
            #expect(
                try NATSSubjectMapping.topicName(forSubject: subject, literalWildcards: true) == topic,
                "\(topic) → \(subject)")
        }
    }
}
