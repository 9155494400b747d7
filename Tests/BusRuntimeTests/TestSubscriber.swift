import BusCore
import NIOConcurrencyHelpers
import NIOCore

@testable import BusRuntime

/// Records what the bus delivers to it; readable from any thread.
final class TestSubscriber: BusSubscriber, @unchecked Sendable {
    let eventLoop: any EventLoop
    let metricsSlot: ProtocolMetricsSlot
    var deliveryMark: UInt64 = 0
    private let state = NIOLockedValueBox<(messages: [BusMessage], flushes: Int)>(([], 0))

    /// Whether it stands for a client that resumes from positions (its subscriptions make on-demand logs).
    let resumesFromPositions: Bool

    /// Whether it takes plain publications from their bytes (`deliverPlain`), as the NATS frontend does.
    let takesPlainPublications: Bool
    private let plainCount = NIOLockedValueBox(0)
    /// Run once, on its loop, inside the next plain delivery (a delivery that ends a connection, say).
    var duringNextPlainDelivery: (() -> Void)?
    /// Run on its loop with each plain delivery's payload (a journal shared by several subscribers).
    var onPlainDelivery: ((String) -> Void)?

    init(
        eventLoop: any EventLoop, slot: ProtocolMetricsSlot, resumesFromPositions: Bool = false,
        takesPlainPublications: Bool = false
    ) {
        self.eventLoop = eventLoop
        self.metricsSlot = slot
        self.resumesFromPositions = resumesFromPositions
        self.takesPlainPublications = takesPlainPublications
    }

    func deliverPlain(
        topic: Topic, payload: UnsafeRawBufferPointer, publisherID: String?, timestamp: UInt64,
        for subscription: BusSubscription
    ) -> DeliveryOutcome {
        eventLoop.preconditionInEventLoop()
        if let hook = duringNextPlainDelivery {
            duringNextPlainDelivery = nil
            hook()
        }
        let message = BusMessage(
            topic: topic, payload: ByteBuffer(bytes: payload), publisherID: publisherID, timestamp: timestamp)
        state.withLockedValue { $0.messages.append(message) }
        plainCount.withLockedValue { $0 += 1 }
        onPlainDelivery?(String(buffer: message.payload))
        return .delivered(bytes: payload.count)
    }

    /// How many deliveries came through `deliverPlain`.
    var plainDeliveries: Int { plainCount.withLockedValue { $0 } }

    func deliver(_ message: BusMessage, for subscription: BusSubscription, context: inout DeliveryContext)
        -> DeliveryOutcome
    {
        eventLoop.preconditionInEventLoop()
        state.withLockedValue { $0.messages.append(message) }
        return .delivered(bytes: message.payload.readableBytes)
    }

    func flushDeliveries() {
        state.withLockedValue { $0.flushes += 1 }
    }

    var messages: [BusMessage] { state.withLockedValue { $0.messages } }
    var flushes: Int { state.withLockedValue { $0.flushes } }
    var payloads: [String] {
        messages.filter { if case .publish = $0.kind { true } else { false } }.map { String(buffer: $0.payload) }
    }
}

/// Polls `condition` until it holds or two seconds pass.
func eventually(_ condition: () -> Bool) async -> Bool {
    for _ in 0..<400 {
        if condition() { return true }
        try? await Task.sleep(for: .milliseconds(5))
    }
    return condition()
}

extension Bus {
    /// Subscribes from the subscriber's loop and waits for the result.
    func subscribeOnLoop(
        _ filter: String, _ subscriber: TestSubscriber, id: String = "s", presence: PresenceInfo? = nil,
        history: HistoryRequest? = nil, options: SubscriptionOptions = SubscriptionOptions()
    ) async throws -> SubscribeResultBox {
        let filter = try TopicFilter(filter)
        return try await subscriber.eventLoop.submit {
            SubscribeResultBox(
                self.subscribe(
                    filter, subscriber: subscriber, subscriberID: id, options: options, presence: presence,
                    history: history))
        }.get()
    }

    func publishOnLoop(_ topic: String, _ payload: String, loop: any EventLoop, publisher: String? = nil) async throws
        -> PublishResult
    {
        let topic = try Topic(topic)
        return try await loop.flatSubmit {
            self.publishWithResult(
                BusMessage(
                    topic: topic, payload: ByteBuffer(string: payload), publisherID: publisher, timestamp: self.clock()),
                on: loop)
        }.get()
    }
}

struct SubscribeResultBox: @unchecked Sendable {
    let value: Bus.SubscribeResult
    init(_ value: Bus.SubscribeResult) { self.value = value }
}
