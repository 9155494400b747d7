/// Turns what the voters saw into issue 21's latencies, after the run when every reply is in.
///
/// The ballot of rank k is the k-th stored (the vote takes ballots one at a time, and the reply to each
/// carries the vote's `ballots` just after it). A subscriber has seen ballot k when an event with
/// `ballots ≥ k` reaches it, tally or result: its tally latency for k is that receive time minus the send
/// time of the ballot of rank k.
struct VoteTimeline {
    /// Send time of the ballot of each rank, index 0 = rank 1; nil where no reply named that rank.
    let sendTimeOfRank: [UInt64?]
    /// Ranks named by more than one reply (each should be named once).
    let duplicateRanks: Int

    /// - Parameter ballots: each stored ballot's (rank, send time).
    init(ballots: [(rank: Int, sentAt: UInt64)]) {
        let highest = ballots.map(\.rank).max() ?? 0
        var times = [UInt64?](repeating: nil, count: highest)
        var duplicates = 0
        for ballot in ballots where ballot.rank >= 1 {
            if times[ballot.rank - 1] != nil { duplicates += 1 }
            times[ballot.rank - 1] = ballot.sentAt
        }
        sendTimeOfRank = times
        duplicateRanks = duplicates
    }

    /// The highest rank stored: the deciding (last) ballot's.
    var lastRank: Int { sendTimeOfRank.count }

    /// Calls `sample` with the tally latency (ns) of each rank, for one subscriber's events in arrival order.
    func tallySamples(_ events: [VoterRole.Event], _ sample: (UInt64) -> Void) {
        var seen = 0
        for event in events where event.ballots > seen {
            let upper = min(event.ballots, lastRank)
            if upper > seen {
                for rank in (seen + 1)...upper {
                    if let sentAt = sendTimeOfRank[rank - 1] {
                        sample(event.receivedAt &- min(sentAt, event.receivedAt))
                    }
                }
            }
            seen = event.ballots
        }
    }

    /// The result's latency (ns) for one subscriber: its receive time minus the last ballot's send time.
    func resultLatency(_ events: [VoterRole.Event]) -> UInt64? {
        guard let result = events.first(where: \.isResult), let sentAt = sendTimeOfRank.last ?? nil else { return nil }
        return result.receivedAt &- min(sentAt, result.receivedAt)
    }
}
