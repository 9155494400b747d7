import Atomics
import BusCore
import BusRuntime
import NIOCore

/// The sink a queue delivers a STOMP subscription's messages into, on the connection's loop. It holds
/// its connection and subscription strongly: a queue on another loop may still deliver to it after the
/// subscription ended, until its removal reaches that loop (the delivery then goes back to the queue).
final class STOMPQueueConsumer: QueueConsumerSink, @unchecked Sendable {
    let id: QueueConsumerID
    let eventLoop: any EventLoop
    let connectionID: String
    /// The connection's "may write" flag (false while its outbound buffer is over its mark).
    private let writable: ManagedAtomic<Bool>
    private let connection: STOMPConnectionHandler
    let subscription: STOMPSubscription

    init(
        id: QueueConsumerID, connection: STOMPConnectionHandler, subscription: STOMPSubscription,
        writable: ManagedAtomic<Bool>
    ) {
        self.id = id
        self.connection = connection
        self.subscription = subscription
        self.eventLoop = connection.eventLoop
        self.connectionID = connection.connectionID
        self.writable = writable
    }

    var acceptsDeliveries: Bool { writable.load(ordering: .relaxed) }

    func deliver(_ delivery: QueueDelivery<BrokeredMessage>, from host: QueueHost) {
        connection.deliver(delivery, to: self, from: host)
    }

    func flushQueueDeliveries() {
        // During a read (the read's ACKs let the queue dispatch) the read's end flushes once.
        if !connection.isReading { connection.flushOut() }
    }

    var owner: QueueConsumerOwner {
        QueueConsumerOwner(protocolName: "stomp", connectionID: connectionID)
    }

    func queueCancelled(_ consumer: QueueConsumerID, host: QueueHost) {
        connection.queueWentAway(under: self)
    }
}
