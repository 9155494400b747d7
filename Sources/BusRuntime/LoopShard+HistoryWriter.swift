import BusCore
import NIOCore
import Storage

/// Durable logs several instances share (`HistorySharing`): a publication to a log whose writer claim is
/// not held here waits for it, on the log's owner loop, in publish order, and is reserved its offset once
/// the claim is had and the log read fresh. Confined to the shard's loop, as everything in `LoopShard`.
extension LoopShard {
    /// One log's publications waiting for its writer claim.
    struct AwaitingWriter {
        let log: HistoryLogBox
        var waiting: [(message: BusMessage, completion: ((PublishResult) -> Void)?)]
        /// When the first of them began to wait: past `HistorySharing.writerClaimTimeout` they are refused.
        let since: NIODeadline
    }

    /// The answer a publication waiting for a claim gets when it cannot be had.
    static let writtenElsewhere =
        "not stored: the topic's log is written by another instance sharing the database; try again"

    /// Whether a publish on `plan` is answered only once its durable log stored it: the log is shared with
    /// other instances, so it may wait for the claim or be refused.
    func waitsForSharedLog(_ plan: MatchPlan) -> Bool {
        guard let log = plan.log, log.durable, bus.historySharing != nil else { return false }
        return true
    }

    /// Answers `awaited`'s log part with a publication's result: refused when the log did not store it.
    func answerLogPart(of awaited: AwaitedAcknowledgement, topic: Topic, with result: PublishResult) {
        if let failure = result.failure, awaited.refusal == nil {
            awaited.refusal = StreamAppendAck(
                stream: topic.name, partition: 0, offset: 0, epoch: "", outcome: .refused(failure))
        }
        answered(awaited)
    }

    /// Queues `message` until this instance holds `log`'s writer claim (claiming it when it is the first).
    func awaitWriter(_ message: BusMessage, log: HistoryLogBox, completion: ((PublishResult) -> Void)?)
        -> PublishResult?
    {
        let id = ObjectIdentifier(log)
        if awaitingWriter[id] != nil {
            awaitingWriter[id]!.waiting.append((message, completion))
            return nil
        }
        guard bus.historySharing != nil else {
            return PublishResult(position: nil, recipients: 0, failure: Self.writtenElsewhere)
        }
        awaitingWriter[id] = AwaitingWriter(log: log, waiting: [(message, completion)], since: .now())
        claimWriter(log)
        return nil
    }

    private func claimWriter(_ log: HistoryLogBox) {
        bus.historySharing?.claimWriter(log) { held in
            self.eventLoop.execute { self.writerAnswered(log, held: held) }
        }
    }

    /// The claim on `log` was had (`held`) or not: the waiting publications are reserved their offsets in
    /// order while the log takes appends; the rest wait again (the claim was asked away meanwhile) or,
    /// past the timeout or when it could not be had, are refused.
    private func writerAnswered(_ log: HistoryLogBox, held: Bool) {
        let id = ObjectIdentifier(log)
        guard let entry = awaitingWriter.removeValue(forKey: id) else { return }
        var next = 0
        while next < entry.waiting.count, let reserved = log.reserve(entry.waiting[next].message) {
            pendingDurable.append(
                PendingDurable(log: log, message: reserved, completion: entry.waiting[next].completion))
            next += 1
        }
        if next > 0 { scheduleHandOff() }
        guard next < entry.waiting.count else { return }
        let rest = Array(entry.waiting[next...])
        if held, NIODeadline.now() - entry.since < HistorySharing.writerClaimTimeout {
            awaitingWriter[id] = AwaitingWriter(log: log, waiting: rest, since: entry.since)
            return claimWriter(log)
        }
        bus.metrics.countStoreFailure()
        for item in rest {
            item.completion?(PublishResult(position: nil, recipients: 0, failure: Self.writtenElsewhere))
        }
    }
}
