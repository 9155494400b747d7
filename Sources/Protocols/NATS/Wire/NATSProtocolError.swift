/// Why the server answers `-ERR`. `text` is the reference server's wording where it has one, so
/// clients that match on it (nats.go, nats.py) behave as they do against nats-server.
package struct NATSProtocolError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What the client is told, inside the quotes of `-ERR '…'`.
    package var text: String
    /// Whether the server closes the connection after sending it.
    package var closesConnection: Bool

    package init(_ text: String, closesConnection: Bool) {
        self.text = text
        self.closesConnection = closesConnection
    }

    package var description: String { "-ERR '\(text)'" }

    /// nats-server's wording for a SUB beyond the client's permissions (the connection stays open).
    package static func subscriptionPermissionsViolation(_ subject: String, queue: String?) -> NATSProtocolError {
        let suffix = queue.map { " using queue \"\($0)\"" } ?? ""
        return NATSProtocolError(
            "Permissions Violation for Subscription to \"\(subject)\"\(suffix)", closesConnection: false)
    }

    /// nats-server's wording for a PUB beyond the client's permissions (the connection stays open).
    package static func publishPermissionsViolation(_ subject: String) -> NATSProtocolError {
        NATSProtocolError("Permissions Violation for Publish to \"\(subject)\"", closesConnection: false)
    }

    /// The client's token expired (nats-server's wording for an expired user JWT).
    package static let userAuthenticationExpired = NATSProtocolError(
        "User Authentication Expired", closesConnection: true)

    package static let unknownOperation = NATSProtocolError("Unknown Protocol Operation", closesConnection: true)
    package static let maxControlLineExceeded = NATSProtocolError(
        "Maximum Control Line Exceeded", closesConnection: true)
    package static let maxPayloadViolation = NATSProtocolError("Maximum Payload Violation", closesConnection: true)
    package static let authorizationViolation = NATSProtocolError("Authorization Violation", closesConnection: true)
    package static let authenticationTimeout = NATSProtocolError("Authentication Timeout", closesConnection: true)
    package static let staleConnection = NATSProtocolError("Stale Connection", closesConnection: true)
    package static let slowConsumer = NATSProtocolError("Slow Consumer", closesConnection: true)
    package static let invalidSubject = NATSProtocolError("Invalid Subject", closesConnection: false)
    package static let invalidPublishSubject = NATSProtocolError("Invalid Publish Subject", closesConnection: false)
    package static let maxConnectionsExceeded = NATSProtocolError(
        "maximum connections exceeded", closesConnection: true)
    package static let maxSubscriptionsExceeded = NATSProtocolError(
        "maximum subscriptions exceeded", closesConnection: false)
    package static let badClientProtocol = NATSProtocolError("invalid client protocol", closesConnection: true)
    package static let noRespondersRequiresHeaders = NATSProtocolError(
        "no responders requires headers support", closesConnection: true)
    package static let headersNotEnabled = NATSProtocolError(
        "Headers not enabled: send CONNECT with \"headers\":true before HPUB", closesConnection: true)
    package static let closedByAdministrator = NATSProtocolError(
        "Connection Closed By Administrator", closesConnection: true)

    /// A malformed operation, with what was wrong (the reference server closes with "Unknown Protocol
    /// Operation" for all of these; saying which part was wrong costs nothing and helps).
    package static func malformed(_ what: String) -> NATSProtocolError {
        NATSProtocolError("Unknown Protocol Operation: \(what)", closesConnection: true)
    }
}
