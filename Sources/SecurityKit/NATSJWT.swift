import Foundation

/// A NATS decentralised-auth JWT (nats-io/jwt): operator, account or user claims, signed with ed25519
/// by the NKey named in `iss`. Header `alg` is `ed25519-nkey` (jwt v2) or `ed25519` (v1, what nats.py's
/// test credentials still carry); v2's signature covers `header.payload` as any JWS does, v1's the
/// encoded payload alone.
package struct NATSJWT: Sendable, Equatable {
    /// Allow and deny lists of NATS subjects (`nats.pub`, `nats.sub`).
    package struct SubjectPermission: Sendable, Decodable, Equatable {
        package var allow: [String]?
        package var deny: [String]?
    }

    /// `nats.signing_keys`: a key text, or (jwt v2 scoped keys) an object with `key`.
    struct SigningKey: Decodable, Equatable {
        var key: String

        init(from decoder: any Decoder) throws {
            if let text = try? decoder.singleValueContainer().decode(String.self) {
                key = text
                return
            }
            struct Scoped: Decodable { var key: String }
            key = try Scoped(from: decoder).key
        }
    }

    /// The claims nats-server reads; others are ignored.
    struct Claims: Decodable, Equatable {
        struct NATS: Decodable, Equatable {
            var type: String?
            var version: Int?
            var issuer_account: String?
            var pub: SubjectPermission?
            var sub: SubjectPermission?
            var bearer_token: Bool?
            var signing_keys: [SigningKey]?
        }

        var iss: String
        var sub: String
        var name: String?
        var exp: Double?
        var nbf: Double?
        /// jwt v1 puts the type here, v2 under `nats`.
        var type: String?
        var nats: NATS?
    }

    /// Why a NATS JWT was refused (told to the client in the refusal, not on the wire of NATS, which
    /// only says `Authorization Violation`).
    package enum Refusal: Error, Sendable, Equatable, CustomStringConvertible {
        case malformed
        case badSignature
        case wrongType(expected: String)
        case untrustedIssuer
        case unknownAccount
        case expired
        case notYetValid
        case missingSignature
        case badChallengeSignature
        case invalidPermission(String)

        package var description: String {
            switch self {
            case .malformed: "malformed token"
            case .badSignature: "invalid token signature"
            case .wrongType(let expected): "not a NATS \(expected) token"
            case .untrustedIssuer: "token issuer not trusted"
            case .unknownAccount: "token names an unknown account"
            case .expired: "token expired"
            case .notYetValid: "token not yet valid"
            case .missingSignature: "the nonce was not signed"
            case .badChallengeSignature: "invalid nonce signature"
            case .invalidPermission(let subject): "token grants an invalid subject \"\(subject)\""
            }
        }
    }

    /// The JWS header algorithms of NATS JWTs.
    static let algorithms: Set<String> = ["ed25519-nkey", "ed25519"]

    let claims: Claims
    /// The key that signed it (`iss`).
    package let issuer: NKey
    /// The key it describes (`sub`).
    package let subject: NKey

    /// jwt v2's `nats.type`, else v1's `type`.
    package var type: String? { claims.nats?.type ?? claims.type }
    package var name: String? { claims.name }
    package var expiresAt: Double? { claims.exp }
    package var issuerAccount: String? { claims.nats?.issuer_account }
    package var publish: SubjectPermission? { claims.nats?.pub }
    package var subscribe: SubjectPermission? { claims.nats?.sub }
    /// The user needs no nonce signature (jwt v2 `bearer_token`).
    package var isBearer: Bool { claims.nats?.bearer_token ?? false }
    /// Further keys that may sign on the subject's behalf (operators, accounts).
    package var signingKeys: [String] { (claims.nats?.signing_keys ?? []).map(\.key) }

    /// Whether `token` is a JWT whose header names a NATS algorithm: the one question that decides
    /// between NATS decentralised auth and this server's own JWTs (`JWTVerifier`).
    package static func isNATSToken(_ token: String) -> Bool {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, let header = LenientBase64.decode(String(parts[0])),
            let object = try? JSONSerialization.jsonObject(with: Data(header)) as? [String: Any],
            let alg = object["alg"] as? String
        else { return false }
        return algorithms.contains(alg.lowercased())
    }

    /// Decodes `token` and checks its signature against its own `iss` (whether that issuer is trusted
    /// is the caller's question).
    package init(verifying token: String) throws(Refusal) {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, let headerBytes = LenientBase64.decode(String(parts[0])),
            let payload = LenientBase64.decode(String(parts[1])),
            let signature = LenientBase64.decode(String(parts[2])),
            let header = try? JSONSerialization.jsonObject(with: Data(headerBytes)) as? [String: Any],
            let alg = header["alg"] as? String, Self.algorithms.contains(alg.lowercased())
        else { throw .malformed }
        let claims: Claims
        do { claims = try JSONDecoder().decode(Claims.self, from: Data(payload)) } catch { throw .malformed }
        guard let issuer = try? NKey(publicKey: claims.iss), let subject = try? NKey(publicKey: claims.sub) else {
            throw .malformed
        }
        // jwt v2 (`ed25519-nkey`) signs `header.payload` as JWS does; v1 (`ed25519`) signed the encoded
        // payload alone, which is why v2 took a new algorithm name (nats-io/jwt `v1compat`).
        let signed =
            alg.lowercased() == "ed25519"
            ? Array(parts[1].utf8) : Array(parts[0].utf8) + [UInt8(ascii: ".")] + Array(parts[1].utf8)
        guard issuer.isValidSignature(signature, for: signed) else { throw .badSignature }
        self.claims = claims
        self.issuer = issuer
        self.subject = subject
    }

    /// `exp` and `nbf` against `now` (seconds since the epoch).
    package func checkValidity(now: Double) throws(Refusal) {
        if let exp = claims.exp, exp > 0, now >= exp { throw .expired }
        if let nbf = claims.nbf, nbf > 0, now < nbf { throw .notYetValid }
    }
}
