import BusCore
import NIOCore
import NIOPosix
import Testing

@testable import BusRuntime

/// Answers every request with its payload reversed.
final class Responder: BusSubscriber, @unchecked Sendable {
    let eventLoop: any EventLoop
    let metricsSlot: ProtocolMetricsSlot
    var deliveryMark: UInt64 = 0
    unowned let bus: Bus

    init(bus: Bus, eventLoop: any EventLoop) {
        self.bus = bus
        self.eventLoop = eventLoop
        self.metricsSlot = bus.metrics.slot(for: "test")
    }

    func deliver(_ message: BusMessage, for subscription: BusSubscription, context: inout DeliveryContext)
        -> DeliveryOutcome
    {
        guard let reply = message.headers.replyTo else { return .skipped }
        let answer = String(String(buffer: message.payload).reversed())
        bus.publish(
            BusMessage(topic: try! Topic(reply), payload: ByteBuffer(string: answer), timestamp: 0), on: eventLoop)
        return .delivered(bytes: 0)
    }

    func flushDeliveries() {}
}

@Suite struct BusRequestTests {
    let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
    var loops: [any EventLoop] { Array(group.makeIterator()) }

    @Test func requestGetsReply() async throws {
        let bus = Bus(eventLoops: loops)
        let responder = Responder(bus: bus, eventLoop: loops[1])
        let filter = try TopicFilter("svc/echo")
        try await loops[1].submit { _ = bus.subscribe(filter, subscriber: responder, subscriberID: "r") }.get()
        let topic = try Topic("svc/echo")
        let loop = loops[0]
        let reply = try await loop.flatSubmit {
            bus.request(
                topic: topic, payload: ByteBuffer(string: "abc"), requesterID: "q", timeout: .seconds(2), on: loop)
        }.get()
        #expect(String(buffer: reply.payload) == "cba")
    }

    @Test func repliesArePrivateFromWildcardSubscribers() async throws {
        let bus = Bus(eventLoops: loops)
        let responder = Responder(bus: bus, eventLoop: loops[1])
        let filter = try TopicFilter("svc/echo")
        try await loops[1].submit { _ = bus.subscribe(filter, subscriber: responder, subscriberID: "r") }.get()
        let snoop = TestSubscriber(eventLoop: loops[0], slot: bus.metrics.slot(for: "test"))
        _ = try await bus.subscribeOnLoop("#", snoop)
        let topic = try Topic("svc/echo")
        let loop = loops[0]
        _ = try await loop.flatSubmit {
            bus.request(
                topic: topic, payload: ByteBuffer(string: "abc"), requesterID: "q", timeout: .seconds(2), on: loop)
        }.get()
        try await Task.sleep(for: .milliseconds(20))
        // The wildcard subscriber sees the request (it could answer it), never the reply.
        #expect(snoop.payloads == ["abc"])
    }

    @Test func noRespondersFailsAtOnce() async throws {
        let bus = Bus(eventLoops: loops)
        let topic = try Topic("svc/none")
        let loop = loops[0]
        // `noResponders`, not `timeout`, with a timeout no test run reaches: the failure came at once.
        await #expect(throws: BusError.noResponders) {
            try await loop.flatSubmit {
                bus.request(topic: topic, payload: ByteBuffer(), requesterID: nil, timeout: .seconds(600), on: loop)
            }.get()
        }
        #expect(bus.registry.count == 0)  // the reply inbox was removed
    }

    @Test func silentResponderTimesOut() async throws {
        let bus = Bus(eventLoops: loops)
        let silent = TestSubscriber(eventLoop: loops[1], slot: bus.metrics.slot(for: "test"))
        _ = try await bus.subscribeOnLoop("svc/slow", silent)
        let topic = try Topic("svc/slow")
        let loop = loops[0]
        await #expect(throws: BusError.timeout) {
            try await loop.flatSubmit {
                bus.request(
                    topic: topic, payload: ByteBuffer(), requesterID: nil, timeout: .milliseconds(100), on: loop)
            }.get()
        }
        #expect(bus.registry.count == 1)  // only the silent subscriber is left
    }
}
