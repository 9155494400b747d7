import BusCore
import BusRuntime
import NIOCore
import STOMPWire

/// How a subscription's messages are acknowledged (the SUBSCRIBE's `ack` header).
enum STOMPAckMode: String {
    /// Acknowledged as they are sent.
    case auto
    /// An ACK acknowledges its message and every earlier one of the subscription.
    case client
    /// An ACK acknowledges its message only.
    case clientIndividual = "client-individual"
}

/// One SUBSCRIBE as its connection holds it: where its messages come from — the bus directly (a
/// `/topic/` with automatic acks) or a queue (a `/queue/`, an exchange's private queue, a durable or
/// acknowledged topic subscription) — and the MESSAGE header prefix it writes.
final class STOMPSubscription {
    enum Source {
        case bus(BusSubscription)
        case queue(QueueHost, STOMPQueueConsumer)
    }

    let id: String
    /// The destination as the client wrote it.
    let destination: String
    let ackMode: STOMPAckMode
    var source: Source?
    /// The queue was made for this subscription and goes with it (an exclusive or durable topic
    /// subscription's queue, an exchange subscription's queue): its name.
    var ownQueue: String?
    /// The exchange that queue is bound to: its messages' destinations name the routing key they came
    /// with (`/topic/<key>`, `/exchange/<x>/<key>`), as RabbitMQ's plugin writes them.
    var boundExchange: String?
    /// Delivery tags not yet acknowledged, oldest first (`client` mode: an ACK settles a prefix).
    var unacked: [UInt64] = []
    /// `MESSAGE`, `subscription:<id>` and `destination:<d>` lines for the destination last delivered
    /// (a wildcard subscription sees many), and which topic that was.
    var prefix = ByteBuffer()
    var prefixTopic = Topic(trusted: "")
    /// Which destination the prefix names, for queue deliveries.
    var prefixDestination = ""
    /// `message-id:T_<id>@@` (RabbitMQ's shape; the delivery tag follows).
    let messageIDPrefix: ByteBuffer

    init(id: String, destination: String, ackMode: STOMPAckMode) {
        self.id = id
        self.destination = destination
        self.ackMode = ackMode
        self.messageIDPrefix = ByteBuffer(string: "T_\(id)@@")
    }

    /// The bus subscription, for a direct one.
    var busSubscription: BusSubscription? {
        if case .bus(let subscription)? = source { return subscription }
        return nil
    }
}

/// A delivery waiting for its ACK or NACK: which subscription, and the queue message.
struct STOMPPendingAck {
    let subscription: STOMPSubscription
    let host: QueueHost
    let messageID: UInt64
}

/// One queue's share of a read's ACKs and NACKs.
struct STOMPSettlements: Sendable {
    let host: QueueHost
    var acks: [UInt64] = []
    var requeues: [UInt64] = []
    var drops: [UInt64] = []
}
