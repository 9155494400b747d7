import BusCore
import Foundation

/// NATS decentralised auth as nats-server runs it in operator mode with `resolver: MEMORY`: trusted
/// operator keys (`trusted_keys`, and each `operator` JWT's subject and signing keys), the account JWTs
/// they signed (`resolver_preload`, checked once at start-up), and per connection a user JWT signed by
/// one of those accounts (or an account signing key, with `issuer_account`) plus the user's signature of
/// the server's nonce.
package struct NATSOperatorTrust: Sendable {
    /// An account JWT that a trusted operator signed.
    struct Account: Sendable {
        var key: String
        var expiresAt: Double?
        /// The account's own key and its signing keys: who may issue its users.
        var issuers: Set<String>
    }

    /// What a verified user JWT grants.
    package struct User: Sendable, Equatable {
        /// The user's public NKey (`sub`): the connection's user id.
        package var publicKey: String
        package var name: String?
        package var account: String
        package var expiresAt: Double?
        /// Bus-form filters (`nats.pub.allow` → `publish`; the deny lists become ordered deny rules).
        package var rules: PermissionTemplate
    }

    let trustedKeys: Set<String>
    let accounts: [String: Account]

    /// Checks the configured operators, keys and accounts; nil when none is configured.
    package init?(
        operators: [String], trustedKeys: [String], accounts preload: [String: String],
        now: Double = Date().timeIntervalSince1970
    ) throws(SecurityConfigurationError) {
        guard !operators.isEmpty || !trustedKeys.isEmpty else {
            if !preload.isEmpty {
                throw SecurityConfigurationError(
                    "security.resolver_preload needs security.trusted_operators or security.trusted_keys")
            }
            return nil
        }
        var trusted: Set<String> = []
        for (index, key) in trustedKeys.enumerated() {
            guard (try? NKey(publicKey: key, kind: .operator)) != nil else {
                throw SecurityConfigurationError("security.trusted_keys[\(index)] is not an operator public key (O…)")
            }
            trusted.insert(key)
        }
        for (index, text) in operators.enumerated() {
            let context = "security.trusted_operators[\(index)]"
            let token = try Self.readJWT(text, context: context)
            let jwt: NATSJWT
            do { jwt = try NATSJWT(verifying: token) } catch {
                throw SecurityConfigurationError("\(context): \(error)")
            }
            guard jwt.type == "operator", jwt.subject.kind == .operator,
                jwt.issuer == jwt.subject || jwt.signingKeys.contains(jwt.issuer.text)
            else { throw SecurityConfigurationError("\(context): not a self-signed NATS operator JWT") }
            trusted.insert(jwt.subject.text)
            trusted.formUnion(jwt.signingKeys)
        }
        var accounts: [String: Account] = [:]
        for (key, text) in preload.sorted(by: { $0.key < $1.key }) {
            let context = "security.resolver_preload.\(key)"
            let token = try Self.readJWT(text, context: context)
            let jwt: NATSJWT
            do { jwt = try NATSJWT(verifying: token) } catch {
                throw SecurityConfigurationError("\(context): \(error)")
            }
            guard jwt.type == "account", jwt.subject.kind == .account, jwt.subject.text == key else {
                throw SecurityConfigurationError("\(context): not the account JWT of \(key)")
            }
            guard trusted.contains(jwt.issuer.text) else {
                throw SecurityConfigurationError("\(context): signed by \(jwt.issuer.text), not a trusted operator")
            }
            if let exp = jwt.expiresAt, exp > 0, exp <= now {
                throw SecurityConfigurationError("\(context): the account JWT has expired")
            }
            accounts[key] = Account(
                key: key, expiresAt: jwt.expiresAt, issuers: Set([key] + jwt.signingKeys))
        }
        self.trustedKeys = trusted
        self.accounts = accounts
    }

    /// A JWT given inline, or the path of a file holding one (`.jwt`, or a `.creds`-style file whose
    /// first JWT block is the one).
    static func readJWT(_ text: String, context: String) throws(SecurityConfigurationError) -> String {
        if text.hasPrefix("eyJ") { return text }
        guard let contents = try? String(contentsOfFile: text, encoding: .utf8) else {
            throw SecurityConfigurationError("\(context): neither a JWT nor a readable file")
        }
        for line in contents.split(whereSeparator: \.isNewline) {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.hasPrefix("eyJ") { return trimmed }
        }
        throw SecurityConfigurationError("\(context): \(text) holds no JWT")
    }

    /// Checks a user JWT and the challenge it came with, at `now`.
    package func verifyUser(_ token: String, challenge: SignedChallengeProof?, now: Double)
        throws(NATSJWT.Refusal) -> User
    {
        let jwt = try NATSJWT(verifying: token)
        guard jwt.type == "user", jwt.subject.kind == .user else { throw .wrongType(expected: "user") }
        guard jwt.issuer.kind == .account else { throw .untrustedIssuer }
        let accountKey = jwt.issuerAccount ?? jwt.issuer.text
        guard let account = accounts[accountKey] else { throw .unknownAccount }
        // [nats-server auth.go] a user issued by a signing key must name its account, and that account
        // must list the key.
        guard account.issuers.contains(jwt.issuer.text) else { throw .untrustedIssuer }
        if let exp = account.expiresAt, exp > 0, now >= exp { throw .expired }
        try jwt.checkValidity(now: now)
        if !jwt.isBearer {
            guard let challenge, let signature = challenge.signature else { throw .missingSignature }
            guard jwt.subject.isValidSignature(signature, for: Array(challenge.nonce.utf8)) else {
                throw .badChallengeSignature
            }
        }
        return User(
            publicKey: jwt.subject.text, name: jwt.name, account: accountKey, expiresAt: jwt.expiresAt,
            rules: try Self.rules(publish: jwt.publish, subscribe: jwt.subscribe))
    }

    /// nats-server's permissions → ours: an allow list restricts the direction to it (empty or absent:
    /// no restriction, as nats-server), every deny is an ordered deny rule asked first (deny wins).
    static func rules(publish: NATSJWT.SubjectPermission?, subscribe: NATSJWT.SubjectPermission?)
        throws(NATSJWT.Refusal) -> PermissionTemplate
    {
        func filters(_ subjects: [String]?) throws(NATSJWT.Refusal) -> [String]? {
            guard let subjects, !subjects.isEmpty else { return nil }
            var result: [String] = []
            for subject in subjects {
                guard let filter = try? NATSSubjectMapping.filterText(forSubject: subject) else {
                    throw .invalidPermission(subject)
                }
                result.append(filter)
            }
            return result
        }
        var acl: [SecuritySettings.ACLEntry] = []
        if let deny = try filters(publish?.deny) {
            acl.append(SecuritySettings.ACLEntry(permission: "deny", action: "publish", topics: deny))
        }
        if let deny = try filters(subscribe?.deny) {
            acl.append(SecuritySettings.ACLEntry(permission: "deny", action: "subscribe", topics: deny))
        }
        return PermissionTemplate(
            publish: try filters(publish?.allow), subscribe: try filters(subscribe?.allow), acl: acl)
    }
}

/// The signature part of a challenge answer, decoded.
package struct SignedChallengeProof: Sendable, Equatable {
    package var nonce: String
    /// 64 bytes, or nil when the client sent none or it was not base64.
    package var signature: [UInt8]?

    package init(nonce: String, signature: [UInt8]?) {
        self.nonce = nonce
        self.signature = signature
    }
}
