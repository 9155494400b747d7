import Atomics
import BusCore
import NIOConcurrencyHelpers
import NIOCore

/// One consumer of one stream: its state behind its own lock (pull requests and acknowledgements come
/// from any connection's loop).
final class JetStreamConsumer: Sendable {
    let stream: String
    let name: String
    /// When it was made (ns): `created` in its info.
    let created: UInt64
    private let state: NIOLockedValueBox<JetStreamConsumerState>
    /// Pull requests waiting for messages now (`num_waiting`).
    private let waitingRequests = NIOLockedValueBox(0)
    /// A push consumer's deliver subject had a subscriber at its last push round (`push_bound`); set
    /// from the loop that pushes, since only that loop may look at its routes.
    private let boundToSubscriber = NIOLockedValueBox(false)
    /// What its stored record says besides the ack floor, `{"config":…,"created":…,"stream":…}`, encoded
    /// once: a durable consumer is stored again whenever its floor moves (every read of acks), and
    /// encoding its configuration each time was a fifth of the server's CPU in a pull consumer's run.
    private let storedDescription: ByteBuffer
    /// Whether this instance serves it when several instances share the store (`JetStreamService+Claims`).
    let claim = NIOLockedValueBox(JetStreamConsumerClaim.notHeld)
    /// Its creation or deletion here is to be announced to the other instances sharing the store once
    /// its record is appended (`JetStreamService+ConsumerNotices`).
    let announcementPending = ManagedAtomic(false)
    /// `$JS.ACK.<stream>.<consumer>.`, which each delivery's reply subject begins with.
    let acknowledgementSubjectPrefix: String

    init(stream: String, state: JetStreamConsumerState, created: UInt64) {
        self.stream = stream
        self.name = state.config.name
        self.created = created
        self.acknowledgementSubjectPrefix = "$JS.ACK.\(stream).\(state.config.name)."
        self.state = NIOLockedValueBox(state)
        self.storedDescription = JetStreamJSON.encode([
            "stream": stream, "config": state.config.json, "created": created,
        ])
    }

    /// Its stored record with `ackFloor`: `{"ack_floor":…,"config":…,"created":…,"stream":…}`, the bytes
    /// `JetStreamJSON.encode` gives for that document (keys sorted), without encoding it again.
    func storedRecord(ackFloor: UInt64) -> ByteBuffer {
        var description = storedDescription
        // `{` then the members: the floor goes first, as the sorted keys put it.
        guard description.readInteger(as: UInt8.self) == UInt8(ascii: "{") else { return storedDescription }
        var record = ByteBuffer()
        record.reserveCapacity(description.readableBytes + 40)
        record.writeString("{\"ack_floor\":\(ackFloor)")
        if description.readableBytes > 1 { record.writeInteger(UInt8(ascii: ",")) }
        record.writeBuffer(&description)
        return record
    }

    /// Whether an announcement was pending (`announcementPending`); it is not any more.
    func takeAnnouncement() -> Bool {
        // A plain load first: every record append asks, and only instances sharing the store ever set it.
        announcementPending.load(ordering: .relaxed)
            && announcementPending.exchange(false, ordering: .acquiringAndReleasing)
    }

    func withState<Result>(_ body: (inout JetStreamConsumerState) -> Result) -> Result {
        state.withLockedValue { body(&$0) }
    }

    var config: JetStreamConsumerConfig { state.withLockedValue { $0.config } }

    var waiting: Int { waitingRequests.withLockedValue { $0 } }

    func changeWaiting(by delta: Int) { waitingRequests.withLockedValue { $0 += delta } }

    var isPushBound: Bool {
        get { boundToSubscriber.withLockedValue { $0 } }
        set { boundToSubscriber.withLockedValue { $0 = newValue } }
    }
}
