import BusCore
import Testing

/// AMQP routing keys ⇄ bus topics (docs/topics.md "AMQP"): words ⇄ levels, the characters one side cannot
/// spell escaped by that side, binding keys as bus filters.
@Suite struct RoutingKeyMappingTests {
    @Test(arguments: [
        ("a.b.c", "a/b/c"), ("single", "single"), ("a..b", "a//b"), ("a.b/c", "a/b%2Fc"), ("x.+.#", "x/%2B/%23"),
        ("*.star", "*/star"),
    ])
    func routingKeysMapToTopicsAndBack(key: String, topic: String) {
        #expect(RoutingKeyMapping.topicName(forRoutingKey: key) == topic)
        #expect(RoutingKeyMapping.routingKey(forTopic: topic) == key)
    }

    @Test func aDotInATopicLevelIsEscapedInTheKey() {
        #expect(RoutingKeyMapping.routingKey(forTopic: "a/b.c") == "a.b%2Ec")
        #expect(RoutingKeyMapping.topicName(forRoutingKey: "") == nil)
    }

    @Test func bindingKeysAsFilters() {
        #expect(RoutingKeyMapping.filterText(forBindingKey: "a.*.c")! == ("a/+/c", true))
        #expect(RoutingKeyMapping.filterText(forBindingKey: "a.#")! == ("a/#", true))
        #expect(RoutingKeyMapping.filterText(forBindingKey: "#")! == ("#", true))
        // `#` before the end: the filter covers more; the queue checks the key.
        #expect(RoutingKeyMapping.filterText(forBindingKey: "a.#.c")! == ("a/#", false))
        #expect(RoutingKeyMapping.filterText(forBindingKey: "") == nil)
    }
}
