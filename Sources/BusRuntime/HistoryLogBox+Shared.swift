import Atomics
package import BusCore
import NIOConcurrencyHelpers
import NIOCore

/// A topic log kept as a window of the log every instance shares through an engine (docs/redis.md,
/// "History across instances"): the epoch and the offsets are the engine's, never this instance's own, so
/// a client resumes on any instance from the position another one gave it.
extension HistoryLogBox {
    /// What `appendReplica` did.
    enum ReplicaAppend {
        /// Appended: route it.
        case appended(BusMessage)
        /// Already in the log (at or below its newest offset): delivered before, not again.
        case old
        /// The log was evicted meanwhile: look the topic up again.
        case evicted
    }

    /// Whether the log is a window of the shared log (with an engine).
    package var isShared: Bool { sharedFlag.load(ordering: .relaxed) }

    /// Appends a message the engine sequenced (it carries its shared position), on the log's owner loop.
    /// A message of another epoch, or past a hole (this instance did not hear some offsets), starts the
    /// window again at it: a client resuming from before the hole is told it was not recovered, unless a
    /// refresh (`adopt`) brings the missing messages first.
    func appendReplica(_ message: BusMessage, now: UInt64) -> ReplicaAppend {
        guard let position = message.position else { return .old }
        return log.withLockedValue { state in
            guard !state.evicted else { return .evicted }
            state.lastActivity = max(state.lastActivity, now)
            let shared = sharedFlag.load(ordering: .relaxed)
            if shared, state.log.epoch == position.epoch, position.offset <= state.log.lastOffset { return .old }
            if !shared || state.log.epoch != position.epoch || position.offset != state.log.lastOffset + 1 {
                state.log = HistoryLog(epoch: position.epoch, limits: limits, lastOffset: position.offset - 1)
                sharedFlag.store(true, ordering: .relaxed)
            }
            state.log.append(
                message, at: position.offset, bytes: message.payload.readableBytes, time: message.timestamp, now: now)
            return .appended(message)
        }
    }

    /// Makes the log the shared log's window the engine read (`lastOffset` its newest offset, `messages` its
    /// newest messages, oldest first), keeping what this instance appended after that read. On the log's
    /// owner loop, after every message heard before the read was appended (so none is lost between them).
    func adopt(epoch: String, lastOffset: UInt64, messages: [BusMessage], now: UInt64) {
        log.withLockedValue { state in
            guard !state.evicted else { return }
            var kept = messages
            var newest = lastOffset
            if sharedFlag.load(ordering: .relaxed), state.log.epoch == epoch {
                let through = messages.last?.offset ?? lastOffset
                kept += state.log.last(state.log.count).filter { $0.offset > through }
                newest = max(newest, state.log.lastOffset)
            }
            let start = kept.first.map { $0.offset - 1 } ?? newest
            var rebuilt = HistoryLog<BusMessage>(epoch: epoch, limits: limits, lastOffset: start)
            for message in kept {
                let bytes = message.payload.readableBytes
                guard rebuilt.append(message, at: message.offset, bytes: bytes, time: message.timestamp, now: now)
                else { break }
            }
            if rebuilt.lastOffset < newest {
                // Trimmed away entirely (by age): the window is empty at the newest offset.
                rebuilt = HistoryLog(epoch: epoch, limits: limits, lastOffset: newest)
            }
            state.log = rebuilt
            state.lastActivity = max(state.lastActivity, now)
            sharedFlag.store(true, ordering: .relaxed)
        }
    }
}
