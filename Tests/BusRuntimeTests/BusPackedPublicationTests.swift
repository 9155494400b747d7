import BusCore
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import Testing

@testable import BusRuntime

/// `LoopShard.publishPlain`: plain publications for one other loop travel packed, and arrive as the
/// messages `publish` would have made, in publish order with whatever else the publisher sent.
@Suite struct BusPackedPublicationTests {
    let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
    var loops: [any EventLoop] { Array(group.makeIterator()) }

    /// Publishes `payload` on `shard` as a frontend does: from a read buffer, at an index past its start.
    private static func publishPlain(_ shard: LoopShard, _ topic: Topic, _ payload: String, publisher: String?) {
        var read = ByteBuffer(string: "PUB x 3\r\n")
        read.moveReaderIndex(forwardBy: 4)
        let index = read.writerIndex
        read.writeString(payload)
        shard.publishPlain(
            topic: topic, payloadIn: read, at: index, length: payload.utf8.count, publisherID: publisher,
            timestamp: 42)
    }

    /// Either way a packed run reaches its subscriber: from its bytes (`deliverPlain`) or as messages.
    @Test(arguments: [false, true])
    func plainPublicationsArriveInOrderAmongOtherPublishes(takesPlain: Bool) async throws {
        let bus = Bus(eventLoops: loops)
        let remote = TestSubscriber(
            eventLoop: loops[1], slot: bus.metrics.slot(for: "test"), takesPlainPublications: takesPlain)
        _ = try await bus.subscribeOnLoop("orders/+", remote)
        let eu = try Topic("orders/eu")
        let us = try Topic("orders/us")
        let large = String(repeating: "x", count: LoopShard.packedPayloadLimit + 1)
        var expected: [(topic: String, payload: String, publisher: String?)] = []
        for i in 0..<600 {
            switch i % 10 {
            case 3: expected.append(("orders/us", "\(i)", "p"))
            case 5: expected.append(("orders/eu", "\(i)", nil))
            case 7: expected.append(("orders/eu", "\(i)" + large, "p"))
            case 9: expected.append(("orders/eu", "\(i)", "q"))
            default: expected.append(("orders/eu", "\(i)", "p"))
            }
        }
        let shard = bus.shards[0]
        try await loops[0].submit {
            for (i, item) in expected.enumerated() {
                let topic = item.topic == "orders/us" ? us : eu
                if i % 10 == 5 {
                    // A message with headers is no plain publication: it closes the packed run.
                    var headers = MessageHeaders()
                    headers.contentType = "text/plain"
                    let payload = ByteBuffer(string: item.payload)
                    shard.publish(BusMessage(topic: topic, payload: payload, headers: headers, timestamp: 42))
                } else {
                    Self.publishPlain(shard, topic, item.payload, publisher: item.publisher)
                }
            }
        }.get()
        #expect(await eventually { remote.messages.count == expected.count })
        let received = remote.messages
        #expect(received.map { String(buffer: $0.payload) } == expected.map(\.payload))
        #expect(received.map(\.topic.name) == expected.map(\.topic))
        #expect(received.map(\.publisherID) == expected.map(\.publisher))
        #expect(received.allSatisfy { $0.timestamp == 42 && $0.position == nil && $0.isPublication })
        // Headers and large payloads travel as messages; the rest packed, from their bytes if taken so.
        #expect(remote.plainDeliveries == (takesPlain ? 600 - 60 - 60 : 0))
    }

    /// A run goes out as messages when one of its subscribers takes messages only; the others still get
    /// every publication, from those messages.
    @Test func aSubscriberThatTakesMessagesOnlyMakesTheRunMessages() async throws {
        let bus = Bus(eventLoops: loops)
        let slot = bus.metrics.slot(for: "test")
        let plain = TestSubscriber(eventLoop: loops[1], slot: slot, takesPlainPublications: true)
        let messages = TestSubscriber(eventLoop: loops[1], slot: slot)
        _ = try await bus.subscribeOnLoop("a", plain)
        _ = try await bus.subscribeOnLoop("a", messages, id: "m")
        let topic = try Topic("a")
        let shard = bus.shards[0]
        try await loops[0].submit {
            for i in 0..<10 { Self.publishPlain(shard, topic, "\(i)", publisher: nil) }
        }.get()
        let expected = (0..<10).map { "\($0)" }
        #expect(await eventually { plain.payloads.count == 10 && messages.payloads.count == 10 })
        #expect(plain.payloads == expected && messages.payloads == expected)
        #expect(plain.plainDeliveries == 0)
    }

    @Test func aPlanWithSubscribersHereDeliversHereAndThere() async throws {
        let bus = Bus(eventLoops: loops)
        let slot = bus.metrics.slot(for: "test")
        let local = TestSubscriber(eventLoop: loops[0], slot: slot)
        let remote = TestSubscriber(eventLoop: loops[1], slot: slot)
        _ = try await bus.subscribeOnLoop("a/b", local)
        _ = try await bus.subscribeOnLoop("a/b", remote)
        let topic = try Topic("a/b")
        let shard = bus.shards[0]
        try await loops[0].submit {
            #expect(shard.plan(for: topic).packedTarget == -1)
            for i in 0..<100 { Self.publishPlain(shard, topic, "\(i)", publisher: nil) }
        }.get()
        let expected = (0..<100).map { "\($0)" }
        #expect(await eventually { local.payloads.count == 100 && remote.payloads.count == 100 })
        #expect(local.payloads == expected)
        #expect(remote.payloads == expected)
    }

    /// Subscribers on the publisher's own loop that take plain publications get them from the read buffer,
    /// written during the publish and flushed once for the batch; no-local still applies.
    @Test func plainPublicationsHereAreWrittenFromTheReadBuffer() async throws {
        let bus = Bus(eventLoops: loops)
        let slot = bus.metrics.slot(for: "test")
        let plain = TestSubscriber(eventLoop: loops[0], slot: slot, takesPlainPublications: true)
        let mine = TestSubscriber(eventLoop: loops[0], slot: slot, takesPlainPublications: true)
        _ = try await bus.subscribeOnLoop("a/b", plain)
        _ = try await bus.subscribeOnLoop("a/b", mine, id: "me", options: SubscriptionOptions(noLocal: true))
        let topic = try Topic("a/b")
        let shard = bus.shards[0]
        try await loops[0].submit {
            #expect(shard.plan(for: topic).localTakesPlain)
            for i in 0..<100 { Self.publishPlain(shard, topic, "\(i)", publisher: i % 2 == 0 ? "me" : "you") }
        }.get()
        let expected = (0..<100).map { "\($0)" }
        #expect(await eventually { plain.payloads.count == 100 && mine.payloads.count == 50 && plain.flushes > 0 })
        #expect(plain.payloads == expected)
        #expect(mine.payloads == expected.enumerated().filter { $0.offset % 2 == 1 }.map(\.element))
        #expect(plain.plainDeliveries == 100 && mine.plainDeliveries == 50)
        #expect(plain.flushes == 1)
        #expect(plain.messages.allSatisfy { $0.topic.name == "a/b" && $0.timestamp == 42 })
    }

    /// Plain publications for this loop's own subscribers are held in the local run and written when the
    /// read ends (`flushWritten`), subscriber by subscriber: each gets the whole run in publish order before
    /// the next gets any; anything else published meanwhile closes the run first, so order holds.
    @Test func aLocalRunIsWrittenSubscriberBySubscriberWhenTheReadEnds() async throws {
        let bus = Bus(eventLoops: loops)
        let slot = bus.metrics.slot(for: "test")
        let first = TestSubscriber(eventLoop: loops[0], slot: slot, takesPlainPublications: true)
        let second = TestSubscriber(eventLoop: loops[0], slot: slot, takesPlainPublications: true)
        _ = try await bus.subscribeOnLoop("a/b", first, id: "1")
        _ = try await bus.subscribeOnLoop("a/b", second, id: "2")
        let journal = NIOLockedValueBox<[String]>([])
        first.onPlainDelivery = { payload in journal.withLockedValue { $0.append("1:" + payload) } }
        second.onPlainDelivery = { payload in journal.withLockedValue { $0.append("2:" + payload) } }
        let topic = try Topic("a/b")
        let shard = bus.shards[0]
        let heldUntilTheReadEnds = try await loops[0].submit { () -> Bool in
            for i in 0..<3 { Self.publishPlain(shard, topic, "\(i)", publisher: nil) }
            let held = first.plainDeliveries == 0 && second.plainDeliveries == 0
            shard.flushWritten()
            // A message with headers closes the run it follows: written after the run's messages.
            var headers = MessageHeaders()
            headers.contentType = "text/plain"
            Self.publishPlain(shard, topic, "3", publisher: nil)
            shard.publish(BusMessage(topic: topic, payload: ByteBuffer(string: "4"), headers: headers, timestamp: 42))
            return held
        }.get()
        #expect(heldUntilTheReadEnds)
        #expect(await eventually { first.payloads.count == 5 && second.payloads.count == 5 })
        #expect(first.payloads == ["0", "1", "2", "3", "4"] && second.payloads == ["0", "1", "2", "3", "4"])
        let written = journal.withLockedValue { $0 }
        #expect(
            written == ["1:0", "1:1", "1:2", "2:0", "2:1", "2:2", "1:3", "2:3"]
                || written == ["2:0", "2:1", "2:2", "1:0", "1:1", "1:2", "2:3", "1:3"])
    }

    /// A delivery that changes the registry (a connection it ends unsubscribes) and publishes elsewhere (its
    /// presence event) replaces `lastPlan`; the plan being delivered stays alive until its loop is done.
    @Test func aDeliveryThatReplacesTheLastPlanDoesNotFreeThePlanItIsDelivering() async throws {
        let bus = Bus(eventLoops: loops)
        let slot = bus.metrics.slot(for: "test")
        let ending = TestSubscriber(eventLoop: loops[0], slot: slot, takesPlainPublications: true)
        let staying = TestSubscriber(eventLoop: loops[0], slot: slot, takesPlainPublications: true)
        let endingSubscription = try await bus.subscribeOnLoop("a/b", ending, id: "e").value.subscription
        _ = try await bus.subscribeOnLoop("a/b", staying, id: "s")
        let topic = try Topic("a/b")
        let elsewhere = try Topic("presence/x")
        let shard = bus.shards[0]
        let planAlive = try await loops[0].submit { () -> Bool in
            weak var delivering = shard.plan(for: topic)
            #expect(delivering?.localTakesPlain == true)
            var aliveDuringDelivery = false
            ending.duringNextPlainDelivery = {
                bus.unsubscribe(endingSubscription)
                _ = shard.publish(BusMessage(topic: elsewhere, payload: ByteBuffer(string: "left"), timestamp: 1))
                aliveDuringDelivery = delivering != nil
            }
            Self.publishPlain(shard, topic, "1", publisher: nil)
            // The read ends, as a frontend ends it: the local run is written now.
            shard.flushWritten()
            return aliveDuringDelivery
        }.get()
        #expect(planAlive)
        #expect(await eventually { staying.payloads == ["1"] && ending.payloads == ["1"] })
        try await loops[0].submit { Self.publishPlain(shard, topic, "2", publisher: nil) }.get()
        #expect(await eventually { staying.payloads == ["1", "2"] })
        #expect(ending.payloads == ["1"])
    }

    @Test func noLocalStillSkipsThePublishersOwnPackedMessages() async throws {
        let bus = Bus(eventLoops: loops)
        let subscriber = TestSubscriber(eventLoop: loops[1], slot: bus.metrics.slot(for: "test"))
        _ = try await bus.subscribeOnLoop("a", subscriber, id: "me", options: SubscriptionOptions(noLocal: true))
        let topic = try Topic("a")
        let shard = bus.shards[0]
        try await loops[0].submit {
            #expect(shard.plan(for: topic).packedTarget == 1)
            Self.publishPlain(shard, topic, "mine", publisher: "me")
            Self.publishPlain(shard, topic, "theirs", publisher: "other")
        }.get()
        #expect(await eventually { subscriber.payloads == ["theirs"] })
    }
}
