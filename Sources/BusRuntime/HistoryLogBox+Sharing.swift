import BusCore
import NIOConcurrencyHelpers
import NIOCore
import Storage

/// Several instances on one database (docs/storage.md, "Several instances on one PostgreSQL database"):
/// one instance at a time appends to a durable log — the one holding its writer claim — and the others
/// follow what it stores (`HistorySharing`).
extension HistoryLogBox {
    /// Whether appends are taken here now (the writer claim is held, or nobody shares the store).
    var isWritable: Bool { log.withLockedValue { $0.writable } }

    /// Appends are taken here (the claim is held and the log read fresh) or, `false`, refused from now on
    /// (`reserve` answers nil: the claim is being let go of, or was lost).
    func setWritable(_ writable: Bool) {
        log.withLockedValue { $0.writable = writable }
    }

    /// Whether an offset reserved here is neither appended nor taken back yet (a writer letting go waits
    /// for it).
    var hasUnstored: Bool { log.withLockedValue { $0.log.reservedOffset > $0.log.lastOffset } }

    /// The epoch and newest offset of this copy: what a fresh read continues after.
    var followPoint: (epoch: String, lastOffset: UInt64) {
        log.withLockedValue { ($0.log.epoch, $0.log.lastOffset) }
    }

    /// Takes what the database holds of this log into this copy: another instance's appends (above this
    /// copy's newest offset), its newest offset, and a reset or another epoch (the copy is replaced by
    /// what is stored). False, and nothing taken, while this instance writes the log (it holds the claim,
    /// or has offsets reserved): the writer's copy is the truth. Nothing is routed: without an engine
    /// instances do not deliver each other's messages live; readers and recovery here see them.
    func follow(_ stored: StoredLog, now: UInt64) -> Bool {
        log.withLockedValue { state in
            guard !state.evicted, !state.writable, state.log.reservedOffset == state.log.lastOffset else {
                return false
            }
            if stored.epoch != state.log.epoch {
                // Read whole (the loader gives every kept message for another epoch).
                let start = stored.messages.first.map { $0.offset - 1 } ?? stored.lastOffset
                state.log = HistoryLog(epoch: stored.epoch, limits: limits, lastOffset: start)
            }
            for message in stored.messages where message.offset > state.log.lastOffset {
                if message.offset != state.log.lastOffset + 1 {
                    // Trimmed in the database meanwhile: the window starts again at what is kept.
                    state.log = HistoryLog(epoch: stored.epoch, limits: limits, lastOffset: message.offset - 1)
                }
                state.log.append(
                    message, at: message.offset, bytes: message.payload.readableBytes, time: message.timestamp,
                    now: now)
            }
            if stored.lastOffset > state.log.lastOffset {
                // Newer offsets than any kept message (trimmed by age): the window is empty there.
                state.log = HistoryLog(epoch: stored.epoch, limits: limits, lastOffset: stored.lastOffset)
            }
            state.lastActivity = max(state.lastActivity, now)
            return true
        }
    }
}
