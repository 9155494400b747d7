import FrontendKit
import NIOCore
import NIOPosix
import Testing

@testable import SecurityKit

/// `prepare` moves every password hash off the event loop: afterwards `authenticate` answers from the
/// caches (for a right password, a wrong one and an unknown user alike), and a second `prepare` for the
/// same credentials has nothing left to do.
@Suite struct AuthenticatorPrepareTests {
    let hash = try! PasswordHash.make(password: "alice-pw", rounds: 1_000).description

    func authenticator() throws -> SwitchboardAuthenticator {
        try SwitchboardAuthenticator(
            settings: SecuritySettings(users: [SecuritySettings.User(name: "alice", password_hash: hash)]),
            anonymous: false)
    }

    @Test(arguments: [("alice", "alice-pw", true), ("alice", "wrong", false), ("mallory", "guess", false)])
    func preparedCredentialsAnswerWithoutHashing(name: String, password: String, accepted: Bool) async throws {
        let authenticator = try authenticator()
        let loop = MultiThreadedEventLoopGroup.singleton.any()
        let credentials = ClientCredentials(username: name, password: password)
        let preparing = try #require(authenticator.prepare(credentials, on: loop))
        try await preparing.get()
        #expect(authenticator.prepare(credentials, on: loop) == nil)
        if case .accepted = authenticator.authenticate(credentials) { #expect(accepted) } else { #expect(!accepted) }
    }

    @Test func tokensAndAnonymousHaveNothingToPrepare() throws {
        let authenticator = try authenticator()
        let loop = MultiThreadedEventLoopGroup.singleton.any()
        #expect(authenticator.prepare(ClientCredentials(), on: loop) == nil)
        #expect(authenticator.prepare(ClientCredentials(token: "a.b.c"), on: loop) == nil)
    }
}
