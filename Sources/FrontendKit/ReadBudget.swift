package import NIOCore

/// How much of its event loop one connection's input may take in one go. A read's operations run on the
/// loop that reads them, and every other connection of that loop waits meanwhile: a client that writes
/// 20,000 subscribes at once (or a megabyte of tiny publishes) would hold its neighbours for as long as
/// they take. Past `slice` (10 ms), the decode loop stops, keeps the rest of its input, stops reading from the
/// socket and goes on in a task of its own on the loop's next turn — after the neighbours' reads.
/// That task is scheduled `pause` ahead, not submitted: NIO runs every due task, including those a task
/// submits, before it polls the sockets again, so only a deadline still in the future lets the loop
/// reach its I/O in between.
///
/// The clock is read once every `stride` operations, so a publish costs an increment and a mask.
/// A value owned by the decode loop of one read, confined to its loop.
package struct ReadBudget {
    /// The longest stretch one connection's input runs before its neighbours get the loop (ns): Go's
    /// scheduler preempts a goroutine after as long, so a neighbour waits no longer than it would on
    /// nats-server. Long enough that a throughput run's reads (64 KiB of small publishes, fanned out)
    /// never reach it in a release build, where every deferral would cost a pause and two `epoll_ctl`s.
    package static let slice: UInt64 = 10_000_000
    @usableFromInline static let stride = 16
    /// How far ahead the rest of the input is scheduled (see above).
    package static let pause = TimeAmount.microseconds(250)

    @usableFromInline let start: UInt64
    @usableFromInline var operations = 0

    @inlinable
    package init(now: UInt64) {
        start = now
    }

    /// One operation done: true once the slice is spent (checked every `stride` operations).
    @inlinable
    package mutating func spend(clock: () -> UInt64) -> Bool {
        operations &+= 1
        guard operations & (Self.stride - 1) == 0 else { return false }
        return clock() &- start > Self.slice
    }
}

/// A connection handler that decodes under a `ReadBudget` (NATS, MQTT, AMQP, STOMP): what they share
/// when the budget is spent — the rest deferred to the loop's next turn, the socket not read meanwhile —
/// and the one switch for reading, which also answers publisher flow control and store backpressure.
package protocol BudgetedInput: FrontendConnectionHandler, Sendable {
    var eventLoop: any EventLoop { get }
    /// The rest of the input waits for the loop's next turn (`deferRest`).
    var inputDeferred: Bool { get set }
    /// Whatever else stops reading: a subscriber asked this publisher to pause, the store blocks publishers.
    var readingHeld: Bool { get }
    /// Bytes read and not yet decoded.
    var waitingInputBytes: Int { get }
    /// Decodes what waits (under a budget of its own) and flushes what that wrote.
    func decodeWaitingInput()
}

extension BudgetedInput {
    /// The input spent its slice of the loop: the rest is decoded in a task `ReadBudget.pause` ahead, after
    /// the other connections' reads, and the socket is not read meanwhile (what waits stays bounded).
    package func deferRest() {
        inputDeferred = true
        updateReading()
        eventLoop.scheduleTask(in: ReadBudget.pause) {
            self.inputDeferred = false
            self.resumeInput()
        }
    }

    /// After a deferral, a pause or a block: what waits is decoded first, then the socket is read again
    /// (unless that decoding deferred once more, or reading is still held).
    package func resumeInput() {
        guard context != nil else { return }
        if waitingInputBytes > 0 { decodeWaitingInput() }
        updateReading()
    }

    /// Reads from the socket unless reading is held or input waits for its turn.
    package func updateReading() {
        setReading(!readingHeld && !inputDeferred)
    }
}
