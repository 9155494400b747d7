import BusCore
import FrontendKit
import NIOCore

/// The server's authenticator with session membership as a rule input (issue 21): every identity it
/// accepts that does not see everything (not an admin, on a server with credentials configured) gets a
/// `SessionGate`, so each protocol's own permission checks keep the `sessions/<id>/…` channels to the
/// session's participants.
struct SessionGatedAuthenticator: Authenticator {
    let base: any Authenticator
    let directory: SessionDirectory

    var allowsAnonymous: Bool { base.allowsAnonymous }
    var isSecured: Bool { base.isSecured }
    var issuesChallenges: Bool { base.issuesChallenges }

    func authenticate(_ credentials: ClientCredentials) -> AuthOutcome {
        switch base.authenticate(credentials) {
        case .accepted(let identity): .accepted(gated(identity))
        case .refused(let reason): .refused(reason)
        }
    }

    func prepare(_ credentials: ClientCredentials, on loop: any EventLoop) -> EventLoopFuture<Void>? {
        base.prepare(credentials, on: loop)
    }

    func identity(ofUser name: String, clientID: String?) -> ClientIdentity? {
        base.identity(ofUser: name, clientID: clientID).map(gated)
    }

    private func gated(_ identity: ClientIdentity) -> ClientIdentity {
        guard !identity.isAdmin, !identity.seesEveryRecord else { return identity }
        var gated = identity
        gated.permissions.sessions = SessionGate(directory: directory, user: identity.userID, roles: identity.roles)
        return gated
    }
}
