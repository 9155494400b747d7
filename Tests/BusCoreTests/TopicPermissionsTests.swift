import Testing

@testable import BusCore

@Suite struct TopicPermissionsTests {
    private func filters(_ texts: String...) -> [TopicFilter] { texts.map { try! TopicFilter($0) } }

    @Test func unrestrictedAllowsEverything() throws {
        let permissions = TopicPermissions.unrestricted
        #expect(permissions.isUnrestricted)
        #expect(permissions.mayPublish(try Topic("a/b")))
        #expect(permissions.maySubscribe(try TopicFilter("#")))
    }

    @Test func publishNeedsAMatchingFilter() throws {
        let permissions = TopicPermissions(publish: .only(filters("users/alice/#", "chat/+")))
        #expect(permissions.mayPublish(try Topic("users/alice")))
        #expect(permissions.mayPublish(try Topic("users/alice/x/y")))
        #expect(permissions.mayPublish(try Topic("chat/room")))
        #expect(!permissions.mayPublish(try Topic("chat/room/deeper")))
        #expect(!permissions.mayPublish(try Topic("users/bob/x")))
        #expect(permissions.maySubscribe(try TopicFilter("anything/#")))  // subscribe is not restricted
    }

    @Test func anEmptyListAllowsNothing() throws {
        let permissions = TopicPermissions(publish: .only([]), subscribe: .only([]))
        #expect(!permissions.mayPublish(try Topic("a")))
        #expect(!permissions.maySubscribe(try TopicFilter("a")))
        #expect(!permissions.mayRead(try Topic("a")))
    }

    @Test func aSubscriptionMustStayInsideAGrant() throws {
        let permissions = TopicPermissions(subscribe: .only(filters("users/alice/#", "sensors/+/temp")))
        #expect(permissions.maySubscribe(try TopicFilter("users/alice/#")))
        #expect(permissions.maySubscribe(try TopicFilter("users/alice/+/x")))
        #expect(permissions.maySubscribe(try TopicFilter("users/alice")))
        #expect(permissions.maySubscribe(try TopicFilter("sensors/+/temp")))
        #expect(permissions.maySubscribe(try TopicFilter("sensors/kitchen/temp")))
        #expect(!permissions.maySubscribe(try TopicFilter("users/#")))
        #expect(!permissions.maySubscribe(try TopicFilter("users/+/x")))
        #expect(!permissions.maySubscribe(try TopicFilter("sensors/#")))
        #expect(!permissions.maySubscribe(try TopicFilter("sensors/+/+")))
        #expect(!permissions.maySubscribe(try TopicFilter("#")))
        // A shared subscription is judged by its pattern.
        #expect(permissions.maySubscribe(try TopicFilter("$share/g/users/alice/x")))
        #expect(!permissions.maySubscribe(try TopicFilter("$share/g/users/bob/x")))
    }

    @Test func aLeadingWildcardGrantDoesNotReachDollarTopics() throws {
        let permissions = TopicPermissions(publish: .only(filters("#")), subscribe: .only(filters("#")))
        #expect(permissions.maySubscribe(try TopicFilter("a/b")))
        #expect(!permissions.maySubscribe(try TopicFilter("$SYS/#")))
        #expect(!permissions.mayPublish(try Topic("$SYS/x")))
        let system = TopicPermissions(subscribe: .only(filters("$SYS/#")))
        #expect(system.maySubscribe(try TopicFilter("$SYS/broker/+")))
    }

    @Test func orderedACLRulesDecideFirstThenTheLists() throws {
        let acl = TopicACL([
            TopicACL.Rule(allow: false, publish: false, subscribe: true, filter: try TopicFilter("test/nosubscribe")),
            TopicACL.Rule(allow: false, publish: true, subscribe: true, filter: try TopicFilter("secret/#")),
            TopicACL.Rule(allow: true, publish: true, subscribe: true, filter: try TopicFilter("secret/open")),
        ])
        let permissions = TopicPermissions(acl: acl)
        #expect(!permissions.isUnrestricted)
        #expect(!permissions.maySubscribe(try TopicFilter("test/nosubscribe")))
        #expect(permissions.maySubscribe(try TopicFilter("test/other")), "no rule: the lists (all) decide")
        #expect(permissions.mayPublish(try Topic("test/nosubscribe")), "a subscribe rule says nothing of publishing")
        #expect(!permissions.mayPublish(try Topic("secret/open")), "the first matching rule wins")
        #expect(!permissions.maySubscribe(try TopicFilter("secret/+")))
        #expect(permissions.maySubscribe(try TopicFilter("#")), "a rule decides a subscription it covers only")
        #expect(!permissions.mayRead(try Topic("secret/x")))
        // What the broader subscription must not receive is checked per delivery.
        let read = try #require(permissions.readACL)
        #expect(!read.permitsReading(try Topic("secret/x")))
        #expect(!read.permitsReading(try Topic("test/nosubscribe")))
        #expect(read.permitsReading(try Topic("news/today")))
    }

    @Test func allowRulesAloneNeedNoDeliveryCheck() throws {
        let acl = TopicACL([TopicACL.Rule(allow: true, publish: true, subscribe: true, filter: try TopicFilter("a/#"))])
        let permissions = TopicPermissions(publish: .only([]), subscribe: .only([]), acl: acl)
        #expect(permissions.readACL == nil)
        #expect(permissions.mayPublish(try Topic("a/b")))
        #expect(!permissions.mayPublish(try Topic("b")))
        #expect(permissions.maySubscribe(try TopicFilter("a/+")))
        #expect(!permissions.maySubscribe(try TopicFilter("#")))
    }
}
