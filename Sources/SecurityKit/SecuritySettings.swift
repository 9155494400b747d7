/// The `security` section of the config file (docs/security.md, docs/operations.md). Decoded as is;
/// `SwitchboardAuthenticator.make` checks it and turns it into something that answers per connection.
package struct SecuritySettings: Sendable, Decodable, Equatable {
    /// Publish and subscribe filters; `{user}` and `{client}` are replaced per connection.
    package struct Rules: Sendable, Decodable, Equatable {
        package var publish: [String]?
        package var subscribe: [String]?
        package var acl: [ACLEntry]?
        /// Virtual host → configure/write/read expressions for the queue broker (RabbitMQ's permissions).
        package var vhosts: [String: VirtualHostRule]?

        package init(
            publish: [String]? = nil, subscribe: [String]? = nil, acl: [ACLEntry]? = nil,
            vhosts: [String: VirtualHostRule]? = nil
        ) {
            self.publish = publish
            self.subscribe = subscribe
            self.acl = acl
            self.vhosts = vhosts
        }
    }

    /// RabbitMQ's permissions in one virtual host: regular expressions over exchange and queue names,
    /// searched unanchored; a missing or empty one allows nothing (`ResourcePermissions`). `{user}` is
    /// replaced by the user name, its metacharacters escaped.
    package struct VirtualHostRule: Sendable, Codable, Equatable {
        package var configure: String?
        package var write: String?
        package var read: String?

        package init(configure: String? = nil, write: String? = nil, read: String? = nil) {
            self.configure = configure
            self.write = write
            self.read = read
        }
    }

    /// One ordered allow/deny rule (EMQX's ACL): `{"permission": "deny", "action": "subscribe",
    /// "topics": ["admin/#"]}`. The first rule that matches decides; what none decides falls through to
    /// the `publish` / `subscribe` lists.
    package struct ACLEntry: Sendable, Decodable, Equatable {
        /// `allow` or `deny`.
        package var permission: String
        /// `publish`, `subscribe` or `all`.
        package var action: String
        package var topics: [String]

        package init(permission: String, action: String, topics: [String]) {
            self.permission = permission
            self.action = action
            self.topics = topics
        }
    }

    /// A static user: name, PBKDF2 hash (`switchboard hash-password`) and/or a NATS user NKey, roles and
    /// own rules.
    package struct User: Sendable, Decodable, Equatable {
        package var name: String
        /// The password's hash; nil for a user that signs in with `nkey` only.
        package var password_hash: String?
        /// A NATS user public NKey (`U…`): NATS clients holding its seed sign INFO's nonce with it
        /// (nats-server's `nkey` users).
        package var nkey: String?
        package var roles: [String]?
        package var admin: Bool?
        package var publish: [String]?
        package var subscribe: [String]?
        package var acl: [ACLEntry]?
        package var vhosts: [String: VirtualHostRule]?

        package init(
            name: String, password_hash: String? = nil, nkey: String? = nil, roles: [String]? = nil,
            admin: Bool? = nil, publish: [String]? = nil, subscribe: [String]? = nil, acl: [ACLEntry]? = nil,
            vhosts: [String: VirtualHostRule]? = nil
        ) {
            self.vhosts = vhosts
            self.name = name
            self.password_hash = password_hash
            self.nkey = nkey
            self.roles = roles
            self.admin = admin
            self.publish = publish
            self.subscribe = subscribe
            self.acl = acl
        }
    }

    /// A role: rules shared by the users (and token subjects) that have it.
    package struct Role: Sendable, Decodable, Equatable {
        package var admin: Bool?
        package var publish: [String]?
        package var subscribe: [String]?
        package var acl: [ACLEntry]?
        package var vhosts: [String: VirtualHostRule]?

        package init(
            admin: Bool? = nil, publish: [String]? = nil, subscribe: [String]? = nil, acl: [ACLEntry]? = nil,
            vhosts: [String: VirtualHostRule]? = nil
        ) {
            self.vhosts = vhosts
            self.admin = admin
            self.publish = publish
            self.subscribe = subscribe
            self.acl = acl
        }
    }

    /// One JWT verification key.
    package struct JWTKey: Sendable, Decodable, Equatable {
        /// HS256, HS384, HS512, RS256 or ES256.
        package var alg: String
        /// Key id; a token whose header names a `kid` is checked with that key only.
        package var kid: String?
        /// The HMAC secret (HS*), as text.
        package var secret: String?
        /// A PEM file with the public key (RS256, ES256) or a certificate holding it.
        package var public_key_file: String?
        /// The PEM text itself, instead of a file.
        package var public_key: String?

        package init(
            alg: String, kid: String? = nil, secret: String? = nil, public_key_file: String? = nil,
            public_key: String? = nil
        ) {
            self.alg = alg
            self.kid = kid
            self.secret = secret
            self.public_key_file = public_key_file
            self.public_key = public_key
        }
    }

    /// JWT verification (jwt-kit).
    package struct JWT: Sendable, Decodable, Equatable {
        package var keys: [JWTKey]?
        /// A JWKS file (RFC 7517 §5) with more keys, e.g. downloaded from the identity provider.
        package var jwks_file: String?
        /// Required `iss`, when set.
        package var issuer: String?
        /// Required member of `aud`, when set.
        package var audience: String?
        /// Clock skew allowed on `exp` and `nbf`, in seconds (default 0).
        package var leeway_seconds: Double?
        /// The claim holding the token's grants: `{"pub": [...], "sub": [...], "roles": [...],
        /// "admin": bool}` (default `switchboard`).
        package var claim: String?

        package init(
            keys: [JWTKey]? = nil, jwks_file: String? = nil, issuer: String? = nil, audience: String? = nil,
            leeway_seconds: Double? = nil, claim: String? = nil
        ) {
            self.keys = keys
            self.jwks_file = jwks_file
            self.issuer = issuer
            self.audience = audience
            self.leeway_seconds = leeway_seconds
            self.claim = claim
        }
    }

    package var users: [User]?
    package var roles: [String: Role]?
    /// What anonymous clients may do (when anonymous access is on); unrestricted when absent.
    package var anonymous_permissions: Rules?
    /// Rules for users and token subjects in addition to their own and their roles'.
    package var default_permissions: Rules?
    package var jwt: JWT?
    /// NATS decentralised auth (nats-server's `operator`): operator JWTs, inline or as file paths, whose
    /// subject and signing keys are trusted to sign accounts.
    package var trusted_operators: [String]?
    /// NATS decentralised auth (nats-server's `trusted_keys`): operator public keys (`O…`).
    package var trusted_keys: [String]?
    /// NATS decentralised auth (nats-server's `resolver: MEMORY` + `resolver_preload`): account public key
    /// → account JWT (inline or a file path), signed by a trusted operator key.
    package var resolver_preload: [String: String]?

    package init(
        users: [User]? = nil, roles: [String: Role]? = nil, anonymous_permissions: Rules? = nil,
        default_permissions: Rules? = nil, jwt: JWT? = nil, trusted_operators: [String]? = nil,
        trusted_keys: [String]? = nil, resolver_preload: [String: String]? = nil
    ) {
        self.users = users
        self.roles = roles
        self.anonymous_permissions = anonymous_permissions
        self.default_permissions = default_permissions
        self.jwt = jwt
        self.trusted_operators = trusted_operators
        self.trusted_keys = trusted_keys
        self.resolver_preload = resolver_preload
    }

    /// Whether any kind of credential is configured (users, JWT keys, NATS operators).
    package var hasCredentials: Bool {
        !(users ?? []).isEmpty || !(jwt?.keys ?? []).isEmpty || jwt?.jwks_file != nil
            || !(trusted_operators ?? []).isEmpty || !(trusted_keys ?? []).isEmpty
    }
}
