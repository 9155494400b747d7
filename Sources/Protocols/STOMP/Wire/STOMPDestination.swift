/// A destination as RabbitMQ's STOMP plugin names them (its "Destinations" guide).
package enum STOMPDestination: Sendable, Equatable {
    /// `/topic/<routing key>`: the `amq.topic` exchange, which is the bus (`a.b` ⇄ topic `a/b`).
    case topic(String)
    /// `/queue/<name>`: a queue declared on first use (SEND and SUBSCRIBE).
    case queue(String)
    /// `/amq/queue/<name>`: an existing queue, never declared.
    case amqQueue(String)
    /// `/exchange/<name>[/<key>]`: publish to an exchange with the key; subscribe through a private
    /// queue bound with it as the binding key.
    case exchange(String, key: String)
    /// `/temp-queue/<name>`: a private reply queue of the connection (in `reply-to`).
    case temporaryQueue(String)
    /// `/reply-queue/<queue>`: where replies to a temporary queue are sent.
    case replyQueue(String)

    /// The destination named by `text`; nil when it is none of the kinds above.
    package init?(_ text: String) {
        func rest(after prefix: String) -> String? {
            guard text.hasPrefix(prefix) else { return nil }
            let name = String(text.dropFirst(prefix.count))
            return name.isEmpty ? nil : name
        }
        if let name = rest(after: "/topic/") {
            self = .topic(name)
        } else if let name = rest(after: "/queue/") {
            self = .queue(name)
        } else if let name = rest(after: "/amq/queue/") {
            self = .amqQueue(name)
        } else if let path = rest(after: "/exchange/") {
            let parts = path.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
            guard !parts[0].isEmpty else { return nil }
            self = .exchange(String(parts[0]), key: parts.count > 1 ? String(parts[1]) : "")
        } else if let name = rest(after: "/temp-queue/") {
            self = .temporaryQueue(name)
        } else if let name = rest(after: "/reply-queue/") {
            self = .replyQueue(name)
        } else {
            return nil
        }
    }

    /// The ERROR for a destination that is none of these (RabbitMQ's texts).
    package static func unknown(_ text: String) -> STOMPError {
        STOMPError(
            "Unknown destination",
            detail:
                "'\(text)' is not a valid destination.\nValid destination types are: /exchange, /topic or /queue.\n")
    }
}
