import BusCore
import NIOCore
import NIOPosix
import Testing

@testable import BusRuntime

@Suite struct BusHistoryTests {
    let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
    var loops: [any EventLoop] { Array(group.makeIterator()) }

    func makeBus() throws -> Bus {
        Bus(
            eventLoops: loops,
            configuration: BusConfiguration(
                history: HistoryPolicy(rules: [
                    .init(filter: try TopicFilter("chat/#"), limits: HistoryLimits(count: 100_000))
                ]),
                presence: PresencePolicy(filters: [try TopicFilter("chat/#")])))
    }

    @Test func publishAssignsOffsetsAndHistoryReads() async throws {
        let bus = try makeBus()
        var last: LogPosition?
        for i in 1...5 {
            last = try await bus.publishOnLoop("chat/a", "\(i)", loop: loops[i % 2]).position
            #expect(last?.offset == UInt64(i))
        }
        let topic = try Topic("chat/a")
        let read = try #require(bus.readHistory(topic, after: nil, limit: 2))
        #expect(read.messages.map { String(buffer: $0.payload) } == ["4", "5"])
        let since = try #require(bus.readHistory(topic, after: LogPosition(offset: 2, epoch: last!.epoch), limit: 100))
        #expect(since.recovered == true)
        #expect(since.messages.map { String(buffer: $0.payload) } == ["3", "4", "5"])
        let wrongEpoch = try #require(bus.readHistory(topic, after: LogPosition(offset: 2, epoch: "nope"), limit: 100))
        #expect(wrongEpoch.recovered == false)
        #expect(bus.readHistory(try Topic("other"), after: nil, limit: 1) == nil)
        // Reading a topic that has history configured but no messages yet gives a real, empty position.
        let unseen = try #require(bus.readHistory(try Topic("chat/never"), after: nil, limit: 1))
        #expect(unseen.messages.isEmpty && unseen.position.offset == 0 && !unseen.position.epoch.isEmpty)
    }

    /// Publishing races the subscription; history + live must still hold every message exactly once.
    @Test func recoveryWhilePublishingLosesAndDuplicatesNothing() async throws {
        let bus = try makeBus()
        let slot = bus.metrics.slot(for: "test")
        for i in 0..<50 { _ = try await bus.publishOnLoop("chat/race", "\(i)", loop: loops[1]) }
        let first = try #require(bus.readHistory(try Topic("chat/race"), after: nil, limit: 1).map(\.position))
        // Keep publishing from the other loop while subscribing with a recovery position.
        let topic = try Topic("chat/race")
        let publisherLoop = loops[1]
        let publishing = publisherLoop.submit {
            for i in 50..<2050 {
                bus.publish(
                    BusMessage(topic: topic, payload: ByteBuffer(string: "\(i)"), timestamp: 0), on: publisherLoop)
            }
        }
        let subscriber = TestSubscriber(eventLoop: loops[0], slot: slot)
        let result = try await bus.subscribeOnLoop(
            "chat/race", subscriber, history: .recover(LogPosition(offset: 10, epoch: first.epoch), fallback: 0))
        try await publishing.get()
        #expect(result.value.recovered == true)
        let fromHistory = result.value.messages.map { String(buffer: $0.payload) }
        #expect(await eventually { fromHistory.count + subscriber.payloads.count >= 2040 })
        try await Task.sleep(for: .milliseconds(50))
        let all = fromHistory + subscriber.payloads
        #expect(all == (10..<2050).map { "\($0)" })
    }

    @Test func logCountIsCapped() async throws {
        let bus = Bus(
            eventLoops: loops,
            configuration: BusConfiguration(
                history: HistoryPolicy(rules: [.init(filter: try TopicFilter("#"), limits: HistoryLimits(count: 10))]),
                maxHistoryTopics: 3))
        for i in 0..<10 { _ = bus.readHistory(try Topic("t/\(i)"), after: nil, limit: 1) }
        #expect(bus.history.topicCount == 3)
    }

    @Test func presenceJoinAndLeaveEvents() async throws {
        let bus = try makeBus()
        let slot = bus.metrics.slot(for: "test")
        let watcher = TestSubscriber(eventLoop: loops[0], slot: slot)
        _ = try await bus.subscribeOnLoop("chat/room", watcher, id: "w", presence: info("w"))
        let other = TestSubscriber(eventLoop: loops[1], slot: slot)
        let joined = try await bus.subscribeOnLoop("chat/room", other, id: "o", presence: info("o"))
        let topic = try Topic("chat/room")
        #expect(Set(bus.presence.clients(of: topic).map(\.clientID)) == ["w", "o"])
        let subscription = joined.value.subscription
        try await loops[1].submit { bus.unsubscribe(subscription, presenceClientID: "o") }.get()
        #expect(bus.presence.clients(of: topic).map(\.clientID) == ["w"])
        #expect(
            await eventually {
                watcher.messages.compactMap { message -> String? in
                    switch message.kind {
                    case .join(let who): "join \(who.clientID)"
                    case .leave(let who): "leave \(who.clientID)"
                    case .publish: nil
                    }
                } == ["join w", "join o", "leave o"]
            })
        // Presence events are not history.
        #expect(bus.readHistory(topic, after: nil, limit: 10)?.messages.isEmpty == true)
    }

    /// A channel listed but not announced (the server's default): presence queries answer, subscribers
    /// get no join or leave events.
    @Test func listedPresenceAnnouncesNothing() async throws {
        let bus = Bus(
            eventLoops: loops,
            configuration: BusConfiguration(
                presence: PresencePolicy(listed: [try TopicFilter("#")], announced: [try TopicFilter("loud/#")])))
        let slot = bus.metrics.slot(for: "test")
        let watcher = TestSubscriber(eventLoop: loops[0], slot: slot)
        _ = try await bus.subscribeOnLoop("quiet", watcher, id: "w", presence: info("w"))
        let loud = TestSubscriber(eventLoop: loops[0], slot: slot)
        _ = try await bus.subscribeOnLoop("loud/a", loud, id: "l", presence: info("l"))
        let other = TestSubscriber(eventLoop: loops[1], slot: slot)
        _ = try await bus.subscribeOnLoop("quiet", other, id: "o", presence: info("o"))
        _ = try await bus.subscribeOnLoop("loud/a", other, id: "o", presence: info("o"))
        #expect(Set(bus.presence.clients(of: try Topic("quiet")).map(\.clientID)) == ["w", "o"])
        #expect(await eventually { loud.messages.count == 2 })  // "join l", "join o"
        _ = try await bus.publishOnLoop("quiet", "after", loop: loops[1])
        #expect(await eventually { watcher.payloads == ["after"] })
        #expect(watcher.messages.count == 1)
    }

    func info(_ id: String) -> PresenceInfo {
        PresenceInfo(clientID: id, userID: nil, name: nil, protocolName: "test", connectedAt: 0, remoteAddress: nil)
    }
}

@Suite struct BusHistoryOrderingTests {
    let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
    var loops: [any EventLoop] { Array(group.makeIterator()) }

    /// Publishers on both loops write one history topic: every subscriber sees offsets strictly
    /// ascending, so resuming from the newest offset seen can never skip an older message.
    @Test func deliveriesLeaveInOffsetOrderAcrossPublisherLoops() async throws {
        let bus = Bus(
            eventLoops: loops,
            configuration: BusConfiguration(
                history: HistoryPolicy(rules: [
                    .init(filter: try TopicFilter("h/#"), limits: HistoryLimits(count: 100_000))
                ])))
        let slot = bus.metrics.slot(for: "test")
        let subscribers = [
            TestSubscriber(eventLoop: loops[0], slot: slot), TestSubscriber(eventLoop: loops[1], slot: slot),
        ]
        for subscriber in subscribers { _ = try await bus.subscribeOnLoop("h/t", subscriber) }
        let topic = try Topic("h/t")
        let publishers = loops.map { loop in
            loop.submit {
                for i in 0..<2000 {
                    bus.publish(BusMessage(topic: topic, payload: ByteBuffer(string: "\(i)"), timestamp: 0), on: loop)
                }
            }
        }
        for publisher in publishers { try await publisher.get() }
        #expect(await eventually { subscribers.allSatisfy { $0.messages.count == 4000 } })
        for subscriber in subscribers {
            let offsets = subscriber.messages.compactMap { $0.position?.offset }
            #expect(offsets == Array(1...4000))
        }
    }
}
