import BusCore
import BusRuntime
import NIOCore

/// One `SUB` as its connection's handler holds it: the bus subscription, the sid it is delivered under,
/// the delivery count and the wire prefix. (The sid rules live in `NATSSubscriptionsStateMachine`.)
final class NATSSubscription {
    let sid: String
    /// The sid as written into every `MSG`.
    let sidBytes: ByteBuffer
    /// The subject as the client wrote it (for the admin API).
    let subject: String
    let busSubscription: BusSubscription
    /// Messages delivered so far.
    var delivered = 0
    /// `UNSUB <sid> <max>`, as the state machine's `.limitDeliveries` set it: once `delivered` reaches
    /// it, the machine is told (`deliveryLimitReached`) and ends the subscription.
    var maxMessages: Int?
    /// `MSG <subject> <sid> ` for the topic last delivered (a wildcard subscription sees many topics).
    var messagePrefix = ByteBuffer()
    var messagePrefixTopic = Topic(trusted: "")

    init(sid: String, subject: String, busSubscription: BusSubscription) {
        self.sid = sid
        self.sidBytes = ByteBuffer(string: sid)
        self.subject = subject
        self.busSubscription = busSubscription
    }
}
