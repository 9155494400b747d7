import Crypto
import Foundation
import Testing

@testable import SecurityKit

/// Golden NKey encodings made with the reference Python package (`nkeys` 0.2.1 from PyPI:
/// `nkeys.encode_seed(raw, prefix)`, `from_seed(…).public_key`, `.sign(b"nonce-1234")`).
@Suite struct NKeyTests {
    struct Vector: Sendable {
        var kind: NKey.Kind
        var raw: [UInt8]
        var seed: String
        var publicKey: String
        /// `sign(b"nonce-1234")`, base64url without padding.
        var signature: String
    }

    static let vectors: [Vector] = [
        Vector(
            kind: .user, raw: Array(0..<32), seed: "SUAAAAICAMCAKBQHBAEQUCYMBUHA6EARCIJRIFIWC4MBSGQ3DQOR4H776Y",
            publicKey: "UAB2CB576PHBBPQ5ODORRZ2LYCMWPZGWGCN2KDK7DXOIMZASKUY3RLKK",
            signature: "IJcLK9yIHQTZlR2XBJPxQPosivRSOP0_FYnR-7VmHeUGJxapG-u8Mhph3Q9a-MPmBeNCA9OAtiHB5Mi29BvpBg"),
        Vector(
            kind: .account, raw: Array(repeating: 7, count: 32),
            seed: "SAAAOBYHA4DQOBYHA4DQOBYHA4DQOBYHA4DQOBYHA4DQOBYHA4DQOB6O4U",
            publicKey: "ADVEU3DD4KOFECV66VIHWEZOYX4ZKR3WV27L464SIIPOU2IUI3JCZW22",
            signature: "wZU0mzNb-_qNebA09UZSN9RGv41W5TfaeLwfxZ_ehsURbu_jjUgMduVwPwOS2KolWzzRd4i606ZECjol0qi-Cw"),
        Vector(
            kind: .operator, raw: (0..<32).map { UInt8(($0 * 5 + 3) % 256) },
            seed: "SOAAGCANCILRYIJGFMYDKOR7IREU4U2YLVRGO3DROZ5YBBMKR6KJTHW7XU",
            publicKey: "OADNIZ6B4NUS5Y6TEKYOXJWRYFLJAL2O5B3WN7FSSAV4FVNI74I6REKM",
            signature: "gHKr7TK5M5HMaJb-_uIJvWOJvKyhNoiMDmyIGYmlyyLowfEAyi56ahnnY8IfF3P5_e5RtWz2GGTYedXvZT_QCw"),
    ]

    @Test func crc16IsXMODEM() {
        // The CRC catalogue's check value for CRC-16/XMODEM.
        #expect(CRC16.xmodem(Array("123456789".utf8)) == 0x31C3)
        #expect(CRC16.xmodem([]) == 0)
    }

    @Test(arguments: vectors) func seedAndPublicKeyMatchTheReferencePackage(_ vector: Vector) throws {
        #expect(NKey.encodeSeed(vector.raw, kind: vector.kind) == vector.seed)
        let decoded = try NKey.decodeSeed(vector.seed)
        #expect(decoded.kind == vector.kind)
        #expect(decoded.seed == vector.raw)
        let privateKey = try Curve25519.Signing.PrivateKey(rawRepresentation: vector.raw)
        let key = NKey(kind: vector.kind, rawPublicKey: Array(privateKey.publicKey.rawRepresentation))
        #expect(key.text == vector.publicKey)
        let parsed = try NKey(publicKey: vector.publicKey, kind: vector.kind)
        #expect(parsed == key)
    }

    @Test(arguments: vectors) func referenceSignaturesVerifyInEveryBase64Form(_ vector: Vector) throws {
        let key = try NKey(publicKey: vector.publicKey)
        let message = Array("nonce-1234".utf8)
        let forms = [
            vector.signature,
            vector.signature.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/") + "==",
        ]
        for form in forms {
            let signature = try #require(LenientBase64.decode(form))
            #expect(key.isValidSignature(signature, for: message))
            #expect(!key.isValidSignature(signature, for: Array("nonce-1235".utf8)))
        }
        var forged = try #require(LenientBase64.decode(vector.signature))
        forged[10] ^= 1
        #expect(!key.isValidSignature(forged, for: message))
        #expect(!key.isValidSignature(Array(forged.prefix(63)), for: message))
    }

    @Test func malformedKeysAreRefusedWithTheReason() {
        let user = Self.vectors[0].publicKey
        #expect(throws: NKey.DecodingError.invalidPrefix) { try NKey(publicKey: user, kind: .account) }
        // One character changed: the CRC no longer matches.
        var changed = Array(user)
        changed[20] = changed[20] == "A" ? "B" : "A"
        #expect(throws: NKey.DecodingError.invalidChecksum) { try NKey(publicKey: String(changed)) }
        #expect(throws: NKey.DecodingError.invalidEncoding) { try NKey(publicKey: user.lowercased()) }
        #expect(throws: NKey.DecodingError.invalidEncoding) { try NKey(publicKey: String(user.dropLast(8))) }
        // A seed is not a public key, and a public key is not a seed.
        #expect(throws: NKey.DecodingError.self) { try NKey(publicKey: Self.vectors[0].seed) }
        #expect(throws: NKey.DecodingError.self) { try NKey.decodeSeed(user) }
    }

    @Test func base32RoundTrips() {
        for length in 0..<12 {
            let bytes = (0..<length).map { UInt8(($0 * 37 + 11) % 256) }
            #expect(Base32.decode(Base32.encode(bytes)) == bytes)
        }
        #expect(Base32.encode(Array("foobar".utf8)) == "MZXW6YTBOI")  // RFC 4648 §10, unpadded
    }
}
