import Atomics
import Foundation
import Histogram
import NIOCore

/// `collab-vote`: issue 21's benchmark — 1,000 participants voting within one second, every vote stored,
/// tallies delivered to all 1,000 with p99 ≤ 100 ms, the result within 50 ms of the deciding vote.
///
/// Setup over HTTP with the API key: a session owned by `<--user-prefix>0` with users `0…N-1` as
/// participants, and a majority vote `yes`/`no` in it. Then `--subscribers` (default 1,000) native
/// WebSockets, voter i opened with `/ws?token=<--token-prefix><i>` (default `tok-`; the server's `tokens`
/// map must give it user `<--user-prefix><i>`), each subscribed to `sessions/<id>/votes/<vote>`. Once all
/// are subscribed, each sends one `rpc` on `$sessions/cast` (i even: yes, odd: no), spread evenly over
/// `--duration` seconds (default 1) on an open-loop schedule. Split half and half, no ballot but the last decides
/// (nobody passes half of the electorate), so every ballot is stored and the last ends the vote:
/// `rejected`, reason `rule`.
///
/// Measured (``VoteTimeline``): the tally latency of each (subscriber, rank k) — when the subscriber
/// first sees `ballots ≥ k` minus when the ballot of rank k was sent; the result latency of each
/// subscriber — when the result reached it minus when the last ballot was sent; the ballot's rpc round
/// trip (answered once stored). In the report, `sent` is the ballots, `delivered` / `expected_deliveries` the tally
/// samples / subscribers × ballots stored (no rate: tallies are coalesced, so events per second say nothing), and
/// `vote` the rest.
struct CollabVoteScenario {
    /// Seconds without a new reply or result, after the last ballot, before the run is over.
    static let drainTimeout = 5.0

    let run: BenchRun

    func execute() throws -> BenchReport {
        let options = run.options
        let count = options.subscribers ?? 1000
        // Issue 21's benchmark: the ballots within one second unless told otherwise.
        let duration = options.durationOption ?? 1
        let users = (0..<count).map { "\(options.userPrefix)\($0)" }
        let api = SessionsAPI(options: options, target: run.target)
        let (session, vote) = try api.createSessionAndVote(users: users)
        let channel = SessionsAPI.voteChannel(session: session, vote: vote)
        let tokenPrefix = options.tokenPrefix ?? "tok-"
        let basePath = run.target.path
        let stats = run.stats
        let progress = VoteProgress()

        var roles: [VoterRole] = []
        roles.reserveCapacity(count)
        var channels = run.connectMany(count, path: { "\(basePath)?token=\(tokenPrefix)\($0)" }) { index, loopStats in
            let role = VoterRole(
                stats: loopStats, progress: progress, channel: channel,
                ballot: SessionsAPI.ballot(session: session, vote: vote, option: index % 2 == 0 ? "yes" : "no"))
            roles.append(role)
            return role
        }
        guard run.wait(timeout: 30, until: { stats.total(\.subscribed) >= count }) else {
            throw BenchError.setupFailed(
                "only \(stats.total(\.subscribed))/\(count) subscriptions confirmed; last error: \((try? stats.lastError()) ?? nil ?? "none")"
            )
        }

        // Open loop: ballot i is due at start + i × duration / count; a late one goes at once.
        var progressLine = ProgressLine(json: options.json)
        let start = run.startMeasuring()
        var lateness = Histogram<UInt64>(highestTrackableValue: 60_000_000_000, numberOfSignificantValueDigits: .three)
        for (index, role) in roles.enumerated() {
            let due = start + UInt64(Double(index) * duration / Double(count) * 1e9)
            let now = BenchClock.now()
            if due > now { usleep(UInt32((due - now) / 1000)) }
            let handedAt = BenchClock.now()
            lateness.record(handedAt &- min(due, handedAt))
            stats.forConnection(index).loop.execute { role.cast() }
            if index % 100 == 0 {
                progressLine.update(
                    fraction: Double(index) / Double(count),
                    detail: "cast \(index)  answered \(progress.replies.load(ordering: .relaxed))")
            }
        }
        let castEnd = BenchClock.now()
        var last = (replies: -1, results: -1, at: Date())
        while progress.replies.load(ordering: .relaxed) < count || progress.results.load(ordering: .relaxed) < count,
            Date().timeIntervalSince(last.at) < Self.drainTimeout
        {
            let now = (progress.replies.load(ordering: .relaxed), progress.results.load(ordering: .relaxed))
            if now.0 != last.replies || now.1 != last.results { last = (now.0, now.1, Date()) }
            usleep(1000)
        }
        progressLine.finish()
        let end = BenchClock.now()
        let usage = run.stopMeasuring()
        let records = try roles.enumerated().map { index, role in
            try stats.forConnection(index).loop.submit { role.record }.wait()
        }
        let lastErrorText = try stats.lastError()
        run.shutdown(channels)
        channels.removeAll()

        let summary = Self.summarize(records)
        let wall = Double(end - start) / 1e9
        let castSeconds = Double(castEnd - start) / 1e9
        var report = BenchReport(
            scenario: BenchScenarioKind.collabVote.rawValue, protocol: "http+ws", target: "127.0.0.1:\(api.port)",
            size: 0, publishers: count, subscribers: count, connections: count,
            complete: summary.complete(voters: count), sent: summary.ballotsSent, delivered: summary.tallySamples,
            expectedDeliveries: count * summary.ballotsStored, elapsedSeconds: castSeconds,
            sentPerSecond: Double(summary.ballotsSent) / castSeconds, deliveredPerSecond: 0,
            deliveredMegabytesPerSecond: 0, connectsPerSecond: nil,
            latencyMicroseconds: summary.tallyLatency.totalCount > 0 ? LatencySummary(summary.tallyLatency) : nil,
            toolCPUSeconds: usage.toolCPU, toolCores: usage.toolCPU / wall, toolThreads: options.threads + 1,
            serverCPUSeconds: usage.serverCPU, serverCores: usage.serverCPU.map { $0 / wall },
            serverRSSKilobytes: usage.serverRSS, serverRSSBaselineKilobytes: nil, serverRSSPerConnectionBytes: nil,
            errors: stats.total(\.errors), lastError: lastErrorText,
            command: CommandLine.arguments.joined(separator: " "), machineCPUSeconds: run.machineCPUSeconds,
            requestLatencyMicroseconds: summary.rpcLatency.totalCount > 0 ? LatencySummary(summary.rpcLatency) : nil)
        report.vote = summary.report(scheduleLateness: lateness)
        return report
    }
}
