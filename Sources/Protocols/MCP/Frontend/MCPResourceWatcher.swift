import BusCore
import BusRuntime
import NIOCore

/// One MCP session's record subscriptions on the bus: each subscribed resource is one bus subscription
/// to `collections/<c>/<id>`; a change event delivered to it becomes `updated(uri)`. Confined to `loop`
/// (the bus delivers there, and every method hops there), hence `@unchecked Sendable`.
final class MCPResourceWatcher: BusSubscriber, @unchecked Sendable {
    let eventLoop: any EventLoop
    let metricsSlot: ProtocolMetricsSlot
    var deliveryMark: UInt64 = 0
    private let bus: Bus
    private let subscriberID: String
    private let updated: @Sendable (String) -> Void
    /// By resource URI; touched on `eventLoop` only.
    private var subscriptions: [String: BusSubscription] = [:]

    init(
        bus: Bus, loop: any EventLoop, metricsSlot: ProtocolMetricsSlot, subscriberID: String,
        updated: @escaping @Sendable (String) -> Void
    ) {
        self.bus = bus
        self.eventLoop = loop
        self.metricsSlot = metricsSlot
        self.subscriberID = subscriberID
        self.updated = updated
    }

    func subscribe(uri: String, filter: TopicFilter, options: SubscriptionOptions) async throws {
        try await eventLoop.submit {
            guard self.subscriptions[uri] == nil else { return }
            let result = self.bus.subscribe(filter, subscriber: self, subscriberID: self.subscriberID, options: options)
            self.subscriptions[uri] = result.subscription
        }.get()
    }

    func unsubscribe(uri: String) async {
        try? await eventLoop.submit {
            if let subscription = self.subscriptions.removeValue(forKey: uri) { self.bus.unsubscribe(subscription) }
        }.get()
    }

    func unsubscribeAll() async {
        try? await eventLoop.submit {
            for subscription in self.subscriptions.values { self.bus.unsubscribe(subscription) }
            self.subscriptions.removeAll()
        }.get()
    }

    func deliver(_ message: BusMessage, for subscription: BusSubscription, context: inout DeliveryContext)
        -> DeliveryOutcome
    {
        guard message.isPublication, let uri = subscriptions.first(where: { $0.value === subscription })?.key else {
            return .skipped
        }
        updated(uri)
        return .delivered(bytes: 0)
    }

    func flushDeliveries() {}
}
