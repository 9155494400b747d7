import ArgumentParser
import Atomics
import Foundation
import Histogram
import NIOCore
import NIOPosix

/// `scale` and `scale-conns` (issue 25, "scale with the work"): growth curves over NATS.
///
/// - `scale`: `--connections` subscriber connections (default 100) take `--subscriptions` subscriptions
///   (default 1M) over `--topics` subjects (default 100k) in `--steps`. Subscription i is on subject
///   `<channel>.t<i mod topics>` and connection `(i mod C + i / topics) mod C`, so a subject's
///   subscribers sit on different connections. Each step pipelines its SUB lines, one write per
///   connection ending in PING; the PONGs are the barrier.
/// - `scale-conns`: connections, each subscribed to its own subject `<channel>.c<i>`, added in `--steps`
///   (default 1k, 10k, 18k); the publisher cycles over the subjects.
///
/// At every step: the add rate, the server's RSS (total, per item since the start, marginal), then a
/// publish phase of `--publish-seconds`: one publisher, subjects among those subscribed, so every
/// publish has at least one subscriber; delivered msg/s, latency, server CPU.
struct ScaleScenario {
    let options: BenchOptions
    /// `scale-conns` rather than `scale`.
    let byConnections: Bool

    /// Descriptors the tool keeps for itself beyond its connections (loops' epoll and wake fds, stdio, the
    /// publisher): a run needing more than the limit allows is refused rather than failing half-way.
    static let reservedDescriptors = 64
    /// How long one step's subscriptions or connections may take to be confirmed.
    static let stepTimeoutSeconds = 120.0
    /// After a publish phase, how long deliveries may take to drain.
    static let drainTimeoutSeconds = 5.0
    /// Pause before reading the server's RSS, for work the server finishes after the PONG.
    static let settleMicroseconds: useconds_t = 500_000

    private var unit: String { byConnections ? "conn" : "sub" }

    func execute() throws -> BenchReport {
        guard options.wire == .nats else {
            throw ValidationError("scale and scale-conns speak NATS only (--protocol nats)")
        }
        let steps = try resolvedSteps()
        let total = steps.last ?? 0
        let topics = max(1, options.topics)
        let subscriberConnections = byConnections ? total : max(1, options.connections ?? 100)
        let limit = ProcessStats.raiseFileLimit()
        guard subscriberConnections + Self.reservedDescriptors <= limit else {
            throw ValidationError(
                "\(subscriberConnections) connections need more than this process's \(limit) descriptors (ulimit -n)")
        }
        let run = try BenchRun(options: options)
        let started = BenchClock.now()
        let toolCPUBefore = ProcessStats.toolCPUSeconds()
        let machineBefore = ProcessStats.machineBusySeconds()
        let serverBefore = options.serverPid.flatMap(ProcessStats.sample(pid:))
        var channels: [EventLoopFuture<any Channel>] = []
        defer { run.shutdown(channels) }

        // The publisher first, on loop 0; its PONGs drive it, so they do not count as subscriptions.
        let publisherHandler = ScaleNATSHandler(stats: run.stats.all[0])
        publisherHandler.onPong = {}
        channels.append(connect(run: run, stats: run.stats.all[0], handler: publisherHandler))
        guard run.wait(timeout: 30, until: { run.stats.total(\.ready) >= 1 }) else {
            throw BenchError.setupFailed("publisher did not connect: \((try? run.stats.lastError()) ?? nil ?? "")")
        }
        var subscribers: [ScaleNATSHandler] = []
        if !byConnections {
            subscribers = (0..<subscriberConnections).map { ScaleNATSHandler(stats: run.stats.forConnection($0 + 1)) }
            channels += connectAll(run: run, handlers: subscribers, readyBefore: 1)
        }
        // RSS before the first subscription: with the connections of `scale` already open, so the
        // per-subscription figure is the subscription's cost alone.
        let baseline = options.serverPid.flatMap(ProcessStats.sample(pid:))
        var previousRSS = baseline?.residentKilobytes
        var rows: [ScaleStepRow] = []
        var previous = 0
        for (stepIndex, count) in steps.enumerated() {
            let added = count - previous
            let addStart: UInt64
            if byConnections {
                let handlers = (previous..<count).map { index in
                    ScaleNATSHandler(
                        stats: run.stats.forConnection(index + 1),
                        firstWrite: Array("SUB \(options.channel).c\(index) 1\r\nPING\r\n".utf8))
                }
                addStart = BenchClock.now()
                channels += connectAll(run: run, handlers: handlers, readyBefore: 1 + previous)
                try waitForSubscriptions(run: run, count: count, what: "connections subscribed")
            } else {
                let writes = subscribeLines(
                    from: previous, to: count, topics: topics, connections: subscriberConnections)
                addStart = BenchClock.now()
                for (handler, bytes) in zip(subscribers, writes) {
                    handler.stats.loop.execute { handler.send(bytes) }
                }
                try waitForSubscriptions(
                    run: run, count: subscriberConnections * (stepIndex + 1), what: "subscription barriers")
            }
            let addSeconds = Double(BenchClock.now() - addStart) / 1e9
            usleep(Self.settleMicroseconds)
            let rss = options.serverPid.flatMap(ProcessStats.sample(pid:))?.residentKilobytes

            let subscribedTopics = byConnections ? count : min(count, topics)
            let prefix = byConnections ? "\(options.channel).c" : "\(options.channel).t"
            let payloadSize = BenchPayload.effectiveSize(options.size, compact: true)
            let lines = (0..<subscribedTopics).map { Array("PUB \(prefix)\($0) \(payloadSize)\r\n".utf8) }
            let perTopic = count / topics
            let remainder = count % topics
            let phase = try publishPhase(
                run: run, handler: publisherHandler, lines: lines,
                expectedPerSubject: byConnections ? { _ in 1 } : { $0 < remainder ? perTopic + 1 : perTopic },
                seed: UInt64(count))

            var row = phase
            row.count = count
            row.addedPerSecond = Double(added) / addSeconds
            row.serverRSSKilobytes = rss
            if let rss, let start = baseline?.residentKilobytes, count > 0 {
                row.serverRSSPerItemBytes = Double(rss - start) * 1024 / Double(count)
            }
            if let rss, let before = previousRSS, added > 0 {
                row.serverRSSMarginalBytes = Double(rss - before) * 1024 / Double(added)
            }
            previousRSS = rss
            rows.append(row)
            FileHandle.standardError.write(Data((row.line(unit: unit) + "\n").utf8))
            previous = count
        }
        let seconds = Double(BenchClock.now() - started) / 1e9
        let toolCPU = ProcessStats.toolCPUSeconds() - toolCPUBefore
        let end = options.serverPid.flatMap(ProcessStats.sample(pid:))
        let errors = run.stats.total(\.errors)
        let lastError = try run.stats.lastError()
        let last = rows.last
        var growth: [String: Double] = [:]
        for row in rows { growth.merge(row.flattened(unit: unit)) { $1 } }
        return BenchReport(
            scenario: byConnections ? "scale-conns" : "scale", protocol: options.wire.rawValue,
            target: "\(run.target.host):\(run.target.port)",
            size: BenchPayload.effectiveSize(options.size, compact: true), publishers: 1,
            subscribers: subscriberConnections, connections: subscriberConnections + 1,
            complete: rows.count == steps.count && rows.allSatisfy { $0.delivered >= $0.expectedDeliveries },
            sent: last?.published ?? 0, delivered: last?.delivered ?? 0,
            expectedDeliveries: last?.expectedDeliveries ?? 0, elapsedSeconds: seconds,
            sentPerSecond: last?.publishedPerSecond ?? 0, deliveredPerSecond: last?.deliveredPerSecond ?? 0,
            deliveredMegabytesPerSecond: (last?.deliveredPerSecond ?? 0) * Double(options.size) / 1e6,
            connectsPerSecond: nil, latencyMicroseconds: last?.latencyMicroseconds,
            toolCPUSeconds: toolCPU, toolCores: toolCPU / seconds, toolThreads: options.threads,
            serverCPUSeconds: end.flatMap { end in serverBefore.map { end.cpuSeconds - $0.cpuSeconds } },
            serverCores: last?.serverCores,
            serverRSSKilobytes: end?.residentKilobytes, serverRSSBaselineKilobytes: baseline?.residentKilobytes,
            serverRSSPerConnectionBytes: byConnections ? last?.serverRSSPerItemBytes : nil,
            errors: errors, lastError: lastError, command: CommandLine.arguments.joined(separator: " "),
            machineCPUSeconds: ProcessStats.machineBusySeconds() - machineBefore,
            scaleSteps: rows, growth: growth)
    }

    /// `--steps`, or the defaults, ascending, capped by `--subscriptions` (scale) or `--connections`.
    private func resolvedSteps() throws -> [Int] {
        let ceiling = byConnections ? (options.connections ?? 18_000) : options.subscriptions
        let asked =
            options.steps.map { $0.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) } }
            ?? (byConnections ? [1_000, 10_000, 18_000] : [1_000, 10_000, 100_000, 1_000_000])
        let steps = Array(Set(asked.filter { $0 > 0 && $0 <= ceiling })).sorted()
        guard !steps.isEmpty else { throw ValidationError("no step at or below \(ceiling)") }
        return steps
    }

    /// The SUB lines of subscriptions `from..<to`, one byte string per subscriber connection, each ending in PING.
    private func subscribeLines(from: Int, to: Int, topics: Int, connections: Int) -> [[UInt8]] {
        var writes = [[UInt8]](repeating: [], count: connections)
        let perConnection = (to - from) / connections + 1
        for index in writes.indices { writes[index].reserveCapacity(perConnection * 28 + 6) }
        for subscription in from..<to {
            let connection = (subscription % connections + subscription / topics) % connections
            writes[connection] += "SUB \(options.channel).t\(subscription % topics) \(subscription + 1)\r\n".utf8
        }
        for index in writes.indices { writes[index] += "PING\r\n".utf8 }
        return writes
    }

    private func waitForSubscriptions(run: BenchRun, count: Int, what: String) throws {
        let confirmed = run.wait(timeout: Self.stepTimeoutSeconds) {
            run.stats.total(\.subscribed) >= count || run.stats.total(\.errors) > 0
        }
        guard confirmed, run.stats.total(\.errors) == 0 else {
            throw BenchError.setupFailed(
                "\(run.stats.total(\.subscribed)) of \(count) \(what); last error: \((try? run.stats.lastError()) ?? nil ?? "none")"
            )
        }
    }

    /// One publish phase: `--publish-seconds` of publishing, then up to ``drainTimeoutSeconds`` for the deliveries.
    private func publishPhase(
        run: BenchRun, handler: ScaleNATSHandler, lines: [[UInt8]], expectedPerSubject: @escaping (Int) -> Int,
        seed: UInt64
    ) throws -> ScaleStepRow {
        for stats in run.stats.all { try stats.loop.submit { stats.latency.reset() }.wait() }
        let deliveredBefore = run.stats.total(\.delivered)
        let publisher = ScalePublisher(
            handler: handler, stats: run.stats.all[0], allStats: run.stats, lines: lines, payloadSize: options.size,
            expectedPerSubject: expectedPerSubject, sequential: byConnections, seed: seed)
        let serverBefore = options.serverPid.flatMap(ProcessStats.sample(pid:))
        let start = BenchClock.now()
        let seconds = options.publishSeconds
        run.stats.all[0].loop.execute { publisher.start(seconds: seconds) }
        run.wait(timeout: seconds + 30) { publisher.finished.load(ordering: .relaxed) }
        let publishEnd = BenchClock.now()
        let expected = publisher.expected.load(ordering: .relaxed)
        run.wait(timeout: Self.drainTimeoutSeconds) { run.stats.total(\.delivered) - deliveredBefore >= expected }
        let serverAfter = options.serverPid.flatMap(ProcessStats.sample(pid:))
        let delivered = run.stats.total(\.delivered) - deliveredBefore
        let lastDelivery = max(run.stats.latest(\.lastDeliveryAt), publishEnd)
        let wall = Double(lastDelivery - start) / 1e9
        let published = publisher.published.load(ordering: .relaxed)
        let latency = try run.stats.mergedLatency()
        var serverCores: Double?
        if let serverBefore, let serverAfter { serverCores = (serverAfter.cpuSeconds - serverBefore.cpuSeconds) / wall }
        return ScaleStepRow(
            count: 0, addedPerSecond: 0, published: published,
            publishedPerSecond: Double(published) / (Double(publishEnd - start) / 1e9), delivered: delivered,
            expectedDeliveries: expected, deliveredPerSecond: Double(delivered) / wall,
            latencyMicroseconds: latency.totalCount > 0 ? LatencySummary(latency) : nil, serverCores: serverCores)
    }

    /// Connects `handlers` (the i-th on loop (readyBefore + i) mod loops), at most
    /// ``BenchRun/maximumConnectsInFlight`` at a time, and waits until all are ready (or failed).
    private func connectAll(run: BenchRun, handlers: [ScaleNATSHandler], readyBefore: Int)
        -> [EventLoopFuture<any Channel>]
    {
        let settledBefore = run.stats.total(\.ready) + run.stats.total(\.errors)
        let deadline = Date().addingTimeInterval(Self.stepTimeoutSeconds)
        var futures: [EventLoopFuture<any Channel>] = []
        futures.reserveCapacity(handlers.count)
        for (index, handler) in handlers.enumerated() {
            while index - (run.stats.total(\.ready) + run.stats.total(\.errors) - settledBefore)
                >= BenchRun.maximumConnectsInFlight, Date() < deadline
            {
                usleep(500)
            }
            futures.append(connect(run: run, stats: handler.stats, handler: handler))
        }
        run.wait(timeout: Self.stepTimeoutSeconds) {
            run.stats.total(\.ready) + run.stats.total(\.errors) - settledBefore >= handlers.count
        }
        return futures
    }

    private func connect(run: BenchRun, stats: LoopStats, handler: ScaleNATSHandler) -> EventLoopFuture<any Channel> {
        let future = ClientBootstrap(group: stats.loop)
            .channelOption(.socketOption(.so_reuseaddr), value: 1)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .connectTimeout(.seconds(10))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(handler) }
            }
            .connect(host: run.target.host, port: run.target.port)
        future.whenFailure { error in stats.recordError("connect: \(error)") }
        return future
    }
}
