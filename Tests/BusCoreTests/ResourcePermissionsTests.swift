import Testing

@testable import BusCore

/// RabbitMQ's configure/write/read permissions per virtual host (its Access Control guide): expressions
/// searched unanchored, the empty one matching nothing, the default exchange checked as `amq.default`.
@Suite struct ResourcePermissionsTests {
    let alice = ResourcePermissions(grants: [
        "/": [.init(configure: "^alice-", write: "^(alice-.*|amq\\.default)$", read: "")],
        "tenant-a": [.init(configure: "", write: "", read: "jobs"), .init(configure: "", write: "", read: "^logs$")],
    ])

    @Test func noRuleIsEveryVirtualHostAndResource() {
        let open = ResourcePermissions.unrestricted
        #expect(open.isUnrestricted && open.mayOpen("anything"))
        #expect(open.may(.configure, "q", in: "x"))
    }

    @Test func onlyListedVirtualHostsOpen() {
        #expect(alice.mayOpen("/") && alice.mayOpen("tenant-a"))
        #expect(!alice.mayOpen("tenant-b"))
        #expect(!alice.may(.read, "q", in: "tenant-b"))
    }

    @Test func expressionsAreSearchedUnanchoredAndEmptyMatchesNothing() {
        #expect(alice.may(.configure, "alice-inbox", in: "/"))
        #expect(!alice.may(.configure, "bob-alice-inbox", in: "/"))  // anchored by its ^
        #expect(alice.may(.read, "old-jobs-2", in: "tenant-a"))  // unanchored: found inside
        #expect(!alice.may(.read, "alice-inbox", in: "/"))  // "" allows nothing
        #expect(alice.may(.read, "logs", in: "tenant-a") && !alice.may(.read, "logs2", in: "tenant-a"))
    }

    @Test func theDefaultExchangeIsAmqDefault() {
        #expect(alice.may(.write, "", in: "/"))
        #expect(!alice.may(.write, "amq.fanout", in: "/"))
    }

    @Test func escapingKeepsAUserNameLiteral() {
        let pattern = "^" + ResourcePermissions.escapedPattern("a.b*(c)") + "-"
        let permissions = ResourcePermissions(grants: ["/": [.init(configure: pattern, write: "", read: "")]])
        #expect(permissions.may(.configure, "a.b*(c)-q", in: "/"))
        #expect(!permissions.may(.configure, "axbbbc-q", in: "/"))
        #expect(ResourcePermissions.isValidPattern("^a.*$") && !ResourcePermissions.isValidPattern("(unclosed"))
    }

    @Test func aRefusalIsRabbitMQs() {
        #expect(throws: Never.self) { try alice.check(.configure, "queue", "alice-q", in: "/", user: "alice") }
        do {
            try alice.check(.write, "exchange", "", in: "tenant-a", user: nil)
            Issue.record("allowed")
        } catch {
            #expect(error.kind == .accessRefused)
            #expect(error.text == "access to exchange 'amq.default' in vhost 'tenant-a' refused for user 'guest'")
        }
    }
}
