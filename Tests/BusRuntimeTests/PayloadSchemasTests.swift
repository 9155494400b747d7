import BusCore
import BusRuntime
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
}
