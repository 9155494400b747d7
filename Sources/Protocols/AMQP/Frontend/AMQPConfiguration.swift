package import AMQPWire
package import FrontendKit

/// The AMQP frontend's settings (config section `amqp`; every key is listed by `serve --help` and
/// docs/operations.md from `settings` below). The ports are the generic `amqp.port` (5672) and
/// `amqp.tls_port` (5671).
package struct AMQPConfiguration: FrontendSettings {
    package var limits = AMQPLimits()
    /// Outbound bytes queued per connection before its consumers stop receiving until it drains.
    package var maxPendingBytes = 4 << 20
    /// Queues the broker holds at once (a declare beyond it is refused with 406).
    package var maxQueues = 10_000
    /// Store writes waiting to be committed at which publishing connections are blocked
    /// (`connection.blocked`, RabbitMQ's flow control) until the store catches up; 0 never blocks.
    package var blockAtStoreBacklog = 200_000

    package init() {}

    package static let settings: [FrontendSetting<AMQPConfiguration>] = [
        .integer(
            "frame_max", \.limits.frameMax, minimum: AMQPLimits.minFrameMax,
            help: "Largest frame in bytes proposed in connection.tune (RabbitMQ's default, 131072)."),
        .integer(
            "channel_max", \.limits.channelMax, minimum: 1,
            help: "Highest channel number proposed in connection.tune (RabbitMQ's default, 2047)."),
        .integer(
            "heartbeat_seconds", \.limits.heartbeatSeconds, minimum: 0,
            help: "Heartbeat interval proposed in connection.tune; 0 proposes none."),
        .integer(
            "max_message_bytes", \.limits.maxMessageSize, minimum: 1,
            help: "Largest message body a publisher may send (406 beyond; RabbitMQ's max_message_size)."),
        .integer(
            "handshake_timeout_seconds", \.limits.handshakeTimeoutSeconds, minimum: 1,
            help:
                "Seconds from the protocol header to connection.open before the socket closes (RabbitMQ's handshake_timeout)."
        ),
        .integer(
            "max_pending_bytes", \.maxPendingBytes, minimum: 65_536,
            help: "Outbound bytes queued per connection before its consumers pause until it drains."),
        .integer(
            "max_queues", \.maxQueues, minimum: 1,
            help: "Queues the broker holds at once (a declare beyond it gets 406)."),
        .integer(
            "block_store_backlog", \.blockAtStoreBacklog,
            help:
                "Store writes waiting to commit at which publishers get connection.blocked until it catches up; 0: never."
        ),
    ]

    package func validate() throws(FrontendSettingError) {
        guard limits.frameMax <= 1 << 30 else {
            throw FrontendSettingError("amqp.frame_max must be at most 1 GiB")
        }
    }
}
