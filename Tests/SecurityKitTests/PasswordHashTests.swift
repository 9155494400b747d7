import Foundation
import Testing

@testable import SecurityKit

@Suite struct PasswordHashTests {
    @Test func derivesTheKnownPBKDF2SHA256Vector() throws {
        // PBKDF2-HMAC-SHA256("password", "salt", 1 round, 32 bytes), the widely published vector.
        let key = try PasswordHash.derive("password", salt: Array("salt".utf8), rounds: 1)
        let hex = key.map { String(format: "%02x", $0) }.joined()
        #expect(hex == "120fb6cffcf8b32c43e7225256c4f837a86548c92ccc35480805987cb70be17b")
    }

    @Test func verifiesTheRightPasswordOnly() throws {
        let hash = try PasswordHash.make(password: "s3cret", rounds: 1_000)
        #expect(hash.verify("s3cret"))
        #expect(!hash.verify("s3cret "))
        #expect(!hash.verify(""))
    }

    @Test func saltsEveryHash() throws {
        let first = try PasswordHash.make(password: "same", rounds: 1_000)
        let second = try PasswordHash.make(password: "same", rounds: 1_000)
        #expect(first.salt != second.salt)
        #expect(first.hash != second.hash)
    }

    @Test func roundTripsThroughItsStoredForm() throws {
        let hash = try PasswordHash.make(password: "pw", rounds: 1_234)
        let text = hash.description
        #expect(text.hasPrefix("pbkdf2-sha256$1234$"))
        let parsed = try #require(PasswordHash(parsing: text))
        #expect(parsed == hash)
        #expect(parsed.verify("pw"))
    }

    @Test func refusesMalformedOrWeakStoredForms() {
        #expect(PasswordHash(parsing: "plaintext") == nil)
        #expect(PasswordHash(parsing: "pbkdf2-sha256$10$c2FsdHNhbHQ=$" + String(repeating: "A", count: 44)) == nil)
        #expect(PasswordHash(parsing: "bcrypt$600000$c2FsdHNhbHQ=$AAAA") == nil)
        #expect(PasswordHash(parsing: "pbkdf2-sha256$600000$c2FsdHNhbHQ=$AAAA") == nil)  // hash too short
    }
}
