import BusCore
import Crypto
import Dispatch
import Foundation
package import FrontendKit
package import NIOCore
import Synchronization

/// The server's one authenticator (DESIGN.md §6): static users with PBKDF2 hashes or NATS NKeys, the
/// legacy static tokens, JWTs (this server's, and NATS user JWTs under trusted operators), client
/// certificates and anonymous access, each resolved into a `ClientIdentity` with
/// its topic permissions. Every protocol calls `authenticate` with what its wire carried.
package final class SwitchboardAuthenticator: Authenticator {
    struct StaticUser: Sendable {
        /// nil: the user signs in with an NKey only.
        var hash: PasswordHash?
        var roles: [String]
        var admin: Bool
        var rules: PermissionTemplate
    }

    struct Role: Sendable {
        var admin: Bool
        var rules: PermissionTemplate
    }

    package let allowsAnonymous: Bool
    package let isSecured: Bool
    private let users: [String: StaticUser]
    private let roles: [String: Role]
    private let tokens: [String: String]
    private let anonymousRules: PermissionTemplate
    private let defaultRules: PermissionTemplate
    private let jwt: JWTVerifier?
    /// NATS user public NKey → user name.
    private let nkeyUsers: [String: String]
    /// NATS decentralised auth: trusted operators and the accounts they signed.
    private let operatorTrust: NATSOperatorTrust?
    private let clock: @Sendable () -> Double
    /// user → SHA-256 of (salt, password) after a successful PBKDF2 check: the slow hash is paid once
    /// per user per server run, not on every reconnect (it would stall the event loop that reads it).
    private let verified = Mutex<[String: SHA256Digest]>([:])
    /// SHA-256 of (user name, salt, password) for passwords a PBKDF2 check refused (bounded; cleared when
    /// full): `prepare` pays the hash off the loop, `authenticate` then answers from here.
    private let refusedDigests = Mutex<Set<SHA256Digest>>([])
    private static let refusedDigestsKept = 10_000
    /// One thread for password hashing: a flood of wrong passwords queues here, not on the event loops.
    private let hashing = DispatchQueue(label: "switchboard.password-hashing")
    /// The slowest stored hash: an unknown user name is checked against it too, so a refusal takes as
    /// long whether or not the name exists (no user enumeration by timing).
    private let decoyHash: PasswordHash?

    /// Checks `settings` and prepares the JWT keys (the only asynchronous step, done at startup).
    package static func make(
        settings: SecuritySettings, anonymous: Bool, tokens: [String: String] = [:],
        clock: @escaping @Sendable () -> Double = { Date().timeIntervalSince1970 }
    ) async throws -> SwitchboardAuthenticator {
        var jwt: JWTVerifier?
        if let settings = settings.jwt { jwt = try await JWTVerifier.make(settings) }
        return try SwitchboardAuthenticator(
            settings: settings, anonymous: anonymous, tokens: tokens, jwt: jwt, clock: clock)
    }

    /// Without JWT keys (`settings.jwt` must be nil): for callers that cannot wait.
    package init(
        settings: SecuritySettings, anonymous: Bool, tokens: [String: String] = [:], jwt: JWTVerifier? = nil,
        clock: @escaping @Sendable () -> Double = { Date().timeIntervalSince1970 }
    ) throws {
        if settings.jwt != nil && jwt == nil {
            throw SecurityConfigurationError("security.jwt needs SwitchboardAuthenticator.make")
        }
        var roles: [String: Role] = [:]
        for (name, role) in settings.roles ?? [:] {
            let rules = PermissionTemplate(
                publish: role.publish, subscribe: role.subscribe, acl: role.acl, vhosts: role.vhosts)
            try rules.validate(context: "security.roles.\(name)")
            roles[name] = Role(admin: role.admin ?? false, rules: rules)
        }
        var users: [String: StaticUser] = [:]
        var nkeyUsers: [String: String] = [:]
        for (index, user) in (settings.users ?? []).enumerated() {
            let context = "security.users[\(index)] (\(user.name))"
            guard !user.name.isEmpty, users[user.name] == nil else {
                throw SecurityConfigurationError("\(context): user names must be non-empty and unique")
            }
            guard user.password_hash != nil || user.nkey != nil else {
                throw SecurityConfigurationError("\(context): needs a password_hash or an nkey")
            }
            var hash: PasswordHash?
            if let text = user.password_hash {
                guard let parsed = PasswordHash(parsing: text) else {
                    throw SecurityConfigurationError(
                        "\(context): password_hash is not a \(PasswordHash.prefix) hash (make one with `switchboard hash-password`)"
                    )
                }
                hash = parsed
            }
            if let nkey = user.nkey {
                guard (try? NKey(publicKey: nkey, kind: .user)) != nil else {
                    throw SecurityConfigurationError("\(context): nkey is not a NATS user public key (U…)")
                }
                guard nkeyUsers[nkey] == nil else {
                    throw SecurityConfigurationError("\(context): nkey is already another user's")
                }
                nkeyUsers[nkey] = user.name
            }
            for role in user.roles ?? [] where roles[role] == nil {
                throw SecurityConfigurationError("\(context): unknown role \"\(role)\"")
            }
            let rules = PermissionTemplate(
                publish: user.publish, subscribe: user.subscribe, acl: user.acl, vhosts: user.vhosts)
            try rules.validate(context: context)
            users[user.name] = StaticUser(
                hash: hash, roles: user.roles ?? [], admin: user.admin ?? false, rules: rules)
        }
        let anonymousRules = PermissionTemplate(
            publish: settings.anonymous_permissions?.publish, subscribe: settings.anonymous_permissions?.subscribe,
            acl: settings.anonymous_permissions?.acl, vhosts: settings.anonymous_permissions?.vhosts)
        try anonymousRules.validate(context: "security.anonymous_permissions")
        let defaultRules = PermissionTemplate(
            publish: settings.default_permissions?.publish, subscribe: settings.default_permissions?.subscribe,
            acl: settings.default_permissions?.acl, vhosts: settings.default_permissions?.vhosts)
        try defaultRules.validate(context: "security.default_permissions")
        let operatorTrust = try NATSOperatorTrust(
            operators: settings.trusted_operators ?? [], trustedKeys: settings.trusted_keys ?? [],
            accounts: settings.resolver_preload ?? [:], now: clock())
        self.decoyHash = users.values.compactMap(\.hash).max { $0.rounds < $1.rounds }
        self.allowsAnonymous = anonymous
        self.isSecured = !users.isEmpty || jwt != nil || operatorTrust != nil
        self.nkeyUsers = nkeyUsers
        self.operatorTrust = operatorTrust
        self.users = users
        self.roles = roles
        self.tokens = tokens
        self.anonymousRules = anonymousRules
        self.defaultRules = defaultRules
        self.jwt = jwt
        self.clock = clock
    }

    package var issuesChallenges: Bool { !nkeyUsers.isEmpty || operatorTrust != nil }

    package func authenticate(_ credentials: ClientCredentials) -> AuthOutcome {
        let client = credentials.clientID
        // NATS decentralised auth: a user JWT (its header says ed25519) with the nonce signed by its user.
        if let token = credentials.token ?? (credentials.username == nil ? credentials.password : nil),
            NATSJWT.isNATSToken(token)
        {
            return authenticateNATSUser(token, credentials.challenge, client: client)
        }
        // A NATS NKey user: the nonce signed with the key's seed.
        if let challenge = credentials.challenge, let key = challenge.publicKey {
            return authenticateNKey(key, challenge, client: client)
        }
        if let name = credentials.username, let user = users[name] {
            guard let password = credentials.password, checkPassword(password, of: name, user) else {
                return .refused("bad user name or password")
            }
            return .accepted(
                identity(user: name, roles: user.roles, admin: user.admin, own: user.rules, client: client))
        }
        // No static user by that name: a password is taken as a token (MQTT and NATS carry JWTs there).
        if let token = credentials.token ?? credentials.password {
            if let user = tokens[token] {
                return .accepted(
                    identity(user: user, roles: [], admin: false, own: PermissionTemplate(), client: client))
            }
            guard let jwt else {
                return refuseUnknown(credentials, reason: "invalid token")
            }
            switch jwt.verify(token, now: clock()) {
            case .failure(let refusal):
                return refuseUnknown(credentials, reason: refusal.description)
            case .success(let claims):
                let known = claims.roles.filter { roles[$0] != nil }
                var identity = identity(
                    user: claims.subject, roles: known, admin: claims.admin,
                    own: PermissionTemplate(
                        publish: claims.publish, subscribe: claims.subscribe, vhosts: claims.vhosts),
                    client: client)
                identity.expiresAt = claims.expiresAt
                identity.claims = claims.all
                return .accepted(identity)
            }
        }
        if credentials.username != nil { return .refused("bad user name or password") }
        if let subject = credentials.certificateSubject {
            // mTLS: the TLS layer verified the certificate; its subject is the user (with that static
            // user's rules and roles when one has that name).
            let user = users[subject]
            return .accepted(
                identity(
                    user: subject, roles: user?.roles ?? [], admin: user?.admin ?? false,
                    own: user?.rules ?? PermissionTemplate(), client: client))
        }
        guard allowsAnonymous else { return .refused("credentials are required") }
        return .accepted(
            ClientIdentity(
                userID: nil, permissions: anonymousRules.resolve(user: nil, client: client),
                seesEveryRecord: !isSecured && tokens.isEmpty))
    }

    private func authenticateNKey(_ key: String, _ challenge: SignedChallenge, client: String?) -> AuthOutcome {
        guard let name = nkeyUsers[key], let user = users[name], let nkey = try? NKey(publicKey: key, kind: .user)
        else { return .refused("unknown nkey") }
        guard let text = challenge.signature, let signature = LenientBase64.decode(text),
            nkey.isValidSignature(signature, for: Array(challenge.nonce.utf8))
        else { return .refused("invalid nonce signature") }
        return .accepted(identity(user: name, roles: user.roles, admin: user.admin, own: user.rules, client: client))
    }

    private func authenticateNATSUser(_ token: String, _ challenge: SignedChallenge?, client: String?) -> AuthOutcome {
        guard let operatorTrust else { return .refused("token signed with an unknown key or algorithm") }
        let proof = challenge.map {
            SignedChallengeProof(nonce: $0.nonce, signature: $0.signature.flatMap { LenientBase64.decode($0) })
        }
        do throws(NATSJWT.Refusal) {
            let user = try operatorTrust.verifyUser(token, challenge: proof, now: clock())
            var identity = identity(user: user.publicKey, roles: [], admin: false, own: user.rules, client: client)
            identity.expiresAt = user.expiresAt.flatMap { $0 > 0 ? $0 : nil }
            return .accepted(identity)
        } catch {
            return .refused(error.description)
        }
    }

    package func identity(ofUser name: String, clientID: String?) -> ClientIdentity? {
        guard let user = users[name] else { return nil }
        return identity(user: name, roles: user.roles, admin: user.admin, own: user.rules, client: clientID)
    }

    /// A user name that is no static user, with a password that is no valid token: as slow as a wrong
    /// password for a real user, and told the same.
    private func refuseUnknown(_ credentials: ClientCredentials, reason: String) -> AuthOutcome {
        guard credentials.username != nil, credentials.token == nil, let password = credentials.password,
            password.split(separator: ".", omittingEmptySubsequences: false).count != 3
        else {
            // No user name, or a JWT-shaped password: the token's own refusal says what to fix.
            return .refused(reason)
        }
        if let decoy = decoyHash,
            let name = credentials.username,
            !refusedDigests.withLock({ $0.contains(Self.digest(name: name, salt: decoy.salt, password: password)) })
        {
            _ = decoy.verify(password)
        }
        return .refused("bad user name or password")
    }

    private func identity(user: String, roles names: [String], admin: Bool, own: PermissionTemplate, client: String?)
        -> ClientIdentity
    {
        let granted = names.compactMap { roles[$0] }
        // ACL rules are asked in this order: the user's own, its roles', then the defaults.
        let rules = PermissionTemplate.union([own] + granted.map(\.rules) + [defaultRules])
        return ClientIdentity(
            userID: user, roles: names, isAdmin: admin || granted.contains { $0.admin },
            permissions: rules.resolve(user: user, client: client))
    }

    private func checkPassword(_ password: String, of name: String, _ user: StaticUser) -> Bool {
        guard let hash = user.hash else { return false }  // an NKey-only user has no password
        let quick = Self.digest(name: nil, salt: hash.salt, password: password)
        if verified.withLock({ $0[name] }) == quick { return true }
        let refusedKey = Self.digest(name: name, salt: hash.salt, password: password)
        if refusedDigests.withLock({ $0.contains(refusedKey) }) { return false }
        guard hash.verify(password) else {
            rememberRefused(refusedKey)
            return false
        }
        verified.withLock { $0[name] = quick }
        return true
    }

    /// The PBKDF2 check these credentials would need now (not answered by a cache), if any.
    private func pendingHash(_ credentials: ClientCredentials) -> (() -> Void)? {
        guard let name = credentials.username, let password = credentials.password else { return nil }
        if let user = users[name] {
            guard let hash = user.hash else { return nil }
            let quick = Self.digest(name: nil, salt: hash.salt, password: password)
            if verified.withLock({ $0[name] }) == quick { return nil }
            let refusedKey = Self.digest(name: name, salt: hash.salt, password: password)
            if refusedDigests.withLock({ $0.contains(refusedKey) }) { return nil }
            return { _ = self.checkPassword(password, of: name, user) }
        }
        // An unknown name pays the decoy hash (see refuseUnknown) unless the password is a token.
        guard let decoy = decoyHash, credentials.token == nil,
            password.split(separator: ".", omittingEmptySubsequences: false).count != 3, tokens[password] == nil
        else { return nil }
        let refusedKey = Self.digest(name: name, salt: decoy.salt, password: password)
        if refusedDigests.withLock({ $0.contains(refusedKey) }) { return nil }
        return {
            _ = decoy.verify(password)
            self.rememberRefused(refusedKey)
        }
    }

    package func prepare(_ credentials: ClientCredentials, on loop: any EventLoop) -> EventLoopFuture<Void>? {
        guard let hash = pendingHash(credentials) else { return nil }
        let promise = loop.makePromise(of: Void.self)
        let work = UncheckedSendable(hash)
        hashing.async {
            work.value()
            promise.succeed(())
        }
        return promise.futureResult
    }

    private func rememberRefused(_ key: SHA256Digest) {
        refusedDigests.withLock { refused in
            if refused.count >= Self.refusedDigestsKept { refused.removeAll(keepingCapacity: true) }
            refused.insert(key)
        }
    }

    private static func digest(name: String?, salt: [UInt8], password: String) -> SHA256Digest {
        var hasher = SHA256()
        if let name {
            hasher.update(data: Array(name.utf8))
            hasher.update(data: [0])
        }
        hasher.update(data: salt)
        hasher.update(data: Array(password.utf8))
        return hasher.finalize()
    }
}

/// Moves a closure that touches only thread-safe state (locks, the hash) onto the hashing queue.
private struct UncheckedSendable<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}
