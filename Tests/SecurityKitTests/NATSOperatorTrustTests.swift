import BusCore
import Crypto
import Foundation
import FrontendKit
import Testing

@testable import SecurityKit

/// NATS decentralised auth: operator → account → user JWTs, nonce signatures, expiry, forgeries, and the
/// `nats.pub`/`nats.sub` claims as bus permissions.
@Suite struct NATSOperatorTrustTests {
    /// Made by the reference Python `nkeys` package (0.2.1) with the seeds of `NKeyTests.vectors`
    /// (operator signs account, account signs user; JSON claims, base64url, ed25519 over `header.payload`).
    enum Golden {
        static let operatorJWT =
            "eyJ0eXAiOiJKV1QiLCJhbGciOiJlZDI1NTE5LW5rZXkifQ.eyJqdGkiOiJPUCIsImlhdCI6MTcwMDAwMDAwMCwiaXNzIjoiT0FETklaNkI0TlVTNVk2VEVLWU9YSldSWUZMSkFMMk81QjNXTjdGU1NBVjRGVk5JNzRJNlJFS00iLCJzdWIiOiJPQUROSVo2QjROVVM1WTZURUtZT1hKV1JZRkxKQUwyTzVCM1dON0ZTU0FWNEZWTkk3NEk2UkVLTSIsIm5hbWUiOiJvcCIsIm5hdHMiOnsidHlwZSI6Im9wZXJhdG9yIiwidmVyc2lvbiI6Mn19.37Fz2X_hqJUAWR1UNlYx_17N3IzlnwVzu0RojBmo_pO8-ewMXkzqGNJQunLmgh3sUjVXksV7EJqbyondiu_JBQ"
        static let accountJWT =
            "eyJ0eXAiOiJKV1QiLCJhbGciOiJlZDI1NTE5LW5rZXkifQ.eyJqdGkiOiJBQyIsImlhdCI6MTcwMDAwMDAwMCwiaXNzIjoiT0FETklaNkI0TlVTNVk2VEVLWU9YSldSWUZMSkFMMk81QjNXTjdGU1NBVjRGVk5JNzRJNlJFS00iLCJzdWIiOiJBRFZFVTNERDRLT0ZFQ1Y2NlZJSFdFWk9ZWDRaS1IzV1YyN0w0NjRTSUlQT1UySVVJM0pDWlcyMiIsIm5hbWUiOiJhY2MiLCJuYXRzIjp7InR5cGUiOiJhY2NvdW50IiwidmVyc2lvbiI6Mn19.d9XR5Lw2LS1rXKEzEUiMSm5Bod9NPIvu4YUW2Ph1qSzOaS7gBK681b5I183FWvl3BuqO_jyo6k1TQBYf-rJPBQ"
        /// `pub: allow orders.>, _INBOX.> deny orders.secret`, `sub: allow orders.*, _INBOX.>`.
        static let userJWT =
            "eyJ0eXAiOiJKV1QiLCJhbGciOiJlZDI1NTE5LW5rZXkifQ.eyJqdGkiOiJVUyIsImlhdCI6MTcwMDAwMDAwMCwiaXNzIjoiQURWRVUzREQ0S09GRUNWNjZWSUhXRVpPWVg0WktSM1dWMjdMNDY0U0lJUE9VMklVSTNKQ1pXMjIiLCJzdWIiOiJVQUIyQ0I1NzZQSEJCUFE1T0RPUlJaMkxZQ01XUFpHV0dDTjJLREs3RFhPSU1aQVNLVVkzUkxLSyIsIm5hbWUiOiJhbGljZSIsIm5hdHMiOnsidHlwZSI6InVzZXIiLCJ2ZXJzaW9uIjoyLCJwdWIiOnsiYWxsb3ciOlsib3JkZXJzLj4iLCJfSU5CT1guPiJdLCJkZW55IjpbIm9yZGVycy5zZWNyZXQiXX0sInN1YiI6eyJhbGxvdyI6WyJvcmRlcnMuKiIsIl9JTkJPWC4-Il19fX0.sPsjBhhcKje6U5OybHBbYo2l-CYk31R1Z2xEj2OtNDmlNlNS2fne-hL04AjPFNv8iyE5bYVgaOjie6INUHVuAA"
    }

    /// Keys from the seeds of `NKeyTests.vectors`, and a JWT minter for the cases Python did not make.
    struct Keys {
        static func key(_ vector: Int) -> Curve25519.Signing.PrivateKey {
            try! Curve25519.Signing.PrivateKey(rawRepresentation: NKeyTests.vectors[vector].raw)
        }
        static let user = key(0)
        static let account = key(1)
        static let `operator` = key(2)
        static let userKey = NKeyTests.vectors[0].publicKey
        static let accountKey = NKeyTests.vectors[1].publicKey
        static let operatorKey = NKeyTests.vectors[2].publicKey
        static let other = Curve25519.Signing.PrivateKey()

        static func text(_ key: Curve25519.Signing.PrivateKey, _ kind: NKey.Kind) -> String {
            NKey(kind: kind, rawPublicKey: Array(key.publicKey.rawRepresentation)).text
        }
    }

    static func base64URL(_ bytes: some DataProtocol) -> String {
        Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }

    static func mint(
        _ claims: [String: Any], signer: Curve25519.Signing.PrivateKey, alg: String = "ed25519-nkey"
    ) -> String {
        let header = base64URL(try! JSONSerialization.data(withJSONObject: ["typ": "JWT", "alg": alg]))
        let payload = base64URL(try! JSONSerialization.data(withJSONObject: claims))
        // jwt v1 (`ed25519`) signed the payload alone.
        let signed = alg == "ed25519" ? payload : "\(header).\(payload)"
        let signature = try! signer.signature(for: Array(signed.utf8))
        return "\(header).\(payload).\(base64URL(signature))"
    }

    static func userClaims(issuer: String = Keys.accountKey, extra nats: [String: Any] = [:]) -> [String: Any] {
        [
            "jti": "X", "iat": 1_700_000_000, "iss": issuer, "sub": Keys.userKey, "name": "u",
            "nats": ["type": "user", "version": 2].merging(nats) { $1 },
        ]
    }

    static let nonce = "nonce-1234"
    static var goodSignature: String { NKeyTests.vectors[0].signature }

    static func trust(accounts: [String: String] = [Keys.accountKey: Golden.accountJWT], now: Double = 1_800_000_000)
        throws -> NATSOperatorTrust
    {
        try #require(
            try NATSOperatorTrust(
                operators: [Golden.operatorJWT], trustedKeys: [], accounts: accounts, now: now))
    }

    static func proof(_ signature: String? = goodSignature, nonce: String = nonce) -> SignedChallengeProof {
        SignedChallengeProof(nonce: nonce, signature: signature.flatMap(LenientBase64.decode))
    }

    @Test func referenceCredentialsVerifyAndMapPermissions() throws {
        #expect(NATSJWT.isNATSToken(Golden.userJWT))
        let user = try Self.trust().verifyUser(Golden.userJWT, challenge: Self.proof(), now: 1_800_000_000)
        #expect(user.publicKey == Keys.userKey)
        #expect(user.account == Keys.accountKey)
        #expect(user.name == "alice")
        #expect(user.rules.publish == ["orders/#", "_INBOX/#"])
        #expect(user.rules.subscribe == ["orders/+", "_INBOX/#"])
        let permissions = user.rules.resolve(user: user.publicKey, client: "c")
        #expect(permissions.mayPublish(try Topic("orders/eu/1")))
        #expect(!permissions.mayPublish(try Topic("orders/secret")))
        #expect(!permissions.mayPublish(try Topic("news/x")))
        #expect(permissions.maySubscribe(try TopicFilter("orders/eu")))
        #expect(!permissions.maySubscribe(try TopicFilter("orders/#")))
    }

    @Test func nonceSignatureIsRequiredAndChecked() throws {
        let trust = try Self.trust()
        #expect(throws: NATSJWT.Refusal.missingSignature) {
            try trust.verifyUser(Golden.userJWT, challenge: nil, now: 1_800_000_000)
        }
        #expect(throws: NATSJWT.Refusal.missingSignature) {
            try trust.verifyUser(Golden.userJWT, challenge: Self.proof(nil), now: 1_800_000_000)
        }
        #expect(throws: NATSJWT.Refusal.badChallengeSignature) {
            try trust.verifyUser(Golden.userJWT, challenge: Self.proof(nonce: "another"), now: 1_800_000_000)
        }
        // Padded standard base64 (what nats.py sends) is the same signature.
        let standard =
            Self.goodSignature.replacingOccurrences(of: "-", with: "+")
            .replacingOccurrences(of: "_", with: "/") + "=="
        _ = try trust.verifyUser(Golden.userJWT, challenge: Self.proof(standard), now: 1_800_000_000)
        // A bearer token needs no signature (jwt v2 `bearer_token`).
        let bearer = Self.mint(Self.userClaims(extra: ["bearer_token": true]), signer: Keys.account)
        _ = try trust.verifyUser(bearer, challenge: nil, now: 1_800_000_000)
    }

    @Test func expiredAndNotYetValidUsersAreRefused() throws {
        let trust = try Self.trust()
        var claims = Self.userClaims()
        claims["exp"] = 1_800_000_000
        let expiring = Self.mint(claims, signer: Keys.account)
        let user = try trust.verifyUser(expiring, challenge: Self.proof(), now: 1_799_999_999)
        #expect(user.expiresAt == 1_800_000_000)
        #expect(throws: NATSJWT.Refusal.expired) {
            try trust.verifyUser(expiring, challenge: Self.proof(), now: 1_800_000_000)
        }
        claims["exp"] = nil
        claims["nbf"] = 1_900_000_000
        #expect(throws: NATSJWT.Refusal.notYetValid) {
            try trust.verifyUser(Self.mint(claims, signer: Keys.account), challenge: Self.proof(), now: 1_800_000_000)
        }
    }

    @Test func forgedAndWronglyIssuedUsersAreRefused() throws {
        let trust = try Self.trust()
        // Claims changed after signing.
        let parts = Golden.userJWT.split(separator: ".").map(String.init)
        let claims = String(decoding: try #require(LenientBase64.decode(parts[1])), as: UTF8.self)
        let changed = Self.base64URL(Array(claims.replacingOccurrences(of: "alice", with: "admin").utf8))
        #expect(throws: NATSJWT.Refusal.badSignature) {
            try trust.verifyUser("\(parts[0]).\(changed).\(parts[2])", challenge: Self.proof(), now: 1_800_000_000)
        }
        // Signed by a key that claims to be the account.
        #expect(throws: NATSJWT.Refusal.badSignature) {
            try trust.verifyUser(Self.mint(Self.userClaims(), signer: Keys.other), challenge: Self.proof(), now: 1)
        }
        // Issued by an account no trusted operator signed.
        let stranger = Keys.text(Keys.other, .account)
        #expect(throws: NATSJWT.Refusal.unknownAccount) {
            try trust.verifyUser(
                Self.mint(Self.userClaims(issuer: stranger), signer: Keys.other), challenge: Self.proof(), now: 1)
        }
        // Issued by a key that names the account but is not one of its signing keys.
        #expect(throws: NATSJWT.Refusal.untrustedIssuer) {
            try trust.verifyUser(
                Self.mint(
                    Self.userClaims(issuer: stranger, extra: ["issuer_account": Keys.accountKey]), signer: Keys.other),
                challenge: Self.proof(), now: 1)
        }
        // An account JWT is not a user JWT.
        #expect(throws: NATSJWT.Refusal.wrongType(expected: "user")) {
            try trust.verifyUser(Golden.accountJWT, challenge: Self.proof(), now: 1)
        }
        #expect(throws: NATSJWT.Refusal.malformed) { try trust.verifyUser("a.b.c", challenge: nil, now: 1) }
    }

    @Test func version1TokensSignThePayloadAlone() throws {
        let trust = try Self.trust()
        let v1 = Self.mint(
            ["jti": "V1", "iat": 1, "iss": Keys.accountKey, "sub": Keys.userKey, "type": "user", "nats": ["pub": [:]]],
            signer: Keys.account, alg: "ed25519")
        #expect(try trust.verifyUser(v1, challenge: Self.proof(), now: 1).publicKey == Keys.userKey)
        // The v2 rule applied to a v1 token (header and payload signed) does not verify, and vice versa.
        let parts = v1.split(separator: ".").map(String.init)
        let v2Header = Self.base64URL(Array("{\"typ\":\"JWT\",\"alg\":\"ed25519-nkey\"}".utf8))
        #expect(throws: NATSJWT.Refusal.badSignature) {
            try trust.verifyUser("\(v2Header).\(parts[1]).\(parts[2])", challenge: Self.proof(), now: 1)
        }
    }

    @Test func anAccountSigningKeyMayIssueUsersThatNameTheAccount() throws {
        let signing = Keys.other
        let signingKey = Keys.text(signing, .account)
        let account = Self.mint(
            [
                "jti": "A2", "iat": 1, "iss": Keys.operatorKey, "sub": Keys.accountKey,
                "nats": [
                    "type": "account", "version": 2, "signing_keys": [["kind": "user_scope", "key": signingKey]],
                ],
            ],
            signer: Keys.operator)
        let trust = try Self.trust(accounts: [Keys.accountKey: account])
        let user = Self.mint(
            Self.userClaims(issuer: signingKey, extra: ["issuer_account": Keys.accountKey]), signer: signing)
        #expect(try trust.verifyUser(user, challenge: Self.proof(), now: 1).account == Keys.accountKey)
    }

    @Test func accountsMustBeSignedByATrustedOperatorAndBeTheirKeys() throws {
        // Signed by an operator that is not trusted.
        let rogueOperator = Keys.text(Keys.other, .operator)
        let rogue = Self.mint(
            ["jti": "R", "iat": 1, "iss": rogueOperator, "sub": Keys.accountKey, "nats": ["type": "account"]],
            signer: Keys.other)
        #expect(throws: SecurityConfigurationError.self) {
            try NATSOperatorTrust(operators: [Golden.operatorJWT], trustedKeys: [], accounts: [Keys.accountKey: rogue])
        }
        // Listed under another account's key.
        #expect(throws: SecurityConfigurationError.self) {
            try NATSOperatorTrust(
                operators: [Golden.operatorJWT], trustedKeys: [], accounts: [Keys.userKey: Golden.accountJWT])
        }
        // Expired.
        let expired = Self.mint(
            [
                "jti": "E", "iat": 1, "exp": 2, "iss": Keys.operatorKey, "sub": Keys.accountKey,
                "nats": ["type": "account"],
            ],
            signer: Keys.operator)
        #expect(throws: SecurityConfigurationError.self) {
            try NATSOperatorTrust(
                operators: [Golden.operatorJWT], trustedKeys: [], accounts: [Keys.accountKey: expired])
        }
        // trusted_keys alone (no operator JWT) trusts the key; a non-operator key is a mistake.
        let byKey = try #require(
            try NATSOperatorTrust(
                operators: [], trustedKeys: [Keys.operatorKey], accounts: [Keys.accountKey: Golden.accountJWT]))
        _ = try byKey.verifyUser(Golden.userJWT, challenge: Self.proof(), now: 1)
        #expect(throws: SecurityConfigurationError.self) {
            try NATSOperatorTrust(operators: [], trustedKeys: [Keys.accountKey], accounts: [:])
        }
        #expect(try NATSOperatorTrust(operators: [], trustedKeys: [], accounts: [:]) == nil)
    }

    // MARK: - Through the authenticator

    static func authenticator(clock: Double = 1_800_000_000) throws -> SwitchboardAuthenticator {
        let settings = SecuritySettings(
            users: [
                SecuritySettings.User(
                    name: "device", nkey: Keys.userKey, subscribe: ["help", "_INBOX/#"],
                    acl: [SecuritySettings.ACLEntry(permission: "deny", action: "all", topics: ["foo"])])
            ],
            trusted_operators: [Golden.operatorJWT], resolver_preload: [Keys.accountKey: Golden.accountJWT])
        return try SwitchboardAuthenticator(settings: settings, anonymous: false, clock: { clock })
    }

    @Test func nkeyUserSignsTheNonce() throws {
        let authenticator = try Self.authenticator()
        #expect(authenticator.issuesChallenges)
        let good = ClientCredentials(
            clientID: "c",
            challenge: SignedChallenge(nonce: Self.nonce, publicKey: Keys.userKey, signature: Self.goodSignature))
        let identity = try #require(authenticator.authenticate(good).identity)
        #expect(identity.userID == "device")
        #expect(identity.permissions.maySubscribe(try TopicFilter("help")))
        #expect(!identity.permissions.maySubscribe(try TopicFilter("foo")))
        #expect(!identity.permissions.mayPublish(try Topic("foo")))
        for challenge in [
            SignedChallenge(nonce: "other", publicKey: Keys.userKey, signature: Self.goodSignature),
            SignedChallenge(nonce: Self.nonce, publicKey: Keys.userKey, signature: nil),
            SignedChallenge(nonce: Self.nonce, publicKey: Keys.text(Keys.other, .user), signature: Self.goodSignature),
        ] {
            #expect(authenticator.authenticate(ClientCredentials(challenge: challenge)).identity == nil)
        }
        // An NKey-only user has no password.
        #expect(authenticator.authenticate(ClientCredentials(username: "device", password: "x")).identity == nil)
    }

    @Test func natsUserJWTIsDecidedByItsHeaderAlgorithm() throws {
        let authenticator = try Self.authenticator()
        let credentials = ClientCredentials(
            token: Golden.userJWT,
            challenge: SignedChallenge(nonce: Self.nonce, publicKey: nil, signature: Self.goodSignature))
        let identity = try #require(authenticator.authenticate(credentials).identity)
        #expect(identity.userID == Keys.userKey)
        #expect(identity.permissions.mayPublish(try Topic("orders/x")))
        #expect(!identity.permissions.mayPublish(try Topic("orders/secret")))
        // v1 credentials (alg `ed25519`) are NATS JWTs too; an HS256 JWT is not.
        #expect(NATSJWT.isNATSToken(Self.mint(Self.userClaims(), signer: Keys.account, alg: "ed25519")))
        #expect(!NATSJWT.isNATSToken("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln"))
        #expect(
            authenticator.authenticate(ClientCredentials(token: Golden.userJWT)) == .refused("the nonce was not signed")
        )
        // Without trusted operators a NATS JWT is refused, as an unknown algorithm.
        let plain = try SwitchboardAuthenticator(settings: SecuritySettings(), anonymous: true)
        #expect(!plain.issuesChallenges)
        #expect(plain.authenticate(credentials).identity == nil)
    }

    @Test func expiryReachesTheIdentity() throws {
        var claims = Self.userClaims()
        claims["exp"] = 1_800_000_100
        let token = Self.mint(claims, signer: Keys.account)
        let credentials = ClientCredentials(
            token: token, challenge: SignedChallenge(nonce: Self.nonce, publicKey: nil, signature: Self.goodSignature))
        #expect(try Self.authenticator().authenticate(credentials).identity?.expiresAt == 1_800_000_100)
        #expect(try Self.authenticator(clock: 1_800_000_100).authenticate(credentials) == .refused("token expired"))
    }

    @Test func configurationMistakesAreNamed() {
        #expect(throws: SecurityConfigurationError.self) {
            try SwitchboardAuthenticator(
                settings: SecuritySettings(users: [SecuritySettings.User(name: "x", nkey: Keys.accountKey)]),
                anonymous: false)
        }
        #expect(throws: SecurityConfigurationError.self) {
            try SwitchboardAuthenticator(
                settings: SecuritySettings(users: [SecuritySettings.User(name: "x")]), anonymous: false)
        }
        #expect(throws: SecurityConfigurationError.self) {
            try SwitchboardAuthenticator(
                settings: SecuritySettings(resolver_preload: [Keys.accountKey: Golden.accountJWT]), anonymous: false)
        }
        #expect(SecuritySettings(trusted_keys: [Keys.operatorKey]).hasCredentials)
    }
}
