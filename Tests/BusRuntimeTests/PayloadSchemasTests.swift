import BusCore
import BusRuntime
import Dispatch
import NIOCore
import SchemaKit
import Testing

@Suite struct PayloadSchemasTests {
    static let reading = #"""
        {"$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object",
         "required": ["id", "temp"],
         "properties": {"id": {"type": "string", "minLength": 1},
                        "temp": {"type": "number", "minimum": -50, "maximum": 100},
                        "tags": {"type": "array", "items": {"type": "string"}}},
         "additionalProperties": false}
        """#

    private func schemas(_ rules: [(String, String)]) throws -> PayloadSchemas {
        PayloadSchemas(
            rules: try rules.map {
                PayloadSchemas.Rule(filter: try TopicFilter($0.0), schema: try JSONSchema(parsing: $0.1))
            })
    }

    private func check(
        _ schemas: PayloadSchemas, _ topic: String, _ payload: String, contentType: String? = nil
    ) throws -> PayloadSchemaViolation? {
        schemas.check(try Topic(topic), payload: ByteBuffer(string: payload), contentType: contentType)
    }

    @Test func noRulesLetEverythingThrough() throws {
        let none = PayloadSchemas.none
        #expect(none.isEmpty)
        #expect(try check(none, "sensors/a", "not json") == nil)
        #expect(try check(none, "sensors/a", "", contentType: "application/octet-stream") == nil)
    }

    @Test func aMatchingTopicIsValidatedAndOthersAreNot() throws {
        let rules = try schemas([("sensors/#", Self.reading)])
        #expect(try check(rules, "sensors/eu/1", #"{"id":"s1","temp":21.5}"#) == nil)
        #expect(try check(rules, "other/eu/1", "anything") == nil)
        let hot = try #require(try check(rules, "sensors/eu/1", #"{"id":"s1","temp":120}"#))
        #expect(hot.path == "/temp")
        #expect(hot.filter == "sensors/#")
        #expect(hot.topic == "sensors/eu/1")
        #expect(hot.description.contains("\"/temp\""))
        let tag = try #require(try check(rules, "sensors", #"{"id":"s1","temp":1,"tags":["a",2]}"#))
        #expect(tag.path == "/tags/1")
        let missing = try #require(try check(rules, "sensors/x", #"{"temp":1}"#))
        #expect(missing.path == "")
    }

    /// docs/topics.md's payload rule decides what is JSON: a declared text or binary payload is not,
    /// whatever its bytes; undeclared bytes must be one JSON value.
    @Test func aPayloadThatIsNotJSONIsRefused() throws {
        let rules = try schemas([("sensors/+", #"{}"#)])
        #expect(try check(rules, "sensors/a", #"{"a":1}"#) == nil)
        #expect(try check(rules, "sensors/a", " 42 ") == nil)
        #expect(try check(rules, "sensors/a", "hello")?.message.contains("not JSON") == true)
        #expect(try check(rules, "sensors/a", #"{"a":1}"#, contentType: "text/plain")?.message.contains("text") == true)
        #expect(
            try check(rules, "sensors/a", #"{"a":1}"#, contentType: "application/octet-stream")?.message.contains(
                "binary") == true)
        // A JSON content type changes nothing: the bytes still have to be JSON.
        #expect(try check(rules, "sensors/a", #"{"a":1}"#, contentType: "application/json") == nil)
        #expect(try check(rules, "sensors/a", "{", contentType: "application/json") != nil)
        let binary = rules.check(
            try Topic("sensors/a"), payload: ByteBuffer(bytes: [0xFF, 0xFE]), contentType: "text/plain")
        #expect(binary?.message.contains("not JSON") == true)
    }

    @Test func everyMatchingRuleMustHold() throws {
        let rules = try schemas([("a/#", #"{"required":["x"]}"#), ("a/+/c", #"{"required":["y"]}"#)])
        #expect(try check(rules, "a/b/c", #"{"x":1,"y":2}"#) == nil)
        #expect(try check(rules, "a/b/c", #"{"x":1}"#)?.filter == "a/+/c")
        #expect(try check(rules, "a/b/d", #"{"x":1}"#) == nil)
        #expect(try check(rules, "a/b/c", #"{"y":1}"#)?.filter == "a/#")
    }

    /// The byte matcher agrees with `TopicFilter.matches` (the reference the trie is tested against).
    @Test func matchingAgreesWithTopicFilter() throws {
        let filters = ["#", "+", "a", "a/#", "a/+", "+/b", "a/+/c", "+/+", "a/b/#", "$SYS/#", "+/#", "a//c", "é/+"]
        let topics = ["a", "a/b", "a/b/c", "a/", "/b", "b", "a//c", "$SYS/x", "$SYS", "é/x", "a/b/c/d", "/"]
        for filterText in filters {
            let filter = try TopicFilter(filterText)
            let rules = try schemas([(filterText, "false")])
            for topicText in topics {
                let topic = try Topic(topicText)
                let refused = rules.check(topic, payload: ByteBuffer(string: "1"), contentType: nil) != nil
                #expect(refused == filter.matches(topic), "\(filterText) vs \(topicText)")
                #expect(rules.governs(topic) == filter.matches(topic))
            }
        }
    }

    /// The compiled validator decides, the evaluator explains: every payload gets the verdict, path and
    /// message `JSONSchema.violations(of:)` gives the parsed payload (escapes, non-ASCII, big numbers).
    @Test func refusalsAreTheEvaluatorsOwn() throws {
        let schema = #"""
            {"type": "object", "required": ["id"], "additionalProperties": false,
             "properties": {"id": {"type": "string", "pattern": "^[a-z]+-[0-9]+$", "maxLength": 8},
                            "n": {"type": "integer", "multipleOf": 3},
                            "tags": {"type": "array", "uniqueItems": true, "items": {"enum": ["a", "é", 1]}},
                            "é": {"const": {"x": [1.0]}}}}
            """#
        let rules = try schemas([("s/#", schema)])
        let compiled = try JSONSchema(parsing: schema)
        let payloads = [
            #"{"id":"ab-1"}"#, #"{"id":"ab-1x"}"#, #"{"id":"ab-1"}"#, #"{"id":"ab-123456"}"#,
            #"{"id":"ab-1","n":9}"#, #"{"id":"ab-1","n":9.0}"#, #"{"id":"ab-1","n":10}"#,
            #"{"id":"ab-1","n":300000000000000000000000000}"#, #"{"id":"ab-1","tags":["a","é",1.0]}"#,
            #"{"id":"ab-1","tags":["a","é","é"]}"#, #"{"id":"ab-1","tags":["b"]}"#,
            #"{"id":"ab-1","é":{"x":[1]}}"#, #"{"id":"ab-1","é":{"x":[1]}}"#, #"{"id":"ab-1","é":{"x":[2]}}"#,
            #"{"id":"ab-1","x":1}"#, #"{"id":"ab-1","a/b":1}"#, "[]", #"{"id":"ab-1"} x"#,
        ]
        for payload in payloads {
            let violation = try check(rules, "s/1", payload)
            let parsed = try? Array(payload.utf8).withUnsafeBytes { try JSONParser.parse($0) }
            let expected = parsed.flatMap { compiled.violations(of: $0).first }
            // A payload that is not JSON is refused at the whole payload.
            #expect(violation?.path == (parsed == nil ? "" : expected?.path), "\(payload)")
            if parsed != nil { #expect(violation?.message == expected?.message, "\(payload)") }
            #expect((violation == nil) == (parsed != nil && expected == nil), "\(payload)")
        }
    }

    /// `PayloadSchemas` is shared by every event loop: concurrent checks (compiled patterns and all)
    /// give the same answers.
    @Test func concurrentChecksAgree() throws {
        let schema = #"""
            {"type": "object", "required": ["id", "temp"], "additionalProperties": false,
             "properties": {"id": {"type": "string", "pattern": "^s[0-9]+$"},
                            "temp": {"type": "number", "minimum": -50, "maximum": 100}}}
            """#
        let rules = try schemas([("sensors/#", schema)])
        let topic = try Topic("sensors/eu/1")
        DispatchQueue.concurrentPerform(iterations: 8) { worker in
            for round in 0..<2_000 {
                let temp = (worker + round) % 200 - 50
                let payload = ByteBuffer(string: #"{"id":"s\#(round)","temp":\#(temp)}"#)
                let violation = rules.check(topic, payload: payload, contentType: nil)
                precondition((violation == nil) == (temp <= 100), "worker \(worker) round \(round)")
                precondition(violation == nil || violation?.path == "/temp")
            }
        }
    }
}
