/// connection.start's server properties: who we are and which RabbitMQ extensions we speak. Clients
/// read `capabilities` to decide what to use (pika, the Java and .NET clients check e.g.
/// `publisher_confirms`, `consumer_cancel_notify`, `connection.blocked`).
package enum AMQPServerProperties {
    /// The RabbitMQ capabilities the server announces, all true.
    package static let capabilities: [String] = [
        "publisher_confirms", "exchange_exchange_bindings", "basic.nack", "consumer_cancel_notify",
        "connection.blocked", "consumer_priorities", "authentication_failure_close", "per_consumer_qos",
        "direct_reply_to",
    ]

    /// The server-properties table: product, version, platform, capabilities.
    package static func table(version: String) -> AMQPFieldTable {
        var capabilities = AMQPFieldTable()
        for name in Self.capabilities { capabilities[name] = .boolean(true) }
        return [
            "product": .string("Switchboard"),
            "version": .string(version),
            "platform": .string("Swift"),
            "capabilities": .table(capabilities),
        ]
    }

    /// The connection.start the server sends after the protocol header: 0-9, these properties, the
    /// mechanisms and locales of `AMQPSASL`.
    package static func connectionStart(version: String) -> AMQPConnectionStart {
        AMQPConnectionStart(
            versionMajor: 0, versionMinor: 9, serverProperties: table(version: version),
            mechanisms: AMQPSASL.mechanisms, locales: AMQPSASL.locales)
    }
}
