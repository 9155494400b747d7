import Crypto
import Foundation

/// A NATS NKey: an ed25519 key written as base32 text with a type prefix and a CRC16 checksum
/// (nats-io/nkeys `strkey.go`). Public keys are one prefix byte + 32 key bytes + CRC16 (little-endian)
/// → 56 characters (`U…` user, `A…` account, `O…` operator); seeds are two prefix bytes (`S` + the
/// public kind) + the 32-byte ed25519 seed + CRC16 → 58 characters (`SU…`, `SA…`, `SO…`).
package struct NKey: Sendable, Hashable {
    /// What a key is for: the prefix byte of its public form.
    package enum Kind: UInt8, Sendable, Hashable, CaseIterable {
        /// `A…`
        case account = 0
        /// `C…`
        case cluster = 16  // 2 << 3
        /// `N…`
        case server = 104  // 13 << 3
        /// `O…`
        case `operator` = 112  // 14 << 3
        /// `U…`
        case user = 160  // 20 << 3
    }

    /// Why a text is not an NKey.
    package enum DecodingError: Error, Sendable, Hashable {
        /// Not base32, or not the length of a key.
        case invalidEncoding
        /// The CRC16 does not match.
        case invalidChecksum
        /// The prefix is not the kind asked for (or no known kind).
        case invalidPrefix
    }

    /// The seed prefix byte (`S…`).
    static let seedPrefix: UInt8 = 18 << 3
    /// Characters of a public key: base32 of 1 + 32 + 2 bytes.
    static let publicKeyLength = 56
    /// Characters of a seed: base32 of 2 + 32 + 2 bytes.
    static let seedLength = 58

    package let kind: Kind
    /// The 32-byte ed25519 public key.
    package let rawPublicKey: [UInt8]

    /// Decodes a public key text, e.g. `UAB2…`; `kind` nil accepts any public kind.
    package init(publicKey text: String, kind expected: Kind? = nil) throws(DecodingError) {
        guard text.utf8.count == Self.publicKeyLength else { throw .invalidEncoding }
        let bytes = try Self.decodeChecked(text)
        guard bytes.count == 33 else { throw .invalidEncoding }
        guard let kind = Kind(rawValue: bytes[0]), expected == nil || expected == kind else { throw .invalidPrefix }
        self.kind = kind
        self.rawPublicKey = Array(bytes[1...])
    }

    package init(kind: Kind, rawPublicKey: [UInt8]) {
        precondition(rawPublicKey.count == 32, "an ed25519 public key has 32 bytes")
        self.kind = kind
        self.rawPublicKey = rawPublicKey
    }

    /// The public key's text (`U…`).
    package var text: String { Self.encodeChecked([kind.rawValue] + rawPublicKey) }

    /// Whether `signature` (64 bytes) is this key's ed25519 signature of `message`.
    package func isValidSignature(_ signature: [UInt8], for message: [UInt8]) -> Bool {
        guard signature.count == 64,
            let key = try? Curve25519.Signing.PublicKey(rawRepresentation: rawPublicKey)
        else { return false }
        return key.isValidSignature(signature, for: message)
    }

    // MARK: - Seeds (tests and tools: the server only ever holds public keys)

    /// Decodes a seed text (`SU…`): its kind and its 32-byte ed25519 seed.
    package static func decodeSeed(_ text: String) throws(DecodingError) -> (kind: Kind, seed: [UInt8]) {
        guard text.utf8.count == seedLength else { throw .invalidEncoding }
        let bytes = try decodeChecked(text)
        guard bytes.count == 34 else { throw .invalidEncoding }
        // The first 5 bits are the seed prefix; the next 5 the public kind's 5 bits.
        guard bytes[0] & 0xF8 == seedPrefix,
            let kind = Kind(rawValue: (bytes[0] & 0x07) << 5 | (bytes[1] & 0xF8) >> 3)
        else { throw .invalidPrefix }
        return (kind, Array(bytes[2...]))
    }

    /// The seed text for a 32-byte ed25519 seed.
    package static func encodeSeed(_ seed: [UInt8], kind: Kind) -> String {
        precondition(seed.count == 32, "an ed25519 seed has 32 bytes")
        let prefix = [seedPrefix | kind.rawValue >> 5, (kind.rawValue & 0x1F) << 3]
        return encodeChecked(prefix + seed)
    }

    // MARK: - Checked base32

    /// Base32 (RFC 4648, no padding) → bytes, checking and removing the trailing CRC16.
    static func decodeChecked(_ text: String) throws(DecodingError) -> [UInt8] {
        guard let bytes = Base32.decode(text), bytes.count > 2 else { throw .invalidEncoding }
        let body = Array(bytes.dropLast(2))
        let checksum = UInt16(bytes[bytes.count - 2]) | UInt16(bytes[bytes.count - 1]) << 8
        guard CRC16.xmodem(body) == checksum else { throw .invalidChecksum }
        return body
    }

    static func encodeChecked(_ body: [UInt8]) -> String {
        let checksum = CRC16.xmodem(body)
        return Base32.encode(body + [UInt8(checksum & 0xFF), UInt8(checksum >> 8)])
    }
}

/// CRC-16/XMODEM (polynomial 0x1021, initial value 0, no reflection): the NKey checksum.
package enum CRC16 {
    package static func xmodem(_ bytes: some Sequence<UInt8>) -> UInt16 {
        var crc: UInt16 = 0
        for byte in bytes {
            crc ^= UInt16(byte) << 8
            for _ in 0..<8 {
                crc = crc & 0x8000 != 0 ? (crc << 1) ^ 0x1021 : crc << 1
            }
        }
        return crc
    }
}

/// RFC 4648 §6 base32 without padding (what NKeys use).
package enum Base32 {
    static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567".utf8)

    package static func encode(_ bytes: [UInt8]) -> String {
        var out: [UInt8] = []
        out.reserveCapacity((bytes.count * 8 + 4) / 5)
        var buffer: UInt32 = 0
        var bits = 0
        for byte in bytes {
            buffer = buffer << 8 | UInt32(byte)
            bits += 8
            while bits >= 5 {
                bits -= 5
                out.append(alphabet[Int(buffer >> UInt32(bits) & 0x1F)])
            }
        }
        if bits > 0 { out.append(alphabet[Int(buffer << UInt32(5 - bits) & 0x1F)]) }
        return String(decoding: out, as: UTF8.self)
    }

    /// nil for a character outside the alphabet (upper case only, as NKeys are written).
    package static func decode(_ text: String) -> [UInt8]? {
        var out: [UInt8] = []
        out.reserveCapacity(text.utf8.count * 5 / 8)
        var buffer: UInt32 = 0
        var bits = 0
        for character in text.utf8 {
            let value: UInt8
            switch character {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"): value = character - UInt8(ascii: "A")
            case UInt8(ascii: "2")...UInt8(ascii: "7"): value = character - UInt8(ascii: "2") + 26
            default: return nil
            }
            buffer = (buffer << 5 | UInt32(value)) & 0xFFFF
            bits += 5
            if bits >= 8 {
                bits -= 8
                out.append(UInt8(buffer >> UInt32(bits) & 0xFF))
            }
        }
        return out
    }
}

/// Base64 as NATS clients send signatures: URL or standard alphabet, padded or not (nats-server tries
/// raw URL encoding, then standard).
package enum LenientBase64 {
    package static func decode(_ text: String) -> [UInt8]? {
        var standard = String(
            text.map { $0 == "-" ? "+" : $0 == "_" ? "/" : $0 }.filter { $0 != "=" })
        standard += String(repeating: "=", count: (4 - standard.utf8.count % 4) % 4)
        return Data(base64Encoded: standard).map { Array($0) }
    }
}
