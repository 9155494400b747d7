import BusCore
import FrontendKit
import NIOCore
import NIOEmbedded
import Synchronization
import Testing

@testable import NATSFrontend
@testable import NATSWire

/// NKey and NATS JWT credentials as the handler passes them on: INFO's `nonce` only when the
/// authenticator takes signed challenges, and CONNECT's `nkey`/`sig`/`jwt` reach it with that nonce (the
/// signature checks themselves are SecurityKit's, `NATSOperatorTrustTests`).
@Suite struct NATSNKeyHandlerTests {
    /// Accepts a challenge answer whose signature is "good", and records what it was given.
    final class ChallengeAuthenticator: Authenticator {
        let seen = Mutex<[ClientCredentials]>([])
        let issuesChallenges: Bool
        var allowsAnonymous: Bool { false }

        init(issuesChallenges: Bool) { self.issuesChallenges = issuesChallenges }

        func authenticate(_ credentials: ClientCredentials) -> AuthOutcome {
            seen.withLock { $0.append(credentials) }
            return credentials.challenge?.signature == "good" ? .accepted(ClientIdentity(userID: "u")) : .refused("no")
        }
    }

    static func nonce(inInfo info: String) -> String? {
        let parts = info.split(separator: "\"nonce\":\"", maxSplits: 1)
        guard parts.count == 2 else { return nil }
        return String(parts[1].prefix { $0 != "\"" })
    }

    @Test func infoCarriesANonceOnlyWhenChallengesAreTaken() throws {
        let without = try NATSConnectionHandlerTests(authenticator: ChallengeAuthenticator(issuesChallenges: false))
        #expect(Self.nonce(inInfo: try without.received().text) == nil)
        let first = try NATSConnectionHandlerTests(authenticator: ChallengeAuthenticator(issuesChallenges: true))
        let second = try NATSConnectionHandlerTests(authenticator: ChallengeAuthenticator(issuesChallenges: true))
        let nonce = try #require(Self.nonce(inInfo: try first.received().text))
        // nats-server's form: 11 random bytes, unpadded base64url; a new one per connection.
        #expect(nonce.count == 15)
        #expect(nonce.allSatisfy { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" })
        #expect(Self.nonce(inInfo: try second.received().text) != nonce)
    }

    @Test func connectPassesTheSignedNonceAndTheJWT() throws {
        let authenticator = ChallengeAuthenticator(issuesChallenges: true)
        let harness = try NATSConnectionHandlerTests(authenticator: authenticator)
        let nonce = try #require(Self.nonce(inInfo: try harness.received().text))
        try harness.send("CONNECT {\"nkey\":\"UKEY\",\"sig\":\"good\",\"verbose\":true}\r\n")
        #expect(try harness.received().text == "+OK\r\n")
        #expect(
            authenticator.seen.withLock { $0.last?.challenge }
                == SignedChallenge(nonce: nonce, publicKey: "UKEY", signature: "good"))

        // A user JWT with a signature beside an auth_token: the JWT is the token that is judged.
        let refused = try NATSConnectionHandlerTests(authenticator: authenticator)
        _ = try refused.received()
        try refused.send("CONNECT {\"jwt\":\"eyJ.a.b\",\"sig\":\"bad\",\"auth_token\":\"t\"}\r\n")
        #expect(try refused.received().text == "-ERR 'Authorization Violation'\r\n")
        #expect(authenticator.seen.withLock { $0.last?.token } == "eyJ.a.b")
        #expect(!refused.channel.isActive)
    }

    @Test func nonceIsElevenBytesInUnpaddedBase64URL() {
        #expect(
            NATSServices.base64URL([0xFB, 0xFF, 0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08])
                == "-_8AAQIDBAUGBwg")
        #expect(NATSServices.base64URL(Array("ab".utf8)) == "YWI")
    }

    @Test func connectOptionsReadNKeyAndSignature() throws {
        let text = "{\"nkey\":\"UABC\",\"sig\":\"c2ln\",\"jwt\":\"j\",\"auth_token\":\"t\"}"
        let options = try Array(text.utf8).withUnsafeBytes { try NATSConnectOptions.parse($0) }
        #expect(options.nkey == "UABC")
        #expect(options.signature == "c2ln")
        #expect(options.token == "j")
        var unsigned = options
        unsigned.signature = nil
        #expect(unsigned.token == "t")
    }

    @Test func infoEncodesTheNonce() {
        var info = NATSServerInfo(
            serverID: "S", serverName: "n", version: "2.10.0", host: "h", port: 1, maxPayload: 2, clientID: 3,
            clientIP: nil, authRequired: true)
        info.nonce = "abc-_"
        var buffer = ByteBuffer()
        info.write(to: &buffer)
        #expect(String(buffer: buffer).hasSuffix(",\"auth_required\":true,\"nonce\":\"abc-_\"}\r\n"))
    }
}
