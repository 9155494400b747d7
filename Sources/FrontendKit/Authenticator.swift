package import BusCore
package import BusRuntime
package import NIOCore

/// What a client presented when it connected. Each protocol fills what its wire carries: MQTT
/// username/password, NATS user/pass/auth_token/jwt, `Authorization: Basic`/`Bearer`, `?token=`, the
/// native `connect` frame's token, and the verified TLS client certificate's subject (mTLS).
package struct ClientCredentials: Sendable, Equatable {
    /// A user name (MQTT username, NATS user, HTTP Basic user).
    package var username: String?
    /// A password; when there is no `username` it is taken as a token (MQTT and NATS carry JWTs there).
    package var password: String?
    /// A bearer token (JWT or static token).
    package var token: String?
    /// The connection's client id, substituted for `{client}` in permission rules.
    package var clientID: String?
    /// The subject of a client certificate that the TLS handshake verified (RFC 4514 text).
    package var certificateSubject: String?
    /// The client's answer to the server's challenge (NATS `nkey` and `sig` over INFO's `nonce`).
    package var challenge: SignedChallenge?

    package init(
        username: String? = nil, password: String? = nil, token: String? = nil, clientID: String? = nil,
        certificateSubject: String? = nil, challenge: SignedChallenge? = nil
    ) {
        self.username = username.flatMap { $0.isEmpty ? nil : $0 }
        self.password = password.flatMap { $0.isEmpty ? nil : $0 }
        self.token = token.flatMap { $0.isEmpty ? nil : $0 }
        self.clientID = clientID
        self.certificateSubject = certificateSubject
        self.challenge = challenge
    }

    /// Whether the client presented anything at all.
    package var isEmpty: Bool {
        username == nil && password == nil && token == nil && certificateSubject == nil && challenge == nil
    }

    /// A login as RabbitMQ's clients send it (AMQP start-ok, STOMP CONNECT): guest/guest, or no login at
    /// all, is the anonymous client when the server allows one (RabbitMQ's default login); a JWT as the
    /// password is a token with any user name (RabbitMQ's OAuth 2 plugin); anything else is a user name
    /// and password. `isToken`: the password was taken as a token (its holder may refresh it).
    package static func brokerLogin(
        username: String, password: String, clientID: String, allowsAnonymous: Bool, certificateSubject: String?
    ) -> (credentials: ClientCredentials, isToken: Bool) {
        let anonymous =
            allowsAnonymous
            && ((username.isEmpty && password.isEmpty) || (username == "guest" && password == "guest"))
        if anonymous { return (ClientCredentials(clientID: clientID), false) }
        if password.hasPrefix("eyJ") && password.utf8.count(where: { $0 == UInt8(ascii: ".") }) == 2 {
            return (ClientCredentials(token: password, clientID: clientID), true)
        }
        return (
            ClientCredentials(
                username: username, password: password, clientID: clientID, certificateSubject: certificateSubject),
            false
        )
    }
}

/// A signature over a challenge the server sent (NATS: INFO's `nonce`, signed with the client's NKey),
/// which proves the client holds the private key of `publicKey` or of the user a token names.
package struct SignedChallenge: Sendable, Equatable {
    /// What the server sent, as sent (the signed bytes are its UTF-8).
    package var nonce: String
    /// The public key the client claims (a NATS user NKey, `U…`); nil when a token names it.
    package var publicKey: String?
    /// The signature as the client sent it (base64, URL or standard alphabet, padded or not).
    package var signature: String?

    package init(nonce: String, publicKey: String?, signature: String?) {
        self.nonce = nonce
        self.publicKey = publicKey.flatMap { $0.isEmpty ? nil : $0 }
        self.signature = signature.flatMap { $0.isEmpty ? nil : $0 }
    }
}

/// Who a connection is, once authenticated: the same for every protocol (DESIGN.md §6).
package struct ClientIdentity: Sendable, Equatable {
    /// The user id (static user name, JWT `sub`, certificate subject); nil for an anonymous client.
    package var userID: String?
    /// Roles from the config (static users) or the token's claim.
    package var roles: [String]
    /// May use the HTTP API (topics are still governed by `permissions`).
    package var isAdmin: Bool
    /// Topics this client may publish to and subscribe to.
    package var permissions: TopicPermissions
    /// When the credentials stop being valid (JWT `exp`), in seconds since the Unix epoch.
    package var expiresAt: Double?
    /// Record collections' rules do not apply to this client: an anonymous client of a server with no
    /// credentials configured at all (no users, tokens or JWT keys), where there is nobody to tell apart
    /// (docs/records.md, "Access rules per caller").
    package var seesEveryRecord: Bool
    /// The token's claims when a JWT identified the client (`@request.auth.<claim>` to record rules).
    package var claims: JSONValue = .object([])

    package init(
        userID: String?, roles: [String] = [], isAdmin: Bool = false, permissions: TopicPermissions = .unrestricted,
        expiresAt: Double? = nil, seesEveryRecord: Bool = false
    ) {
        self.userID = userID
        self.roles = roles
        self.isAdmin = isAdmin
        self.permissions = permissions
        self.expiresAt = expiresAt
        self.seesEveryRecord = seesEveryRecord
    }

    /// An anonymous client with no restriction (the default server, no security configured).
    package static let anonymous = ClientIdentity(userID: nil, seesEveryRecord: true)

    /// Whether this is an anonymous client.
    package var isAnonymous: Bool { userID == nil }

    /// `@request.auth` for record collections' rules: `{"id","roles","admin",…}` — with a JWT, its other
    /// claims too (`email`, `team`, …; the three names above are the server's); `id` "" for a guest.
    package var recordAuth: JSONValue {
        guard let userID else { return RecordViewer.guest.auth }
        let own: [JSONField] = [
            JSONField(key: "id", value: .string(userID)),
            JSONField(key: "roles", value: .array(roles.map { .string($0) })),
            JSONField(key: "admin", value: .bool(isAdmin)),
        ]
        guard case .object(let fields) = claims, !fields.isEmpty else { return .object(own) }
        return .object(own + fields.filter { !["id", "roles", "admin"].contains($0.key) })
    }

    /// The subscription options every frontend gives the bus for this client: its read ACL, and — unless
    /// it is an admin — who it is to record collections' view rules, so a change event reaches it only
    /// when it may view the record (docs/records.md).
    package func subscriptionOptions(noLocal: Bool = false, maxQoS: UInt8 = 0, identifier: Int? = nil)
        -> SubscriptionOptions
    {
        var options = SubscriptionOptions(
            noLocal: noLocal, maxQoS: maxQoS, identifier: identifier, readACL: permissions.readACL,
            viewer: isAdmin || seesEveryRecord ? nil : RecordViewer(auth: recordAuth))
        options.sessions = permissions.sessions
        return options
    }
}

/// The result of checking a client's credentials.
package enum AuthOutcome: Sendable, Equatable {
    /// Accepted: anonymous (no credentials, anonymous access on) or a known user.
    case accepted(ClientIdentity)
    /// Refused, with the reason the client is told (never which part was wrong).
    case refused(String)

    /// The identity, when accepted.
    package var identity: ClientIdentity? {
        if case .accepted(let identity) = self { return identity }
        return nil
    }
}

/// Checks credentials for every protocol alike (one identity model, DESIGN.md §6).
package protocol Authenticator: Sendable {
    /// Whether a client without credentials is accepted (as an anonymous identity).
    var allowsAnonymous: Bool { get }
    /// Whether anything beyond anonymous access is configured (users, tokens, JWT keys): then the HTTP
    /// API wants an API key or an admin user.
    var isSecured: Bool { get }
    /// Whether clients may prove who they are by signing a server challenge (NATS NKeys and user JWTs):
    /// then a protocol that has challenges sends one (NATS INFO's `nonce`).
    var issuesChallenges: Bool { get }
    /// Checks what the client presented. Synchronous and fast once `prepare` has completed for the same
    /// credentials (JWT keys are resolved at startup); without `prepare`, a password check may hash.
    func authenticate(_ credentials: ClientCredentials) -> AuthOutcome
    /// Does the slow part of checking `credentials` (a password hash) off the event loop: nil when
    /// `authenticate` can answer at once, else a future that completes on `loop` when it can. Frontends
    /// call it before `authenticate` and hold the client's input meanwhile, so a password check never
    /// stalls the other connections of a loop.
    func prepare(_ credentials: ClientCredentials, on loop: any EventLoop) -> EventLoopFuture<Void>?
    /// The identity of the configured user `name` without checking a password, for a protocol whose
    /// settings name a user that clients without credentials become (NATS `no_auth_user`); nil when
    /// there is no such user.
    func identity(ofUser name: String, clientID: String?) -> ClientIdentity?
}

extension Authenticator {
    package var isSecured: Bool { !allowsAnonymous }

    /// No challenge-signing credentials configured.
    package var issuesChallenges: Bool { false }

    /// Nothing slow to prepare.
    package func prepare(_ credentials: ClientCredentials, on loop: any EventLoop) -> EventLoopFuture<Void>? {
        nil
    }

    /// No configured users.
    package func identity(ofUser name: String, clientID: String?) -> ClientIdentity? { nil }

    /// `prepare`, as a future that is always there (for code that chains futures anyway).
    package func prepared(_ credentials: ClientCredentials, on loop: any EventLoop) -> EventLoopFuture<Void> {
        prepare(credentials, on: loop) ?? loop.makeSucceededVoidFuture()
    }

    /// A bearer token alone (native `connect`, `Authorization: Bearer`, `?token=`).
    package func authenticate(token: String?, clientID: String? = nil) -> AuthOutcome {
        authenticate(ClientCredentials(token: token, clientID: clientID))
    }
}

/// Static bearer tokens from the config file, each naming its user, no permission rules. Kept for
/// tests and embedders; the server uses `SecurityKit.SwitchboardAuthenticator`.
package struct StaticTokenAuthenticator: Authenticator {
    package let allowsAnonymous: Bool
    /// Static tokens name no admin, so they leave the HTTP API to `api_key` (as before issue 8).
    package var isSecured: Bool { false }
    private let tokens: [String: String]

    package init(allowsAnonymous: Bool, tokens: [String: String]) {
        self.allowsAnonymous = allowsAnonymous
        self.tokens = tokens
    }

    package func authenticate(_ credentials: ClientCredentials) -> AuthOutcome {
        guard let token = credentials.token ?? credentials.password else {
            guard allowsAnonymous else { return .refused("a token is required") }
            return .accepted(tokens.isEmpty ? .anonymous : ClientIdentity(userID: nil))
        }
        guard let user = tokens[token] else { return .refused("invalid token") }
        return .accepted(ClientIdentity(userID: user))
    }
}

/// What a connection does when its outbound buffer is full.
package enum SlowConsumerPolicy: String, Sendable {
    /// Drop the message for that connection (at-most-once) and count it.
    case drop
    /// Close the connection with a stated reason and count it.
    case disconnect
}
