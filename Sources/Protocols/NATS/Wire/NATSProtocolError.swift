/// Why the server answers `-ERR`. `text` is the reference server's wording where it has one, so
/// clients that match on it (nats.go, nats.py) behave as they do against nats-server.
public struct NATSProtocolError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What the client is told, inside the quotes of `-ERR '…'`.
    public var text: String
    /// Whether the server closes the connection after sending it.
    public var closesConnection: Bool

    public init(_ text: String, closesConnection: Bool) {
        self.text = text
        self.closesConnection = closesConnection
    }

    public var description: String { "-ERR '\(text)'" }

    /// nats-server's wording for a SUB beyond the client's permissions (the connection stays open).
    public static func subscriptionPermissionsViolation(_ subject: String, queue: String?) -> NATSProtocolError {
        let suffix = queue.map { " using queue \"\($0)\"" } ?? ""
        return NATSProtocolError(
            "Permissions Violation for Subscription to \"\(subject)\"\(suffix)", closesConnection: false)
    }

    /// nats-server's wording for a PUB beyond the client's permissions (the connection stays open).
    public static func publishPermissionsViolation(_ subject: String) -> NATSProtocolError {
        NATSProtocolError("Permissions Violation for Publish to \"\(subject)\"", closesConnection: false)
    }

    /// The client's token expired (nats-server's wording for an expired user JWT).
    public static let userAuthenticationExpired = NATSProtocolError(
        "User Authentication Expired", closesConnection: true)

    public static let unknownOperation = NATSProtocolError("Unknown Protocol Operation", closesConnection: true)
    public static let maxControlLineExceeded = NATSProtocolError(
        "Maximum Control Line Exceeded", closesConnection: true)
    public static let maxPayloadViolation = NATSProtocolError("Maximum Payload Violation", closesConnection: true)
    public static let authorizationViolation = NATSProtocolError("Authorization Violation", closesConnection: true)
    public static let authenticationTimeout = NATSProtocolError("Authentication Timeout", closesConnection: true)
    public static let staleConnection = NATSProtocolError("Stale Connection", closesConnection: true)
    public static let slowConsumer = NATSProtocolError("Slow Consumer", closesConnection: true)
    public static let invalidSubject = NATSProtocolError("Invalid Subject", closesConnection: false)
    public static let invalidPublishSubject = NATSProtocolError("Invalid Publish Subject", closesConnection: false)
    public static let maxConnectionsExceeded = NATSProtocolError("maximum connections exceeded", closesConnection: true)
    public static let maxSubscriptionsExceeded = NATSProtocolError(
        "maximum subscriptions exceeded", closesConnection: false)
    public static let badClientProtocol = NATSProtocolError("invalid client protocol", closesConnection: true)
    public static let noRespondersRequiresHeaders = NATSProtocolError(
        "no responders requires headers support", closesConnection: true)
    public static let headersNotEnabled = NATSProtocolError(
        "Headers not enabled: send CONNECT with \"headers\":true before HPUB", closesConnection: true)
    public static let closedByAdministrator = NATSProtocolError(
        "Connection Closed By Administrator", closesConnection: true)

    /// A malformed operation, with what was wrong (the reference server closes with "Unknown Protocol
    /// Operation" for all of these; saying which part was wrong costs nothing and helps).
    public static func malformed(_ what: String) -> NATSProtocolError {
        NATSProtocolError("Unknown Protocol Operation: \(what)", closesConnection: true)
    }
}
