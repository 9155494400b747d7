/// A push consumer's flow control and idle heartbeats (nats-server's `sendFlowControl` and
/// `sendIdleHeartbeat`): a value, events in (`delivered`, `flowControlAnswered`, `tick`), what to send out.
/// Time comes with every event, so it is tested without a clock.
package struct JetStreamPushControl: Sendable, Equatable {
    /// A `100 Idle Heartbeat` to send: the last delivery's sequences, and the flow-control reply the
    /// consumer is stalled on (sent as `Nats-Consumer-Stalled`, which the client answers).
    package struct Heartbeat: Sendable, Equatable {
        package var lastConsumerSequence: UInt64
        package var lastStreamSequence: UInt64
        package var stalledOn: String?
    }

    /// Bytes delivered without an answered flow-control request after which delivery pauses until the
    /// client answers (nats-server pauses a push consumer when its pending bytes pass its window).
    package static let flowControlWindow = 1 << 20

    package let flowControl: Bool
    /// Nanoseconds; 0: no heartbeats.
    package let idleHeartbeat: UInt64
    /// When something (a message, a request, a heartbeat) was last sent (ns).
    package private(set) var lastSent: UInt64
    /// The reply subject of the request not yet answered.
    package private(set) var awaiting: String?
    /// Bytes delivered since the last answered request.
    package private(set) var unansweredBytes = 0
    private var requests: UInt64 = 0
    private var lastConsumerSequence: UInt64 = 0
    private var lastStreamSequence: UInt64 = 0

    package init(flowControl: Bool, idleHeartbeat: UInt64, now: UInt64) {
        self.flowControl = flowControl
        self.idleHeartbeat = idleHeartbeat
        self.lastSent = now
    }

    /// Whether delivery waits for the client's answer to a flow-control request.
    package var isStalled: Bool { awaiting != nil && unansweredBytes >= Self.flowControlWindow }

    /// Messages were sent, the last with these sequences. Returns the reply subject of a
    /// `100 FlowControl Request` to send after them, when flow control is on and none is outstanding.
    /// `prefix` makes the subject: `$JS.FC.<stream>.<consumer>` (nats-server's form).
    package mutating func delivered(
        bytes: Int, lastConsumerSequence: UInt64, lastStreamSequence: UInt64, now: UInt64, prefix: String
    ) -> String? {
        lastSent = now
        self.lastConsumerSequence = lastConsumerSequence
        self.lastStreamSequence = lastStreamSequence
        guard flowControl else { return nil }
        unansweredBytes += bytes
        guard awaiting == nil else { return nil }
        requests += 1
        let subject = "\(prefix).\(requests)"
        awaiting = subject
        return subject
    }

    /// The client published to `subject`: true when it answers the outstanding request.
    package mutating func flowControlAnswered(_ subject: String) -> Bool {
        guard let awaiting, awaiting == subject else { return false }
        self.awaiting = nil
        unansweredBytes = 0
        return true
    }

    /// Time passed: the heartbeat to send now, if the consumer has sent nothing for `idle_heartbeat`.
    package mutating func tick(now: UInt64) -> Heartbeat? {
        guard idleHeartbeat > 0 else { return nil }
        // The first tick starts the clock: the first heartbeat comes one interval after delivery starts.
        guard lastSent > 0 else {
            lastSent = now
            return nil
        }
        guard now >= lastSent + idleHeartbeat else { return nil }
        lastSent = now
        return Heartbeat(
            lastConsumerSequence: lastConsumerSequence, lastStreamSequence: lastStreamSequence, stalledOn: awaiting)
    }
}
