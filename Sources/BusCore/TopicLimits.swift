/// Bounds on topic names and filters, checked before anything is stored.
package struct TopicLimits: Sendable, Hashable {
    /// Longest topic or filter in UTF-8 bytes. 65,535 is MQTT's own limit (a two-byte length prefix),
    /// so every MQTT topic fits and no other protocol can create one MQTT could not spell.
    package var maxBytes: Int
    /// Most `/`-separated levels. Deep enough for any real hierarchy; bounds the trie walk per publish.
    package var maxLevels: Int

    package init(maxBytes: Int = 65_535, maxLevels: Int = 32) {
        self.maxBytes = maxBytes
        self.maxLevels = maxLevels
    }

    package static let `default` = TopicLimits()
}
