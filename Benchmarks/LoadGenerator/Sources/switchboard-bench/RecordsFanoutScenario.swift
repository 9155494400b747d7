import Foundation
import Histogram

/// `records-fanout` and `records-fanout-mixed`: change → delivery latency of record events to many
/// subscribers, each with the collection's view rule evaluated for it on every delivery
/// (docs/records.md, "The view rule, per subscriber").
///
/// A fresh collection with `viewRule` `owner = @request.auth.id || public = true`; `--subscribers`
/// (default 1,000) native WebSockets, subscriber i opened with `/ws?token=<--token-prefix><i>` (the
/// server's `tokens` map gives each its user), all subscribed to `collections/<c>/+`; then one creator
/// (a blocking keep-alive HTTP/1.1 connection) POSTs `--rate` × `--duration` records (default 200/s; at
/// most `--count`) on an open-loop schedule, one request in flight: a server that cannot keep the rate
/// makes the run longer, and the report gives the rate achieved. Each record carries its send time in `sent`; the latency is the
/// subscriber's receive time minus that, so it includes the POST, the commit (fsync) and the publish.
/// In the mixed variant every other record is `public=false` and owned by `--private-owner`, which
/// should be subscriber 0's user: such a record is expected once, not `--subscribers` times.
struct RecordsFanoutScenario {
    /// Seconds without a new delivery, after the last create, before the count is final.
    static let drainTimeout = 2.0
    /// The view rule under test.
    static let viewRule = "owner = @request.auth.id || public = true"

    let run: BenchRun
    let mixed: Bool

    func execute() throws -> BenchReport {
        let options = run.options
        let api = RecordsAPI(options: options, target: run.target)
        let collection = RecordsAPI.freshCollectionName(prefix: options.channel)
        try api.createCollection(collection, viewRule: Self.viewRule)
        let stats = run.stats
        let subscriberCount = options.subscribers ?? 1000
        let basePath = run.target.path

        var channels = run.connectMany(
            subscriberCount,
            path: { index in options.tokenPrefix.map { "\(basePath)?token=\($0)\(index)" } ?? basePath }
        ) { _, loopStats in
            SubscriberRole(stats: loopStats, channel: RecordsAPI.topic(collection))
        }
        guard run.wait(timeout: max(30, options.duration), until: { stats.total(\.subscribed) >= subscriberCount })
        else {
            throw BenchError.setupFailed(
                "only \(stats.total(\.subscribed))/\(subscriberCount) subscriptions confirmed; last error: \((try? stats.lastError()) ?? nil ?? "none")"
            )
        }

        let rate = options.rate > 0 ? options.rate : 200
        let total = options.count ?? Int.max
        let title = String(repeating: "x", count: max(0, options.size))
        let path = RecordsAPI.recordsPath(collection)
        let creator = try HTTPConnection(host: "127.0.0.1", port: api.port)
        var requests = Histogram<UInt64>(highestTrackableValue: 60_000_000_000, numberOfSignificantValueDigits: .three)
        var created = (public: 0, private: 0)
        var errors = 0
        var lastError: String?
        var progress = ProgressLine(json: options.json)
        let start = run.startMeasuring()
        let stop = start + UInt64(options.duration * 1e9)
        var index = 0
        while index < total {
            // Open loop on a schedule: a create that is late (the previous answer was slow) goes at once.
            let due = start + UInt64(Double(index) / rate * 1e9)
            if due >= stop { break }
            let now = BenchClock.now()
            if due > now { usleep(UInt32((due - now) / 1000)) }
            let isPublic = !mixed || index % 2 == 0
            let sent = BenchClock.now()
            let body = RecordsAPI.createBody(
                sentAt: sent, title: title,
                visibility: (isPublic, isPublic ? "nobody" : options.privateOwner))
            index += 1
            do {
                let response = try creator.request(
                    "POST", path, contentType: "application/json", accept: "application/json",
                    authorization: api.authorization, body: body)
                guard response.status == 200 else {
                    errors += 1
                    lastError = "HTTP \(response.status): \(response.text.prefix(200))"
                    continue
                }
                requests.record(BenchClock.now() - sent)
                if isPublic { created.public += 1 } else { created.private += 1 }
            } catch {
                errors += 1
                lastError = "\(error)"
                break
            }
            if index % 100 == 0 {
                progress.update(
                    fraction: Double(BenchClock.now() - start) / Double(stop - start),
                    detail: "created \(index)  delivered \(stats.total(\.delivered))")
            }
        }
        creator.close()
        let createdEnd = BenchClock.now()
        let expected = created.public * subscriberCount + (subscriberCount > 0 ? created.private : 0)
        var last = (count: -1, at: Date())
        while stats.total(\.delivered) < expected, Date().timeIntervalSince(last.at) < Self.drainTimeout {
            let delivered = stats.total(\.delivered)
            if delivered != last.count { last = (delivered, Date()) }
            usleep(1000)
        }
        progress.finish()
        let end = BenchClock.now()
        let usage = run.stopMeasuring()
        let delivered = stats.total(\.delivered)
        let latency = try stats.mergedLatency()
        let lastErrorText = try lastError ?? stats.lastError()
        let subscriberErrors = stats.total(\.errors)
        run.shutdown(channels)
        channels.removeAll()

        let sent = created.public + created.private
        let createSeconds = Double(createdEnd - start) / 1e9
        let wall = Double(end - start) / 1e9
        return BenchReport(
            scenario: (mixed ? BenchScenarioKind.recordsFanoutMixed : .recordsFanout).rawValue,
            protocol: "http+ws", target: "127.0.0.1:\(api.port)", size: options.size, publishers: 1,
            subscribers: subscriberCount, connections: subscriberCount + 1, complete: delivered >= expected,
            sent: sent, delivered: delivered, expectedDeliveries: expected, elapsedSeconds: createSeconds,
            sentPerSecond: Double(sent) / createSeconds, deliveredPerSecond: Double(delivered) / createSeconds,
            deliveredMegabytesPerSecond: Double(delivered * options.size) / createSeconds / 1e6,
            connectsPerSecond: nil, latencyMicroseconds: latency.totalCount > 0 ? LatencySummary(latency) : nil,
            toolCPUSeconds: usage.toolCPU, toolCores: usage.toolCPU / wall, toolThreads: options.threads + 1,
            serverCPUSeconds: usage.serverCPU, serverCores: usage.serverCPU.map { $0 / wall },
            serverRSSKilobytes: usage.serverRSS, serverRSSBaselineKilobytes: nil, serverRSSPerConnectionBytes: nil,
            errors: errors + subscriberErrors, lastError: lastErrorText,
            command: CommandLine.arguments.joined(separator: " "), machineCPUSeconds: run.machineCPUSeconds,
            requestLatencyMicroseconds: requests.totalCount > 0 ? LatencySummary(requests) : nil)
    }
}
