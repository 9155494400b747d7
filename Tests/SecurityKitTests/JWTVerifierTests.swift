import Crypto
import CryptoExtras
import Foundation
import JWTKit
import Testing

@testable import SecurityKit

/// Tokens are signed here with jwt-kit itself, then checked by the synchronous verifier.
@Suite struct JWTVerifierTests {
    struct Payload: JWTPayload {
        var sub: SubjectClaim?
        var exp: ExpirationClaim?
        var nbf: NotBeforeClaim?
        var iss: IssuerClaim?
        var aud: AudienceClaim?
        var switchboard: TokenPayload.Grants?
        func verify(using algorithm: some JWTAlgorithm) async throws {}
    }

    static let secret = "0123456789abcdef0123456789abcdef"
    static let now = 1_800_000_000.0

    private func sign(_ payload: Payload, secret: String = secret, digest: DigestAlgorithm = .sha256) async throws
        -> String
    {
        let keys = JWTKeyCollection()
        await keys.add(hmac: HMACKey(from: secret), digestAlgorithm: digest)
        return try await keys.sign(payload)
    }

    private func hs256(_ settings: SecuritySettings.JWT = SecuritySettings.JWT()) async throws -> JWTVerifier {
        var settings = settings
        settings.keys = [SecuritySettings.JWTKey(alg: "HS256", secret: Self.secret)]
        return try await JWTVerifier.make(settings)
    }

    private func payload(exp: Double? = now + 60, nbf: Double? = nil) -> Payload {
        Payload(
            sub: SubjectClaim(value: "alice"), exp: exp.map { ExpirationClaim(value: Date(timeIntervalSince1970: $0)) },
            nbf: nbf.map { NotBeforeClaim(value: Date(timeIntervalSince1970: $0)) })
    }

    @Test func acceptsAValidHS256TokenAndReadsItsGrants() async throws {
        var claims = payload()
        claims.switchboard = TokenPayload.Grants(pub: ["users/alice/#"], sub: ["news/#"], roles: ["r"], admin: true)
        let token = try await sign(claims)
        let verified = try (try await hs256()).verify(token, now: Self.now).get()
        #expect(verified.subject == "alice")
        #expect(verified.expiresAt == Self.now + 60)
        #expect(verified.publish == ["users/alice/#"])
        #expect(verified.subscribe == ["news/#"])
        #expect(verified.roles == ["r"])
        #expect(verified.admin)
    }

    @Test func refusesAWrongSignatureExpiryAndNotBefore() async throws {
        let verifier = try await hs256()
        let forged = try await sign(payload(), secret: "another secret of enough length!")
        #expect(verifier.verify(forged, now: Self.now) == .failure(.badSignature))
        let expired = try await sign(payload(exp: Self.now - 1))
        #expect(verifier.verify(expired, now: Self.now) == .failure(.expired))
        let early = try await sign(payload(nbf: Self.now + 30))
        #expect(verifier.verify(early, now: Self.now) == .failure(.notYetValid))
        #expect(verifier.verify("not.a.token", now: Self.now) == .failure(.malformed))
        #expect(verifier.verify("garbage", now: Self.now) == .failure(.malformed))
    }

    @Test func aMisshapenGrantsClaimIsRefusedNotIgnored() async throws {
        struct Loose: JWTPayload {
            var sub: SubjectClaim
            var switchboard: String
            func verify(using algorithm: some JWTAlgorithm) async throws {}
        }
        let keys = JWTKeyCollection()
        await keys.add(hmac: HMACKey(from: Self.secret), digestAlgorithm: .sha256)
        let token = try await keys.sign(Loose(sub: SubjectClaim(value: "alice"), switchboard: "everything"))
        #expect((try await hs256()).verify(token, now: Self.now) == .failure(.malformed))
    }

    @Test func leewayAppliesToExpiry() async throws {
        let verifier = try await hs256(SecuritySettings.JWT(leeway_seconds: 5))
        let expired = try await sign(payload(exp: Self.now - 1))
        #expect((try? verifier.verify(expired, now: Self.now).get()) != nil)
    }

    @Test func refusesAnotherAlgorithmThanTheKeys() async throws {
        // HS384 token, HS256 key with the same secret: the key is bound to its algorithm.
        let token = try await sign(payload(), secret: Self.secret + Self.secret, digest: .sha384)
        #expect((try await hs256()).verify(token, now: Self.now) == .failure(.unknownKey))
    }

    @Test func checksIssuerAudienceAndSubject() async throws {
        let verifier = try await hs256(SecuritySettings.JWT(issuer: "https://id.example", audience: "switchboard"))
        var claims = payload()
        #expect(verifier.verify(try await sign(claims), now: Self.now) == .failure(.wrongIssuer))
        claims.iss = IssuerClaim(value: "https://id.example")
        #expect(verifier.verify(try await sign(claims), now: Self.now) == .failure(.wrongAudience))
        claims.aud = AudienceClaim(value: ["other", "switchboard"])
        #expect((try? verifier.verify(try await sign(claims), now: Self.now).get())?.subject == "alice")
        claims.sub = nil
        #expect(verifier.verify(try await sign(claims), now: Self.now) == .failure(.noSubject))
    }

    @Test func verifiesES256WithAPublicKeyPEM() async throws {
        let privateKey = P256.Signing.PrivateKey()
        let keys = JWTKeyCollection()
        await keys.add(ecdsa: try ES256PrivateKey(pem: privateKey.pemRepresentation))
        let token = try await keys.sign(payload())
        let verifier = try await JWTVerifier.make(
            SecuritySettings.JWT(
                keys: [SecuritySettings.JWTKey(alg: "ES256", public_key: privateKey.publicKey.pemRepresentation)]))
        #expect((try? verifier.verify(token, now: Self.now).get())?.subject == "alice")
        let other = try await JWTVerifier.make(
            SecuritySettings.JWT(
                keys: [
                    SecuritySettings.JWTKey(
                        alg: "ES256", public_key: P256.Signing.PrivateKey().publicKey.pemRepresentation)
                ]))
        #expect(other.verify(token, now: Self.now) == .failure(.badSignature))
    }

    @Test func verifiesRS256FromAJWKSFile() async throws {
        let privateKey = try _RSA.Signing.PrivateKey(keySize: .bits2048)
        let keys = JWTKeyCollection()
        await keys.add(
            rsa: try JWTKit.Insecure.RSA.PrivateKey(pem: privateKey.pemRepresentation), digestAlgorithm: .sha256,
            kid: "k1")
        let token = try await keys.sign(payload(), kid: "k1")
        // A JWKS document with the public key's modulus and exponent (RFC 7518 §6.3.1).
        let publicKey = try JWTKit.Insecure.RSA.PublicKey(pem: privateKey.publicKey.pemRepresentation)
        let parameters = try publicKey.getKeyPrimitives()
        func base64URL(_ bytes: some DataProtocol) -> String {
            Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-")
                .replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
        }
        let jwks =
            #"{"keys":[{"kty":"RSA","kid":"k1","alg":"RS256","n":"\#(base64URL(parameters.modulus))","e":"\#(base64URL(parameters.publicExponent))"}]}"#
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("jwks-\(UUID().uuidString).json")
        try Data(jwks.utf8).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        let verifier = try await JWTVerifier.make(SecuritySettings.JWT(jwks_file: file.path))
        #expect((try? verifier.verify(token, now: Self.now).get())?.subject == "alice")
    }

    @Test func refusesConfigurationMistakes() async throws {
        await #expect(throws: SecurityConfigurationError.self) {
            try await JWTVerifier.make(
                SecuritySettings.JWT(keys: [SecuritySettings.JWTKey(alg: "HS256", secret: "short")]))
        }
        await #expect(throws: SecurityConfigurationError.self) {
            try await JWTVerifier.make(SecuritySettings.JWT(keys: [SecuritySettings.JWTKey(alg: "none")]))
        }
        await #expect(throws: SecurityConfigurationError.self) {
            try await JWTVerifier.make(SecuritySettings.JWT())
        }
    }
}
