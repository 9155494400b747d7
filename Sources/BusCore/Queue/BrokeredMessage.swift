/// What a queue keeps per message: the bus message (payload, headers, the publisher's own properties)
/// and its `x-death` history, most recent first — the AMQP layer encodes that as the `x-death` header when
/// it delivers a dead-lettered message.
package struct BrokeredMessage: Sendable {
    package var message: BusMessage
    package var deaths: [DeathRecord]

    package init(message: BusMessage, deaths: [DeathRecord] = []) {
        self.message = message
        self.deaths = deaths
    }
}
