import Histogram

/// What collab-vote's voters saw, summed up after the run (``VoteTimeline`` does the latencies).
struct VoteRunSummary {
    /// Ballots written.
    var ballotsSent = 0
    /// Ballots answered with the vote (stored).
    var ballotsStored = 0
    /// Ballots answered with an error (refused, timed out).
    var ballotErrors = 0
    /// Ranks named by more than one reply.
    var duplicateRanks = 0
    /// Ranks up to the highest that no reply named.
    var missingRanks = 0
    /// Tally latency samples (ns), one per (subscriber, rank).
    var tallyLatency = Self.histogram()
    /// Result latency (ns), one per subscriber that received the result.
    var resultLatency = Self.histogram()
    /// Result receive time minus the deciding (last) ballot's reply (ns; 0 where the result came first):
    /// the publish alone, without the ballot's wait to be stored.
    var resultAfterDecidingReply = Self.histogram()
    /// Ballot rpc round trips (ns), stored ballots only.
    var rpcLatency = Self.histogram()
    /// Tally events each subscriber received, sorted.
    var talliesPerSubscriber: [Int] = []
    /// The result as the first subscriber to hold one saw it.
    var outcome: (outcome: String?, reason: String?)?

    static func histogram() -> Histogram<UInt64> {
        Histogram<UInt64>(highestTrackableValue: 60_000_000_000, numberOfSignificantValueDigits: .three)
    }

    /// Samples the tally latency should have: every subscriber sees every stored ballot.
    var tallySamples: Int { Int(tallyLatency.totalCount) }

    /// Every ballot stored, every subscriber saw each one and the result.
    func complete(voters: Int) -> Bool {
        ballotsStored == voters && tallySamples == voters * ballotsStored && Int(resultLatency.totalCount) == voters
    }

    /// The codable part of the report.
    func report(scheduleLateness: Histogram<UInt64>) -> VoteReport {
        let tallies = talliesPerSubscriber
        return VoteReport(
            ballotsSent: ballotsSent, ballotsStored: ballotsStored, ballotErrors: ballotErrors,
            duplicateRanks: duplicateRanks, missingRanks: missingRanks, tallySamples: tallySamples,
            tallySamplesExpected: tallies.count * ballotsStored,
            talliesPerSubscriberMin: tallies.first ?? 0,
            talliesPerSubscriberMedian: tallies.isEmpty ? 0 : tallies[tallies.count / 2],
            talliesPerSubscriberMax: tallies.last ?? 0, resultsReceived: Int(resultLatency.totalCount),
            resultLatencyMicroseconds: resultLatency.totalCount > 0 ? LatencySummary(resultLatency) : nil,
            resultAfterDecidingReplyMicroseconds: resultAfterDecidingReply.totalCount > 0
                ? LatencySummary(resultAfterDecidingReply) : nil,
            outcome: outcome?.outcome, reason: outcome?.reason,
            scheduleLatenessMicroseconds: LatencySummary(scheduleLateness))
    }
}

extension CollabVoteScenario {
    /// Sums up every voter's record.
    static func summarize(_ records: [VoterRole.Record]) -> VoteRunSummary {
        var summary = VoteRunSummary()
        var ranked: [(rank: Int, sentAt: UInt64)] = []
        var decidingReplyAt: (rank: Int, at: UInt64)?
        for record in records {
            guard let sentAt = record.castSentAt else { continue }
            summary.ballotsSent += 1
            if record.error != nil { summary.ballotErrors += 1 }
            if let rank = record.rank, let replyAt = record.replyAt {
                summary.ballotsStored += 1
                ranked.append((rank, sentAt))
                if rank > decidingReplyAt?.rank ?? 0 { decidingReplyAt = (rank, replyAt) }
                summary.rpcLatency.record(replyAt &- min(sentAt, replyAt))
            }
        }
        let timeline = VoteTimeline(ballots: ranked)
        summary.duplicateRanks = timeline.duplicateRanks
        summary.missingRanks = timeline.sendTimeOfRank.filter { $0 == nil }.count
        for record in records {
            timeline.tallySamples(record.events) { summary.tallyLatency.record($0) }
            if let latency = timeline.resultLatency(record.events) { summary.resultLatency.record(latency) }
            if let replyAt = decidingReplyAt?.at, let result = record.events.first(where: \.isResult) {
                summary.resultAfterDecidingReply.record(result.receivedAt &- min(replyAt, result.receivedAt))
            }
            summary.talliesPerSubscriber.append(record.events.filter { !$0.isResult }.count)
            if summary.outcome == nil, let outcome = record.outcome { summary.outcome = outcome }
        }
        summary.talliesPerSubscriber.sort()
        return summary
    }
}

/// collab-vote's own figures in ``BenchReport`` (`vote` in the JSON).
struct VoteReport: Codable, Sendable {
    var ballotsSent: Int
    /// Ballots answered with the vote, i.e. stored.
    var ballotsStored: Int
    var ballotErrors: Int
    /// Ranks (the reply's `ballots`) named twice, and ranks up to the highest named by no reply.
    var duplicateRanks: Int
    var missingRanks: Int
    /// (subscriber, rank) pairs seen, and subscribers × ballots stored.
    var tallySamples: Int
    var tallySamplesExpected: Int
    var talliesPerSubscriberMin: Int
    var talliesPerSubscriberMedian: Int
    var talliesPerSubscriberMax: Int
    /// Subscribers that received the result, and its latency from the last ballot's send.
    var resultsReceived: Int
    var resultLatencyMicroseconds: LatencySummary?
    /// The result's receive time minus the deciding ballot's reply (0 where the result came first).
    var resultAfterDecidingReplyMicroseconds: LatencySummary?
    var outcome: String?
    var reason: String?
    /// How late the coordinating thread handed each ballot to its loop, against the schedule.
    var scheduleLatenessMicroseconds: LatencySummary
}

extension VoteReport {
    /// The text report's lines.
    var lines: [String] {
        var lines = [
            "  ballots sent \(ballotsSent)  stored \(ballotsStored)  errors \(ballotErrors)  ranks duplicated \(duplicateRanks), missing \(missingRanks)",
            "  tally samples \(tallySamples)/\(tallySamplesExpected)  tallies per subscriber min \(talliesPerSubscriberMin) median \(talliesPerSubscriberMedian) max \(talliesPerSubscriberMax)",
            "  result \(outcome ?? "none") (\(reason ?? "-")) received by \(resultsReceived)",
        ]
        if let latency = resultLatencyMicroseconds {
            lines.append(
                "  last ballot → result µs: p50 \(latency.p50)  p99 \(latency.p99)  max \(latency.max)  (n=\(latency.samples))"
            )
        }
        if let latency = resultAfterDecidingReplyMicroseconds {
            lines.append(
                "  deciding ballot's reply → result µs: p50 \(latency.p50)  p99 \(latency.p99)  max \(latency.max)")
        }
        lines.append(
            "  ballot schedule lateness µs: p99 \(scheduleLatenessMicroseconds.p99)  max \(scheduleLatenessMicroseconds.max)"
        )
        return lines
    }
}
