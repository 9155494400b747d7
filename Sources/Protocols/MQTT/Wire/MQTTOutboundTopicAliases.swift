/// Topic aliases the server uses towards one client (MQTT 5.0 §3.3.2.3.4): the first PUBLISH to a topic
/// carries the topic and a new alias, later ones only the alias. At most the client's Topic Alias
/// Maximum aliases ([MQTT-3.3.2-10]); once they are all taken, other topics are sent in full. Aliases
/// last for one network connection ([MQTT-3.3.2-7]), so a new connection starts with none.
package struct MQTTOutboundTopicAliases: Sendable {
    private var aliases: [String: UInt16] = [:]
    package let maximum: Int

    package init(maximum: Int) {
        self.maximum = maximum
    }

    package var isEnabled: Bool { maximum > 0 }

    /// Replaces the topic by its alias when it has one, or assigns one while there is room.
    package mutating func apply(to packet: inout MQTTPublishPacket) {
        guard maximum > 0, !packet.topic.isEmpty else { return }
        if let alias = aliases[packet.topic] {
            packet.properties.topicAlias = alias
            packet.topic = ""
        } else if aliases.count < maximum {
            let alias = UInt16(aliases.count + 1)
            aliases[packet.topic] = alias
            packet.properties.topicAlias = alias
        }
    }
}
