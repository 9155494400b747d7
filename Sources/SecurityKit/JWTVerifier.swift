package import BusCore
import Foundation
package import JWTKit

/// Verifies JWTs (RFC 7519) synchronously, on the event loop that read the credentials: the keys are
/// turned into jwt-kit algorithms once at startup (`make`), so a check is one signature verification
/// plus the claim checks — `exp`, `nbf` (with leeway), `iss` and `aud` when configured.
package struct JWTVerifier: Sendable {
    /// A key bound to its algorithm: a token must name the same `alg` (no algorithm confusion, RFC 8725 §3.1).
    struct Key: Sendable {
        var kid: String?
        var alg: String
        var algorithm: any JWTAlgorithm
    }

    /// What a verified token says about its bearer.
    package struct Claims: Sendable, Equatable {
        package var subject: String
        package var expiresAt: Double?
        package var roles: [String]
        package var admin: Bool
        package var publish: [String]?
        package var subscribe: [String]?
        /// The queue broker's permissions per virtual host (`vhosts` in the grants claim).
        package var vhosts: [String: SecuritySettings.VirtualHostRule]? = nil
        /// Every claim of the payload as JSON (record collections' rules read them as `@request.auth.*`).
        package var all: JSONValue = .object([])
    }

    /// Why a token was refused. The description is what the client is told.
    package enum Refusal: Error, Equatable, CustomStringConvertible {
        case malformed
        case unknownKey
        case badSignature
        case expired
        case notYetValid
        case wrongIssuer
        case wrongAudience
        case noSubject

        package var description: String {
            switch self {
            case .malformed: "malformed token"
            case .unknownKey: "token signed with an unknown key or algorithm"
            case .badSignature: "invalid token signature"
            case .expired: "token expired"
            case .notYetValid: "token not yet valid"
            case .wrongIssuer: "token issuer not accepted"
            case .wrongAudience: "token audience not accepted"
            case .noSubject: "token has no subject"
            }
        }
    }

    let keys: [Key]
    let issuer: String?
    let audience: String?
    let leeway: Double
    let claimName: String

    /// The algorithms this verifier accepts, by `alg` name.
    package static let supportedAlgorithms = ["HS256", "HS384", "HS512", "RS256", "ES256"]

    /// Resolves configured keys (and a JWKS file's) into algorithms through jwt-kit's key collection.
    package static func make(_ settings: SecuritySettings.JWT) async throws -> JWTVerifier {
        var keys: [Key] = []
        for (index, key) in (settings.keys ?? []).enumerated() {
            let collection = JWTKeyCollection()
            let kid = key.kid.map { JWKIdentifier(string: $0) }
            let context = "security.jwt.keys[\(index)]"
            switch key.alg {
            case "HS256", "HS384", "HS512":
                // RFC 7518 §3.2: a key at least as long as the hash output (32, 48, 64 bytes).
                let minimum = key.alg == "HS256" ? 32 : key.alg == "HS384" ? 48 : 64
                guard let secret = key.secret, secret.utf8.count >= minimum else {
                    throw SecurityConfigurationError(
                        "\(context): \(key.alg) needs a \"secret\" of at least \(minimum) bytes")
                }
                let digest: DigestAlgorithm =
                    key.alg == "HS256" ? .sha256 : key.alg == "HS384" ? .sha384 : .sha512
                await collection.add(hmac: HMACKey(from: secret), digestAlgorithm: digest, kid: kid)
            case "RS256":
                let pem = try publicKeyPEM(key, context: context)
                let publicKey: JWTKit.Insecure.RSA.PublicKey
                do {
                    publicKey =
                        pem.contains("CERTIFICATE")
                        ? try .init(certificatePEM: pem) : try .init(pem: pem)
                } catch {
                    throw SecurityConfigurationError("\(context): not an RSA package key or certificate: \(error)")
                }
                await collection.add(rsa: publicKey, digestAlgorithm: .sha256, kid: kid)
            case "ES256":
                let pem = try publicKeyPEM(key, context: context)
                let publicKey: ES256PublicKey
                do {
                    publicKey = pem.contains("CERTIFICATE") ? try .init(certificate: pem) : try .init(pem: pem)
                } catch {
                    throw SecurityConfigurationError("\(context): not a P-256 package key or certificate: \(error)")
                }
                await collection.add(ecdsa: publicKey, kid: kid)
            default:
                throw SecurityConfigurationError(
                    "\(context): alg \"\(key.alg)\" is not one of \(supportedAlgorithms.joined(separator: ", "))")
            }
            keys.append(Key(kid: key.kid, alg: key.alg, algorithm: try await collection.getKey(for: kid)))
        }
        if let path = settings.jwks_file {
            keys += try await jwksKeys(path)
        }
        guard !keys.isEmpty else { throw SecurityConfigurationError("security.jwt: no keys configured") }
        return JWTVerifier(
            keys: keys, issuer: settings.issuer, audience: settings.audience,
            leeway: settings.leeway_seconds ?? 0, claimName: settings.claim ?? "switchboard")
    }

    private static func publicKeyPEM(_ key: SecuritySettings.JWTKey, context: String) throws -> String {
        if let pem = key.public_key { return pem }
        guard let path = key.public_key_file else {
            throw SecurityConfigurationError("\(context): \(key.alg) needs \"public_key_file\" or \"public_key\"")
        }
        do { return try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw SecurityConfigurationError("\(context): cannot read \(path): \(error.localizedDescription)")
        }
    }

    private static func jwksKeys(_ path: String) async throws -> [Key] {
        let json: String
        do { json = try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw SecurityConfigurationError(
                "security.jwt.jwks_file: cannot read \(path): \(error.localizedDescription)")
        }
        let jwks: JWKS
        do { jwks = try JSONDecoder().decode(JWKS.self, from: Data(json.utf8)) } catch {
            throw SecurityConfigurationError("security.jwt.jwks_file: \(path) is not a JWKS document: \(error)")
        }
        var keys: [Key] = []
        for jwk in jwks.keys {
            // A key without `alg` is used with its type's algorithm here (RS256 for RSA, ES256 for EC).
            let alg = jwk.algorithm?.rawValue ?? (jwk.keyType == .rsa ? "RS256" : jwk.keyType == .ecdsa ? "ES256" : "")
            guard supportedAlgorithms.contains(alg) else { continue }
            let collection = JWTKeyCollection()
            do {
                try await collection.add(jwk: jwk, isDefault: true)
                let algorithm = try await collection.getKey(for: jwk.keyIdentifier, alg: alg)
                keys.append(Key(kid: jwk.keyIdentifier?.string, alg: alg, algorithm: algorithm))
            } catch {
                throw SecurityConfigurationError(
                    "security.jwt.jwks_file: key \(jwk.keyIdentifier?.string ?? "?"): \(error)")
            }
        }
        return keys
    }

    /// Verifies `token` at `now` (seconds since the Unix epoch).
    package func verify(_ token: String, now: Double) -> Result<Claims, Refusal> {
        let bytes = Array(token.utf8)
        let parser = DefaultJWTParser()
        let parsed: (header: JWTHeader, payload: TokenPayload, signature: Data)
        do { parsed = try parser.parse(bytes, as: TokenPayload.self) } catch { return .failure(.malformed) }
        guard let alg = parsed.header.alg else { return .failure(.malformed) }
        let kid = parsed.header.kid
        let candidates = keys.filter { $0.alg == alg && (kid == nil || $0.kid == nil || $0.kid == kid) }
        guard !candidates.isEmpty else { return .failure(.unknownKey) }
        // The signature covers the first two parts exactly as sent (RFC 7515 §5.2).
        guard let lastDot = bytes.lastIndex(of: UInt8(ascii: ".")) else { return .failure(.malformed) }
        let signingInput = bytes[..<lastDot]
        let signed = candidates.contains { key in
            (try? key.algorithm.verify(parsed.signature, signs: signingInput)) == true
        }
        guard signed else { return .failure(.badSignature) }
        let payload = parsed.payload
        if let expiry = payload.exp?.value.timeIntervalSince1970, now >= expiry + leeway { return .failure(.expired) }
        if let notBefore = payload.nbf?.value.timeIntervalSince1970, now + leeway < notBefore {
            return .failure(.notYetValid)
        }
        if let issuer, payload.iss?.value != issuer { return .failure(.wrongIssuer) }
        if let audience, !(payload.aud?.value.contains(audience) ?? false) { return .failure(.wrongAudience) }
        guard let subject = payload.sub?.value, !subject.isEmpty else { return .failure(.noSubject) }
        // A grants claim of the wrong shape must not read as "no restriction": refused.
        if payload.unreadable.contains(claimName) { return .failure(.malformed) }
        let grants = payload.grants(named: claimName)
        var claims = Claims(
            subject: subject, expiresAt: payload.exp?.value.timeIntervalSince1970, roles: grants?.roles ?? [],
            admin: grants?.admin ?? false, publish: grants?.pub, subscribe: grants?.sub,
            vhosts: grants?.vhosts)
        claims.all = Self.payloadJSON(bytes) ?? .object([])
        return .success(claims)
    }

    /// The payload segment of a compact JWT (between the first two dots, base64url) as JSON.
    static func payloadJSON(_ token: [UInt8]) -> JSONValue? {
        let parts = token.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
        guard parts.count == 3 else { return nil }
        var text = String(decoding: parts[1], as: UTF8.self).replacing("-", with: "+").replacing("_", with: "/")
        while text.utf8.count % 4 != 0 { text += "=" }
        guard let json = Base64.decode(text) else { return nil }
        return try? json.withUnsafeBytes { try JSONParser.parse($0) }
    }
}

/// The registered claims this server reads, and its own grants claim (by any name).
struct TokenPayload: JWTPayload {
    struct Grants: Codable, Sendable {
        var pub: [String]?
        var sub: [String]?
        var roles: [String]?
        var admin: Bool?
        var vhosts: [String: SecuritySettings.VirtualHostRule]?
    }

    var sub: SubjectClaim?
    var exp: ExpirationClaim?
    var nbf: NotBeforeClaim?
    var iss: IssuerClaim?
    var aud: AudienceClaim?
    var custom: [String: Grants]
    /// Object-or-not claims that did not have the grants' shape (a grants claim among them is refused).
    var unreadable: Set<String>

    private struct AnyKey: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: AnyKey.self)
        sub = try container.decodeIfPresent(SubjectClaim.self, forKey: AnyKey(stringValue: "sub"))
        exp = try container.decodeIfPresent(ExpirationClaim.self, forKey: AnyKey(stringValue: "exp"))
        nbf = try container.decodeIfPresent(NotBeforeClaim.self, forKey: AnyKey(stringValue: "nbf"))
        iss = try container.decodeIfPresent(IssuerClaim.self, forKey: AnyKey(stringValue: "iss"))
        aud = try container.decodeIfPresent(AudienceClaim.self, forKey: AnyKey(stringValue: "aud"))
        custom = [:]
        unreadable = []
        let registered: Set = ["sub", "exp", "nbf", "iss", "aud", "iat", "jti"]
        for key in container.allKeys where !registered.contains(key.stringValue) {
            // Other claims are free-form; only an object shaped like the grants is kept.
            if let grants = try? container.decode(Grants.self, forKey: key) {
                custom[key.stringValue] = grants
            } else {
                unreadable.insert(key.stringValue)
            }
        }
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: AnyKey.self)
        try container.encodeIfPresent(sub, forKey: AnyKey(stringValue: "sub"))
        try container.encodeIfPresent(exp, forKey: AnyKey(stringValue: "exp"))
    }

    func grants(named name: String) -> Grants? { custom[name] }

    /// Checks are made by `JWTVerifier.verify`, synchronously; jwt-kit's async hook is not used.
    func verify(using algorithm: some JWTAlgorithm) async throws {}
}
