/// Why a queue or the exchange table refused an operation, in RabbitMQ's words so AMQP clients see the
/// texts they know. The protocol layer maps `kind` to its code (AMQP: 403, 404, 405, 406, 530; STOMP: an
/// ERROR frame with `text` as its message).
package struct BrokerRefusal: Error, Sendable, Equatable, CustomStringConvertible {
    /// The class of refusal.
    package var kind: Kind
    /// The reply text, e.g. `inequivalent arg 'type' for exchange 'x' in vhost '/': received 'fanout' but
    /// current is 'direct'`.
    package var text: String

    /// The classes of refusal, named after the AMQP 0-9-1 reply codes they map to.
    package enum Kind: Sendable, Equatable {
        /// 403 ACCESS_REFUSED: the default or a system exchange, an `amq.` name, an internal exchange, a
        /// queue in exclusive use.
        case accessRefused
        /// 404 NOT_FOUND: no such exchange or queue.
        case notFound
        /// 405 RESOURCE_LOCKED: another connection's exclusive queue.
        case resourceLocked
        /// 406 PRECONDITION_FAILED: inequivalent redeclare, in use, bad binding arguments.
        case preconditionFailed
        /// 530 NOT_ALLOWED: a consumer id already in use.
        case notAllowed
    }

    package init(_ kind: Kind, _ text: String) {
        self.kind = kind
        self.text = text
    }

    package var description: String { text }

    /// RabbitMQ's `rs/1`: `exchange 'x' in vhost '/'`.
    static func resource(_ kind: String, _ name: String, vhost: String) -> String {
        "\(kind) '\(name)' in vhost '\(vhost)'"
    }
}
