import Crypto
import CryptoExtras
import Foundation

/// A salted, slow password hash as stored in the config file: `pbkdf2-sha256$<rounds>$<salt>$<hash>`,
/// salt and hash in base64. PBKDF2-HMAC-SHA256 (RFC 8018 §5.2) from swift-crypto; the rounds are part of
/// the string, so raising the default later does not invalidate existing hashes.
package struct PasswordHash: Sendable, Equatable, CustomStringConvertible {
    /// OWASP's 2023 recommendation for PBKDF2-HMAC-SHA256. About 0.2 s on one core of the reference
    /// machine: slow for a guesser, paid by a client once per server run (`PasswordVerifier` caches).
    package static let defaultRounds = 600_000
    /// Below this a stored hash is refused as too weak to be worth accepting.
    package static let minimumRounds = 1_000
    package static let prefix = "pbkdf2-sha256"
    static let saltBytes = 16
    static let hashBytes = 32

    package let rounds: Int
    package let salt: [UInt8]
    package let hash: [UInt8]

    /// Hashes `password` with a fresh random salt.
    package static func make(password: String, rounds: Int = defaultRounds) throws -> PasswordHash {
        var generator = SystemRandomNumberGenerator()
        let salt = (0..<saltBytes).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
        return try make(password: password, salt: salt, rounds: rounds)
    }

    /// Hashes `password` with the given salt (tests, and verification).
    package static func make(password: String, salt: [UInt8], rounds: Int) throws -> PasswordHash {
        PasswordHash(rounds: rounds, salt: salt, hash: try derive(password, salt: salt, rounds: rounds))
    }

    init(rounds: Int, salt: [UInt8], hash: [UInt8]) {
        self.rounds = rounds
        self.salt = salt
        self.hash = hash
    }

    /// Parses the stored form; nil when it is not one (the config loader names the user).
    package init?(parsing text: String) {
        let parts = text.split(separator: "$", omittingEmptySubsequences: false)
        guard parts.count == 4, parts[0] == Self.prefix, let rounds = Int(parts[1]), rounds >= Self.minimumRounds,
            let salt = Data(base64Encoded: String(parts[2])), salt.count >= 8,
            let hash = Data(base64Encoded: String(parts[3])), hash.count == Self.hashBytes
        else { return nil }
        self.init(rounds: rounds, salt: Array(salt), hash: Array(hash))
    }

    package var description: String {
        "\(Self.prefix)$\(rounds)$\(Data(salt).base64EncodedString())$\(Data(hash).base64EncodedString())"
    }

    /// Whether `password` hashes to this hash (compared in constant time).
    package func verify(_ password: String) -> Bool {
        guard let candidate = try? Self.derive(password, salt: salt, rounds: rounds) else { return false }
        return Self.constantTimeEqual(candidate, hash)
    }

    static func derive(_ password: String, salt: [UInt8], rounds: Int) throws -> [UInt8] {
        let key = try KDF.Insecure.PBKDF2.deriveKey(
            from: Array(password.utf8), salt: salt, using: .sha256, outputByteCount: hashBytes,
            unsafeUncheckedRounds: rounds)
        return key.withUnsafeBytes { Array($0) }
    }

    static func constantTimeEqual(_ lhs: [UInt8], _ rhs: [UInt8]) -> Bool {
        guard lhs.count == rhs.count else { return false }
        var difference: UInt8 = 0
        for index in lhs.indices { difference |= lhs[index] ^ rhs[index] }
        return difference == 0
    }
}
