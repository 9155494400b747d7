import BusCore
import NIOCore

/// The subscriber behind one request's private reply topic: completes with the first reply.
final class RPCWaiter: BusSubscriber, @unchecked Sendable {
    let eventLoop: any EventLoop
    let metricsSlot: ProtocolMetricsSlot
    var deliveryMark: UInt64 = 0
    let promise: EventLoopPromise<BusMessage>
    private var done = false

    init(eventLoop: any EventLoop, metricsSlot: ProtocolMetricsSlot) {
        self.eventLoop = eventLoop
        self.metricsSlot = metricsSlot
        self.promise = eventLoop.makePromise()
    }

    func deliver(_ message: BusMessage, for subscription: BusSubscription, context: inout DeliveryContext)
        -> DeliveryOutcome
    {
        guard case .publish = message.kind, !done else { return .skipped }
        done = true
        promise.succeed(message)
        return .delivered(bytes: message.payload.readableBytes)
    }

    func flushDeliveries() {}

    func fail(_ error: BusError) {
        guard !done else { return }
        done = true
        promise.fail(error)
    }
}
