import BusCore
import FrontendKit
import Testing

@testable import SecurityKit

@Suite struct SwitchboardAuthenticatorTests {
    static let aliceHash = try! PasswordHash.make(password: "alice-pw", rounds: 1_000).description

    private func authenticator(anonymous: Bool = false, settings: SecuritySettings? = nil) throws
        -> SwitchboardAuthenticator
    {
        let settings =
            settings
            ?? SecuritySettings(
                users: [
                    SecuritySettings.User(
                        name: "alice", password_hash: Self.aliceHash, roles: ["device"],
                        publish: ["users/{user}/#"], subscribe: ["users/{user}/#"])
                ],
                roles: ["device": SecuritySettings.Role(publish: ["devices/{client}/status"], subscribe: ["news/#"])],
                anonymous_permissions: SecuritySettings.Rules(publish: [], subscribe: ["public/#"]))
        return try SwitchboardAuthenticator(settings: settings, anonymous: anonymous, tokens: ["tok": "tokuser"])
    }

    @Test func staticUserWithRightPasswordGetsRoleAndOwnRules() throws {
        let outcome = try authenticator().authenticate(
            ClientCredentials(username: "alice", password: "alice-pw", clientID: "c1"))
        let identity = try #require(outcome.identity)
        #expect(identity.userID == "alice")
        #expect(identity.roles == ["device"])
        let permissions = identity.permissions
        #expect(permissions.mayPublish(try Topic("users/alice/x")))
        #expect(permissions.mayPublish(try Topic("devices/c1/status")))
        #expect(!permissions.mayPublish(try Topic("devices/c2/status")))
        #expect(!permissions.mayPublish(try Topic("users/bob/x")))
        #expect(permissions.maySubscribe(try TopicFilter("news/+")))
        #expect(!permissions.maySubscribe(try TopicFilter("#")))
    }

    @Test func wrongPasswordOrUnknownUserIsRefused() throws {
        let auth = try authenticator()
        #expect(
            auth.authenticate(ClientCredentials(username: "alice", password: "nope"))
                == .refused("bad user name or password"))
        #expect(auth.authenticate(ClientCredentials(username: "alice")) == .refused("bad user name or password"))
        #expect(
            auth.authenticate(ClientCredentials(username: "mallory", password: "x"))
                == .refused("bad user name or password"))
        // The cached fast path must not accept a wrong password either.
        #expect(auth.authenticate(ClientCredentials(username: "alice", password: "alice-pw")).identity != nil)
        #expect(auth.authenticate(ClientCredentials(username: "alice", password: "alice-pw2")).identity == nil)
    }

    @Test func anUnknownUserIsToldTheSameAsAWrongPassword() throws {
        let auth = try authenticator()
        #expect(
            auth.authenticate(ClientCredentials(username: "ghost", password: "x"))
                == .refused("bad user name or password"))
        // A JWT-shaped password keeps the token's own reason.
        #expect(auth.authenticate(ClientCredentials(username: "ghost", password: "a.b.c")) == .refused("invalid token"))
    }

    @Test func anonymousFollowsTheSettingAndItsRules() throws {
        #expect(
            try authenticator(anonymous: false).authenticate(ClientCredentials())
                == .refused("credentials are required"))
        let identity = try #require(try authenticator(anonymous: true).authenticate(ClientCredentials()).identity)
        #expect(identity.isAnonymous)
        #expect(!identity.permissions.mayPublish(try Topic("public/x")))
        #expect(identity.permissions.maySubscribe(try TopicFilter("public/#")))
    }

    @Test func staticTokensStillWork() throws {
        let auth = try authenticator()
        #expect(auth.authenticate(token: "tok").identity?.userID == "tokuser")
        #expect(auth.authenticate(token: "bad") == .refused("invalid token"))
    }

    @Test func aPlaceholderValueCannotWidenAFilter() throws {
        let settings = SecuritySettings(
            users: [SecuritySettings.User(name: "a/#", password_hash: Self.aliceHash, publish: ["users/{user}/x"])])
        let auth = try authenticator(settings: settings)
        let identity = try #require(
            auth.authenticate(ClientCredentials(username: "a/#", password: "alice-pw")).identity)
        #expect(identity.permissions.publish == .only([]))
        #expect(PermissionTemplate.substitute("u/{client}", user: "x", client: "c+d") == nil)
        #expect(PermissionTemplate.substitute("u/{client}", user: "x", client: "cd") == "u/cd")
    }

    @Test func mTLSSubjectIsTheUser() throws {
        let identity = try #require(
            try authenticator().authenticate(ClientCredentials(certificateSubject: "alice")).identity)
        #expect(identity.userID == "alice")
        #expect(identity.roles == ["device"])
    }

    @Test func configurationMistakesAreNamed() {
        #expect(throws: SecurityConfigurationError.self) {
            try SwitchboardAuthenticator(
                settings: SecuritySettings(users: [SecuritySettings.User(name: "x", password_hash: "plain")]),
                anonymous: false)
        }
        #expect(throws: SecurityConfigurationError.self) {
            try SwitchboardAuthenticator(
                settings: SecuritySettings(
                    users: [SecuritySettings.User(name: "x", password_hash: Self.aliceHash, roles: ["ghost"])]),
                anonymous: false)
        }
        #expect(throws: SecurityConfigurationError.self) {
            try SwitchboardAuthenticator(
                settings: SecuritySettings(default_permissions: SecuritySettings.Rules(publish: ["a/#/b"])),
                anonymous: false)
        }
    }

    @Test func aclEntriesResolveInOrderWithPlaceholders() throws {
        let settings = SecuritySettings(
            users: [
                SecuritySettings.User(
                    name: "alice", password_hash: Self.aliceHash, roles: ["device"],
                    acl: [
                        SecuritySettings.ACLEntry(
                            permission: "deny", action: "subscribe", topics: ["users/{user}/private"])
                    ])
            ],
            roles: [
                "device": SecuritySettings.Role(
                    acl: [SecuritySettings.ACLEntry(permission: "allow", action: "all", topics: ["users/{user}/#"])])
            ],
            anonymous_permissions: SecuritySettings.Rules(
                acl: [SecuritySettings.ACLEntry(permission: "deny", action: "subscribe", topics: ["test/nosubscribe"])])
        )
        let authenticator = try SwitchboardAuthenticator(settings: settings, anonymous: true)
        let alice = try #require(
            authenticator.authenticate(ClientCredentials(username: "alice", password: "alice-pw", clientID: "c"))
                .identity)
        #expect(!alice.permissions.maySubscribe(try TopicFilter("users/alice/private")), "own rules first")
        #expect(alice.permissions.maySubscribe(try TopicFilter("users/alice/#")))
        let anonymous = try #require(authenticator.authenticate(ClientCredentials(clientID: "x")).identity)
        #expect(!anonymous.permissions.maySubscribe(try TopicFilter("test/nosubscribe")))
        #expect(anonymous.permissions.maySubscribe(try TopicFilter("test/other")))
    }

    @Test func badACLEntriesAreRefusedAtStartup() {
        for entry in [
            SecuritySettings.ACLEntry(permission: "maybe", action: "all", topics: ["a"]),
            SecuritySettings.ACLEntry(permission: "deny", action: "read", topics: ["a"]),
            SecuritySettings.ACLEntry(permission: "deny", action: "all", topics: ["a/#/b"]),
        ] {
            #expect(throws: SecurityConfigurationError.self) {
                _ = try SwitchboardAuthenticator(
                    settings: SecuritySettings(default_permissions: SecuritySettings.Rules(acl: [entry])),
                    anonymous: true)
            }
        }
    }
}

/// Virtual-host permissions (`vhosts`) from a user, its roles and the defaults, with `{user}` escaped.
@Suite struct VirtualHostPermissionTests {
    @Test func sourcesUniteAndUserIsFilledInEscaped() throws {
        let hash = SwitchboardAuthenticatorTests.aliceHash
        let settings = SecuritySettings(
            users: [
                SecuritySettings.User(
                    name: "al.ice", password_hash: hash, roles: ["worker"],
                    vhosts: ["/": SecuritySettings.VirtualHostRule(configure: "^{user}-", write: ".*")]),
                SecuritySettings.User(name: "plain", password_hash: hash),
            ],
            roles: ["worker": SecuritySettings.Role(vhosts: ["jobs": SecuritySettings.VirtualHostRule(read: "^q$")])])
        let auth = try SwitchboardAuthenticator(settings: settings, anonymous: false)
        let identity = try #require(
            auth.authenticate(ClientCredentials(username: "al.ice", password: "alice-pw")).identity)
        let resources = identity.permissions.resources
        #expect(resources.mayOpen("/") && resources.mayOpen("jobs") && !resources.mayOpen("other"))
        #expect(resources.may(.configure, "al.ice-inbox", in: "/"))
        #expect(!resources.may(.configure, "alXice-inbox", in: "/"))  // the dot is literal
        #expect(!resources.may(.read, "al.ice-inbox", in: "/"))  // no read rule: nothing
        #expect(resources.may(.read, "q", in: "jobs"))
        let plain = try #require(
            auth.authenticate(ClientCredentials(username: "plain", password: "alice-pw")).identity)
        #expect(plain.permissions.resources.isUnrestricted)
    }

    @Test func aBadExpressionIsNamed() {
        let settings = SecuritySettings(
            default_permissions: SecuritySettings.Rules(vhosts: ["/": SecuritySettings.VirtualHostRule(read: "(")]))
        #expect(throws: SecurityConfigurationError.self) {
            try SwitchboardAuthenticator(settings: settings, anonymous: true)
        }
    }
}
