package import NIOCore
package import ServiceLifecycle

/// A connection whose timers (keep-alive pings, pong and connect deadlines) the loop's sweeper drives.
package protocol KeepAliveParticipant: AnyObject {
    /// The sweeper's index of this participant; -1 when not registered.
    var keepAliveSlot: Int { get set }
    /// Called on the loop every `KeepAliveSweeper.tick`: compare deadlines with `now` and act.
    func keepAliveTick(now: NIODeadline)
}

/// One repeating timer per event loop for every connection's keep-alive, instead of a scheduled task
/// per connection (and another per ping): a connection then costs one array slot and a few deadlines,
/// which matters at 10k+ idle connections. Confined to its loop.
package final class KeepAliveSweeper: @unchecked Sendable {
    /// How often deadlines are checked; bounds how late a ping or timeout can be.
    package static let tick = TimeAmount.milliseconds(250)

    package let eventLoop: any EventLoop
    private var participants: [any KeepAliveParticipant] = []
    private var task: RepeatedTask?
    /// Set at shutdown: no timer is started again on a loop that is about to stop.
    private var stopped = false

    package init(eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
    }

    package var count: Int { participants.count }

    package func add(_ participant: any KeepAliveParticipant) {
        eventLoop.preconditionInEventLoop()
        participant.keepAliveSlot = participants.count
        participants.append(participant)
        if task == nil && !stopped {
            task = eventLoop.scheduleRepeatedTask(initialDelay: Self.tick, delay: Self.tick) { [weak self] _ in
                self?.sweep()
            }
        }
    }

    package func remove(_ participant: any KeepAliveParticipant) {
        eventLoop.preconditionInEventLoop()
        let slot = participant.keepAliveSlot
        guard slot >= 0, slot < participants.count, participants[slot] === participant else { return }
        let last = participants.removeLast()
        if slot < participants.count {
            participants[slot] = last
            last.keepAliveSlot = slot
        }
        participant.keepAliveSlot = -1
    }

    /// Cancels the timer (at shutdown, after connections were told to close); call on the loop.
    package func stop() {
        eventLoop.preconditionInEventLoop()
        stopped = true
        task?.cancel()
        task = nil
    }

    private func sweep() {
        let now = eventLoop.now  // the loop's clock: virtual on EmbeddedEventLoop, so tests need no sleeps
        // A tick may close connections, which removes them: iterate over a snapshot.
        for participant in participants { participant.keepAliveTick(now: now) }
    }
}

/// The sweepers of a set of loops, looked up by loop.
package struct KeepAliveSweepers: Sendable {
    private let byLoop: [ObjectIdentifier: KeepAliveSweeper]

    package init(eventLoops: [any EventLoop]) {
        var byLoop: [ObjectIdentifier: KeepAliveSweeper] = [:]
        for loop in eventLoops { byLoop[ObjectIdentifier(loop)] = KeepAliveSweeper(eventLoop: loop) }
        self.byLoop = byLoop
    }

    /// Every loop's sweeper.
    package var all: [KeepAliveSweeper] { Array(byLoop.values) }

    package func sweeper(for loop: any EventLoop) -> KeepAliveSweeper {
        guard let sweeper = byLoop[ObjectIdentifier(loop)] else { preconditionFailure("no sweeper for \(loop)") }
        return sweeper
    }
}

/// Stops every loop's sweeper when the server shuts down. It is first in the service group, so it stops
/// last, after the HTTP service has closed every connection.
package struct KeepAliveSweeperService: Service {
    package let sweepers: KeepAliveSweepers

    package init(sweepers: KeepAliveSweepers) { self.sweepers = sweepers }

    package func run() async throws {
        try? await gracefulShutdown()
        for sweeper in sweepers.all {
            try? await sweeper.eventLoop.submit { sweeper.stop() }.get()
        }
    }
}
