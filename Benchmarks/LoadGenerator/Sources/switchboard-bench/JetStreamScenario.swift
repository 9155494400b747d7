import Atomics
import Foundation
import Histogram
import NIOCore
import NIOPosix

/// The JetStream scenarios, over the NATS client protocol (Switchboard's NATS frontend, `nats-server -js`),
/// default port 4222. Both first delete and re-create the stream `<channel>` on `<channel>.js.>` with
/// `--storage` (file by default; Switchboard keeps a file stream in its SQLite store, fsynced per group
/// commit).
///
/// - `js-publish`: `--publishers` connections publish `--count` messages of `--size` bytes to
///   `<channel>.js.<i>`, each with its own reply subject, up to `--window` PubAcks outstanding per
///   connection (async publish). Delivered = PubAcks with a sequence; latency = publish → PubAck.
/// - `js-consume`: fills the stream with `--count` messages the same way (not measured), creates the
///   durable pull consumer `bench` (explicit acks, `max_ack_pending` 10,000), then one connection drains
///   it with `--pulls` requests of `--batch` messages outstanding, acknowledging every message with
///   `+ACK`. Delivered = messages consumed and acknowledged; the run ends when the server answered the
///   `PING` after the last ack.
struct JetStreamScenario {
    /// Durable name of the pull consumer.
    static let consumerName = "bench"
    /// A pull request's `expires` (ns): long enough that requests end by being filled.
    static let pullExpires: UInt64 = 5_000_000_000
    /// The consumer's `max_ack_pending`: above what the pulls can have outstanding (nats-server's
    /// default, 1,000, would cap `--pulls` × `--batch`).
    static let maxAckPending = 10_000
    /// Seconds the unmeasured fill of js-consume may take (a slow server stores 300,000 messages in
    /// about a minute).
    static let fillTimeout = 300.0

    let options: BenchOptions
    let kind: BenchScenarioKind

    private var port: Int { options.port ?? BenchProtocolKind.nats.defaultPort }
    private var stream: String { options.channel }

    func execute() throws -> BenchReport {
        let run = try BenchRun(options: options)
        let token = String(UInt32.random(in: 0...UInt32.max), radix: 36)
        var channels: [EventLoopFuture<any Channel>] = []
        defer { run.shutdown(channels) }

        let requester = JetStreamRequesterRole(loop: run.stats.all[0].loop, inboxToken: "\(token)r")
        channels.append(connect(run, loop: run.stats.all[0].loop, role: requester))
        try requester.ready.wait()
        _ = try requester.request("$JS.API.STREAM.DELETE.\(stream)", body: "").wait()
        let created = try requester.request(
            "$JS.API.STREAM.CREATE.\(stream)",
            body: JetStreamRequest.createStream(name: stream, subjects: ["\(stream).js.>"], storage: options.storage)
        ).wait()
        guard !created.contains("\"error\"") else { throw BenchError.setupFailed("stream create: \(created)") }

        let total = options.count ?? (kind == .jsPublish ? 1_000_000 : 500_000)
        let publisherCount = max(1, options.publishers)
        switch kind {
        case .jsConsume:
            // The fill is not measured: its own stats, then the consumer's.
            let fill = try BenchRun(options: options)
            var fillChannels: [EventLoopFuture<any Channel>] = []
            let (publishers, begin) = startPublishers(fill, count: total, token: token + "f", into: &fillChannels)
            _ = try begin()
            let filled = waitForPublishers(
                fill, count: publishers.count, expected: total, label: "filling",
                timeout: max(Self.fillTimeout, options.duration))
            let stored = fill.stats.total(\.delivered)
            let fillErrors = fill.stats.total(\.errors)
            let fillError = try fill.stats.lastError()
            fill.shutdown(fillChannels)
            guard filled, stored == total else {
                throw BenchError.setupFailed(
                    "filled \(stored)/\(total) messages; \(fillErrors) errors, last: \(fillError ?? "none")")
            }
            return try consume(run, requester: requester, count: total, token: token, channels: &channels)
        default:
            let (_, begin) = startPublishers(run, count: total, token: token, into: &channels)
            let start = try begin()
            let complete = waitForPublishers(run, count: publisherCount, expected: total, label: "PubAcks")
            let now = BenchClock.now()
            let usage = run.stopMeasuring()
            let end = complete ? run.stats.latest(\.lastPublisherDoneAt) : now
            var errors = run.stats.total(\.errors)
            var lastError = try run.stats.lastError()
            let acknowledged = run.stats.total(\.delivered)
            // Not measured: the stream holds what was acknowledged (in flight when the time cap ended it).
            let info = try requester.request("$JS.API.STREAM.INFO.\(stream)", body: "").wait()
            if complete, let messages = Self.number(after: "\"messages\":", in: info), messages != acknowledged {
                errors += 1
                lastError = "stream holds \(messages) messages, \(acknowledged) were acknowledged"
            }
            return report(
                run, start: start, end: end, now: now, usage: usage, connections: publisherCount, subscribers: 0,
                complete: complete, sent: run.stats.total(\.sent), delivered: acknowledged, expected: total,
                latency: try run.stats.mergedLatency(), errors: errors, lastError: lastError)
        }
    }

    /// Connects the publishers of `count` messages; the returned closure starts the measured phase.
    private func startPublishers(
        _ run: BenchRun, count: Int, token: String, into channels: inout [EventLoopFuture<any Channel>]
    ) -> ([JetStreamPublisherRole], () throws -> UInt64) {
        let publisherCount = max(1, options.publishers)
        var publishers: [(JetStreamPublisherRole, LoopStats)] = []
        for index in 0..<publisherCount {
            let share = count / publisherCount + (index < count % publisherCount ? 1 : 0)
            let loopStats = run.stats.forConnection(index)
            let role = JetStreamPublisherRole(
                stats: loopStats, count: share, window: options.window, subject: "\(stream).js.\(index)",
                payloadSize: options.size, inboxToken: "\(token)p\(index)")
            publishers.append((role, loopStats))
            channels.append(connect(run, loop: loopStats.loop, role: role))
        }
        return (
            publishers.map(\.0),
            {
                guard run.wait(timeout: 30, until: { run.stats.total(\.subscribed) >= publisherCount }) else {
                    throw BenchError.setupFailed(
                        "\(run.stats.total(\.subscribed))/\(publisherCount) publishers ready; last error: "
                            + "\((try? run.stats.lastError()) ?? nil ?? "none")")
                }
                let start = run.startMeasuring()
                for (role, loopStats) in publishers { loopStats.loop.execute { role.start() } }
                return start
            }
        )
    }

    /// Waits until `count` roles are done (publishers, or the consumer) or `timeout` (default: the time cap).
    private func waitForPublishers(
        _ run: BenchRun, count: Int, expected: Int, label: String, timeout: Double? = nil
    ) -> Bool {
        var progress = ProgressLine(json: options.json)
        defer { progress.finish() }
        let deadline = Date().addingTimeInterval(timeout ?? options.duration)
        while Date() < deadline {
            let answered = run.stats.total(\.delivered)
            progress.update(fraction: Double(answered) / Double(max(1, expected)), detail: "\(label) \(answered)")
            if run.stats.total(\.publishersDone) >= count { return true }
            usleep(1000)
        }
        return run.stats.total(\.publishersDone) >= count
    }

    private func consume(
        _ run: BenchRun, requester: JetStreamRequesterRole, count: Int, token: String,
        channels: inout [EventLoopFuture<any Channel>]
    ) throws -> BenchReport {
        let created = try requester.request(
            "$JS.API.CONSUMER.DURABLE.CREATE.\(stream).\(Self.consumerName)",
            body: JetStreamRequest.createPullConsumer(
                stream: stream, name: Self.consumerName, maxAckPending: Self.maxAckPending)
        ).wait()
        guard !created.contains("\"error\"") else { throw BenchError.setupFailed("consumer create: \(created)") }
        let loopStats = run.stats.forConnection(1)
        let role = JetStreamPullConsumerRole(
            stats: loopStats, count: count, stream: stream, consumer: Self.consumerName, pulls: max(1, options.pulls),
            batch: max(1, options.batch), expires: Self.pullExpires, inboxToken: "\(token)c")
        channels.append(connect(run, loop: loopStats.loop, role: role))
        guard run.wait(timeout: 30, until: { run.stats.total(\.subscribed) >= 1 }) else {
            throw BenchError.setupFailed("consumer connection not ready: \((try? run.stats.lastError()) ?? nil ?? "")")
        }
        let start = run.startMeasuring()
        loopStats.loop.execute { role.start() }
        let complete = waitForPublishers(run, count: 1, expected: count, label: "consumed")
        let now = BenchClock.now()
        let usage = run.stopMeasuring()
        let end = complete ? run.stats.latest(\.lastPublisherDoneAt) : now
        var errors = run.stats.total(\.errors)
        var lastError = try run.stats.lastError()
        // Not measured: every acknowledgement reached the consumer's state.
        var ackPending: Int?
        for _ in 0..<20 {
            let info = try requester.request(
                "$JS.API.CONSUMER.INFO.\(stream).\(Self.consumerName)", body: ""
            ).wait()
            ackPending = Self.number(after: "\"num_ack_pending\":", in: info)
            if ackPending == 0 || !complete { break }
            usleep(100_000)
        }
        if complete, ackPending != 0 {
            errors += 1
            lastError = "consumer still has \(ackPending.map(String.init) ?? "?") unacknowledged messages"
        }
        return report(
            run, start: start, end: end, now: now, usage: usage, connections: 1, subscribers: 1, complete: complete,
            sent: count, delivered: run.stats.total(\.delivered), expected: count, latency: nil, errors: errors,
            lastError: lastError)
    }

    private func connect(_ run: BenchRun, loop: any EventLoop, role: any NATSMessageRole & Sendable)
        -> EventLoopFuture<any Channel>
    {
        let future = ClientBootstrap(group: loop)
            .channelOption(.socketOption(.so_reuseaddr), value: 1)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .connectTimeout(.seconds(10))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(NATSMessageClientHandler(role: role))
                }
            }
            .connect(host: run.target.host, port: port)
        let stats = run.stats.all[0]
        future.whenFailure { error in stats.loop.execute { stats.recordError("connect: \(error)") } }
        return future
    }

    /// The first integer after `key` in a JSON answer (not measured: a search is enough).
    static func number(after key: String, in text: String) -> Int? {
        guard let range = text.range(of: key) else { return nil }
        return Int(text[range.upperBound...].prefix { $0.isNumber })
    }

    private func report(
        _ run: BenchRun, start: UInt64, end: UInt64, now: UInt64,
        usage: (toolCPU: Double, serverCPU: Double?, serverRSS: Int?),
        connections: Int, subscribers: Int, complete: Bool, sent: Int, delivered: Int, expected: Int,
        latency: Histogram<UInt64>?, errors: Int, lastError: String?
    ) -> BenchReport {
        let seconds = Double(max(end, start + 1) - start) / 1e9
        let wallSeconds = Double(max(now, start + 1) - start) / 1e9
        return BenchReport(
            scenario: kind.rawValue, protocol: "nats", target: "\(run.target.host):\(port)", size: options.size,
            publishers: kind == .jsPublish ? connections : 0, subscribers: subscribers, connections: connections,
            complete: complete, sent: sent, delivered: delivered, expectedDeliveries: expected,
            elapsedSeconds: seconds, sentPerSecond: Double(sent) / seconds,
            deliveredPerSecond: Double(delivered) / seconds,
            deliveredMegabytesPerSecond: Double(delivered * options.size) / seconds / 1e6,
            connectsPerSecond: nil,
            latencyMicroseconds: latency.flatMap { $0.totalCount > 0 ? LatencySummary($0) : nil },
            toolCPUSeconds: usage.toolCPU, toolCores: usage.toolCPU / wallSeconds, toolThreads: options.threads,
            serverCPUSeconds: usage.serverCPU, serverCores: usage.serverCPU.map { $0 / wallSeconds },
            serverRSSKilobytes: usage.serverRSS, serverRSSBaselineKilobytes: nil, serverRSSPerConnectionBytes: nil,
            errors: errors, lastError: lastError, command: CommandLine.arguments.joined(separator: " "),
            machineCPUSeconds: run.machineCPUSeconds)
    }
}
