/// A publish's `Nats-Rollup` header (nats-server's `JSMsgRollup`): once the message is stored, the
/// stream keeps only it of its subject (`sub`, KV's purge) or of the whole stream (`all`).
package enum JetStreamRollup: Sendable, Equatable {
    /// `sub`: earlier messages on the same subject go.
    case subject
    /// `all`: every earlier message of the stream goes.
    case all

    /// The header's name.
    package static let header = "Nats-Rollup"

    /// Reads the header's value; throws nats-server's error for a value it does not know.
    package init(value: String) throws(JetStreamAPIError) {
        switch value {
        case "sub": self = .subject
        case "all": self = .all
        default: throw .rollupFailed("rollup value invalid: \"\(value)\"")
        }
    }
}
