/// Why the server answers `-ERR` or closes: every refusal of the NATS frontend, whether the client's
/// input caused it, its credentials, or the server itself (slow consumer, administrator, limits). `text`
/// and `closesConnection` are the one map from a reason to what goes on the wire (STYLE.md habit 12):
/// the reference server's wording where it has one, so clients that match on it (nats.go, nats.py)
/// behave as they do against nats-server.
package enum NATSProtocolError: Error, Sendable, Hashable, CustomStringConvertible {
    // MARK: The client's input

    /// An operation name the protocol does not have.
    case unknownOperation
    /// A malformed operation, with what was wrong (the reference server closes with "Unknown Protocol
    /// Operation" for all of these; saying which part was wrong costs nothing and helps).
    case malformed(String)
    /// A control line longer than `max_control_line`.
    case maxControlLineExceeded
    /// A payload (headers included) larger than `max_payload`.
    case maxPayloadViolation
    /// CONNECT `protocol` other than 0 or 1.
    case badClientProtocol
    /// CONNECT `no_responders` without `headers` (the 503 is a header-only message).
    case noRespondersRequiresHeaders
    /// `HPUB` from a client whose CONNECT did not say `headers: true`.
    case headersNotEnabled
    /// A SUB subject that is not one (`a..b`, `a.>.c`).
    case invalidSubject
    /// A PUB subject or reply that is a wildcard or not a subject.
    case invalidPublishSubject
    /// More subscriptions than `max_subscriptions`.
    case maxSubscriptionsExceeded

    // MARK: Credentials and permissions

    /// Credentials refused, or an operation before CONNECT when authentication is required.
    case authorizationViolation
    /// No CONNECT within `auth_timeout`.
    case authenticationTimeout
    /// The client's token expired (nats-server's wording for an expired user JWT).
    case userAuthenticationExpired
    /// A SUB beyond the client's permissions: the subject (and queue) as the client wrote them.
    case subscriptionPermissionsViolation(String, queue: String?)
    /// A PUB beyond the client's permissions: the subject as the client wrote it.
    case publishPermissionsViolation(String)
    /// A PUB whose payload a `payload_schemas` rule refuses (docs/topics.md, "Payload schemas"): the
    /// subject as the client wrote it and why, naming the failing JSON Pointer. nats-server validates no
    /// payloads; the text leads with its permission refusal's words because that is what clients (nats.py,
    /// nats.go) key on to report an error and keep the connection; any other `-ERR` makes them close it.
    case payloadSchemaViolation(String, reason: String)

    // MARK: The server's own reasons

    /// `max_pings_out` PINGs went unanswered (or the shared keep-alive gave up on the client).
    case staleConnection
    /// The client does not read fast enough (`max_pending`).
    case slowConsumer
    /// A connection limit (total, per address, rate) refused the connection.
    case maxConnectionsExceeded
    /// `DELETE /api/connections/{id}`.
    case closedByAdministrator

    /// What the client is told, inside the quotes of `-ERR '…'`.
    package var text: String {
        switch self {
        // nats-server: -ERR 'Unknown Protocol Operation' for anything its parser cannot read.
        case .unknownOperation: "Unknown Protocol Operation"
        case .malformed(let what): "Unknown Protocol Operation: \(what)"
        case .maxControlLineExceeded: "Maximum Control Line Exceeded"
        case .maxPayloadViolation: "Maximum Payload Violation"
        case .badClientProtocol: "invalid client protocol"
        case .noRespondersRequiresHeaders: "no responders requires headers support"
        case .headersNotEnabled: "Headers not enabled: send CONNECT with \"headers\":true before HPUB"
        case .invalidSubject: "Invalid Subject"
        case .invalidPublishSubject: "Invalid Publish Subject"
        case .maxSubscriptionsExceeded: "maximum subscriptions exceeded"
        case .authorizationViolation: "Authorization Violation"
        case .authenticationTimeout: "Authentication Timeout"
        case .userAuthenticationExpired: "User Authentication Expired"
        case .subscriptionPermissionsViolation(let subject, let queue):
            "Permissions Violation for Subscription to \"\(subject)\"" + (queue.map { " using queue \"\($0)\"" } ?? "")
        case .publishPermissionsViolation(let subject): "Permissions Violation for Publish to \"\(subject)\""
        // The text sits between single quotes on the wire: a quote inside would end it early.
        case .payloadSchemaViolation(let subject, let reason):
            "Permissions Violation for Publish to \"\(subject)\": " + String(reason.map { $0 == "'" ? "\"" : $0 })
        case .staleConnection: "Stale Connection"
        case .slowConsumer: "Slow Consumer"
        case .maxConnectionsExceeded: "maximum connections exceeded"
        case .closedByAdministrator: "Connection Closed By Administrator"
        }
    }

    /// Whether the server closes the connection after sending it. As nats-server: a bad subject, a
    /// permission refusal or one subscription too many leave the connection open; everything else ends it.
    package var closesConnection: Bool {
        switch self {
        case .invalidSubject, .invalidPublishSubject, .maxSubscriptionsExceeded, .subscriptionPermissionsViolation,
            .publishPermissionsViolation, .payloadSchemaViolation:
            false
        case .unknownOperation, .malformed, .maxControlLineExceeded, .maxPayloadViolation, .badClientProtocol,
            .noRespondersRequiresHeaders, .headersNotEnabled, .authorizationViolation, .authenticationTimeout,
            .userAuthenticationExpired, .staleConnection, .slowConsumer, .maxConnectionsExceeded,
            .closedByAdministrator:
            true
        }
    }

    /// A permission refusal (counted as such in the metrics).
    package var isPermissionsViolation: Bool {
        switch self {
        case .subscriptionPermissionsViolation, .publishPermissionsViolation: true
        default: false
        }
    }

    package var description: String { "-ERR '\(text)'" }
}
