import Atomics
import BusCore
import BusRuntime
import NIOCore

/// A `basic.consume`: the sink its queue delivers into, on the connection's loop. It writes each delivery
/// through its connection handler, which gives it the channel's next delivery tag.
final class AMQPConsumer: QueueConsumerSink, @unchecked Sendable {
    let tag: String
    let id: QueueConsumerID
    let host: QueueHost
    let noAck: Bool
    let channelNumber: UInt16
    let eventLoop: any EventLoop
    /// The connection's "may write" flag, shared by its consumers (false while the outbound buffer is over
    /// its mark).
    private let writable: ManagedAtomic<Bool>
    private unowned(unsafe) let connection: AMQPConnectionHandler

    init(
        tag: String, id: QueueConsumerID, host: QueueHost, noAck: Bool, channelNumber: UInt16,
        connection: AMQPConnectionHandler, writable: ManagedAtomic<Bool>
    ) {
        self.tag = tag
        self.id = id
        self.host = host
        self.noAck = noAck
        self.channelNumber = channelNumber
        self.connection = connection
        self.eventLoop = connection.eventLoop
        self.writable = writable
    }

    var acceptsDeliveries: Bool { writable.load(ordering: .relaxed) }

    func deliver(_ delivery: QueueDelivery<BrokeredMessage>, from host: QueueHost) {
        connection.deliver(delivery, to: self)
    }

    func flushQueueDeliveries() {
        connection.flushOut()
    }

    func queueCancelled(_ consumer: QueueConsumerID, host: QueueHost) {
        connection.consumerCancelledByServer(self)
    }
}
