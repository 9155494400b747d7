/// The result of checking a client's credentials.
package enum AuthOutcome: Sendable, Equatable {
    /// No credentials, and anonymous access is on.
    case anonymous
    /// Credentials accepted for this user.
    case user(String)
    /// Refused, with the reason the client is told.
    case refused(String)
}

/// Checks credentials for every protocol alike (one identity model, DESIGN.md §6).
package protocol Authenticator: Sendable {
    var allowsAnonymous: Bool { get }
    /// Checks a bearer token (native `connect`, `Authorization: Bearer`, MQTT/NATS passwords later).
    func authenticate(token: String?) -> AuthOutcome
}

/// Static bearer tokens from the config file, each naming its user. (JWT joins with the security issue.)
package struct StaticTokenAuthenticator: Authenticator {
    package let allowsAnonymous: Bool
    private let tokens: [String: String]

    package init(allowsAnonymous: Bool, tokens: [String: String]) {
        self.allowsAnonymous = allowsAnonymous
        self.tokens = tokens
    }

    package func authenticate(token: String?) -> AuthOutcome {
        guard let token, !token.isEmpty else {
            return allowsAnonymous ? .anonymous : .refused("a token is required")
        }
        guard let user = tokens[token] else { return .refused("invalid token") }
        return .user(user)
    }
}

/// What a connection does when its outbound buffer is full.
package enum SlowConsumerPolicy: String, Sendable {
    /// Drop the message for that connection (at-most-once) and count it.
    case drop
    /// Close the connection with a stated reason and count it.
    case disconnect
}
