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
    let connectionID: String
    let eventLoop: any EventLoop
    /// The connection's "may write" flag, shared by its consumers (false while the outbound buffer is over
    /// its mark).
    private let writable: ManagedAtomic<Bool>
    // Strong: a queue on another loop may deliver to this consumer after its connection ended, until the
    // removal reaches that loop (the delivery then goes back to the queue).
    private let connection: AMQPConnectionHandler
    /// The channel's shared window (`basic.qos` global).
    let window: AMQPChannelWindow

    init(
        tag: String, id: QueueConsumerID, host: QueueHost, noAck: Bool, channelNumber: UInt16,
        connection: AMQPConnectionHandler, writable: ManagedAtomic<Bool>, window: AMQPChannelWindow
    ) {
        self.window = window
        self.tag = tag
        self.id = id
        self.host = host
        self.noAck = noAck
        self.channelNumber = channelNumber
        self.connection = connection
        self.eventLoop = connection.eventLoop
        self.connectionID = connection.connectionID
        self.writable = writable
    }

    /// Asked once per delivery this consumer would get: false while its connection's buffer is full;
    /// otherwise a manual-ack delivery takes a unit of the channel's window (refused when it is full).
    var acceptsDeliveries: Bool { writable.load(ordering: .relaxed) && (noAck || window.take()) }

    func deliver(_ delivery: QueueDelivery<BrokeredMessage>, from host: QueueHost) {
        connection.deliver(delivery, to: self)
    }

    func flushQueueDeliveries() {
        connection.flushOut()
    }

    var owner: QueueConsumerOwner {
        QueueConsumerOwner(protocolName: "amqp", connectionID: connectionID, channel: Int(channelNumber))
    }

    func queueCancelled(_ consumer: QueueConsumerID, host: QueueHost) {
        connection.consumerCancelledByServer(self)
    }
}
