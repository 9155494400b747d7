import BusCore
import NIOCore
import Testing

@testable import BusRuntime

/// A log kept as a window of the log the instances share (docs/redis.md, "History across instances"):
/// the shared positions are kept, a repeat is not appended twice, a hole is never resumed across.
@Suite struct HistoryLogBoxSharedTests {
    let topic = Topic(trusted: "chat/room")

    func box(count: Int = 100) -> HistoryLogBox {
        HistoryLogBox(topic: topic, epoch: "local", limits: HistoryLimits(count: count))
    }

    func message(_ offset: UInt64, epoch: String = "shared") -> BusMessage {
        BusMessage(topic: topic, payload: ByteBuffer(string: "\(offset)"), timestamp: offset)
            .fromRemoteInstance(at: LogPosition(offset: offset, epoch: epoch))
    }

    func read(_ box: HistoryLogBox, after offset: UInt64, epoch: String = "shared") -> [UInt64]? {
        box.withLog(now: 0) { log in
            if case .complete(let messages) = log.read(after: LogPosition(offset: offset, epoch: epoch)) {
                return messages.map(\.offset)
            }
            return nil
        }
    }

    @Test func theFirstSequencedMessageMakesTheLogAWindowAtItsPosition() {
        let log = box()
        #expect(!log.isShared)
        guard case .appended = log.appendReplica(message(5), now: 0) else {
            Issue.record("not appended")
            return
        }
        #expect(log.isShared)
        #expect(log.withLog(now: 0) { $0.position } == LogPosition(offset: 5, epoch: "shared"))
        // What came before offset 5 is not here: resuming from before it is a gap, never a silent skip.
        #expect(read(log, after: 3) == nil)
        #expect(read(log, after: 4) == [5])
    }

    @Test func aRepeatIsNotAppendedAgainAndAHoleStartsTheWindowAgain() {
        let log = box()
        for offset in UInt64(1)...3 { _ = log.appendReplica(message(offset), now: 0) }
        guard case .old = log.appendReplica(message(2), now: 0) else {
            Issue.record("a repeat was appended")
            return
        }
        _ = log.appendReplica(message(6), now: 0)
        #expect(read(log, after: 3) == nil)
        #expect(read(log, after: 5) == [6])
        // Another epoch (Redis lost the log): the window follows it.
        _ = log.appendReplica(message(1, epoch: "next"), now: 0)
        #expect(read(log, after: 0, epoch: "next") == [1])
        #expect(read(log, after: 6) == nil)
    }

    @Test func adoptingAReadKeepsWhatArrivedAfterIt() {
        let log = box()
        // Heard live before the refresh's answer was applied: offsets 9 and 10.
        _ = log.appendReplica(message(9), now: 0)
        _ = log.appendReplica(message(10), now: 0)
        log.adopt(epoch: "shared", lastOffset: 9, messages: (UInt64(4)...9).map { message($0) }, now: 0)
        #expect(read(log, after: 3) == [4, 5, 6, 7, 8, 9, 10])
        // A log Redis has trimmed entirely (by age): empty at its newest offset.
        let empty = box()
        empty.adopt(epoch: "shared", lastOffset: 12, messages: [], now: 0)
        #expect(read(empty, after: 12) == [])
        #expect(read(empty, after: 11) == nil)
        // Adopting another epoch replaces the window.
        log.adopt(
            epoch: "other", lastOffset: 2, messages: [message(1, epoch: "other"), message(2, epoch: "other")], now: 0)
        #expect(read(log, after: 0, epoch: "other") == [1, 2])
        #expect(read(log, after: 9) == nil)
    }
}
