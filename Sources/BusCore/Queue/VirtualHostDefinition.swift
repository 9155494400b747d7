/// A virtual host as configured (`virtual_hosts`, docs/protocols/amqp.md): its name and where its
/// `amq.topic` meets the bus. `/` is the bus root; another virtual host's `amq.topic` is the bus below its
/// topic prefix (by default its name), so routing key `a.b` in `tenant-a` is the topic `tenant-a/a/b` and
/// topic permissions on `tenant-a/#` confine a tenant's AMQP clients as they confine its MQTT ones.
package struct VirtualHostDefinition: Sendable, Equatable {
    package var name: String
    /// The bus topic `amq.topic`'s routing keys hang under; nil: the bus root (only `/`).
    package var topicPrefix: String?

    package init(name: String, topicPrefix: String? = nil) {
        self.name = name
        self.topicPrefix = topicPrefix
    }

    /// `/` on the bus root.
    package static let root = VirtualHostDefinition(name: "/")

    /// Why this definition cannot be used; nil when it can. A prefix must be a concrete topic (no
    /// wildcards, no empty level); a name must be non-empty, without control characters (stored names are
    /// qualified with U+001F).
    package func problem(limits: TopicLimits = TopicLimits()) -> String? {
        if name.isEmpty || name.utf8.contains(where: { $0 < 0x20 }) || name.utf8.count > 255 {
            return "virtual host names must be 1 to 255 bytes without control characters"
        }
        if name == "/" {
            return topicPrefix == nil ? nil : "the virtual host / is the bus root: it has no topic_prefix"
        }
        guard let prefix = topicPrefix else { return "virtual host \(name) needs a topic_prefix" }
        if (try? Topic(prefix, limits: limits)) == nil || prefix.hasPrefix("$") {
            return "virtual host \(name): topic_prefix \"\(prefix)\" must be a concrete topic not starting with $"
        }
        return nil
    }
}
