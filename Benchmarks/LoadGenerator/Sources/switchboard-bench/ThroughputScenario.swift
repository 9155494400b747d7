import Foundation
import NIOCore

/// `pub`, `pubsub` and `fanout`: subscribers connect and subscribe first, then publishers connect;
/// the measured phase starts when every publisher is told to go and ends when every publisher got
/// its final acknowledgement and every expected delivery arrived — or at the time cap, or when
/// deliveries stop for ``drainTimeout`` seconds after the publishers finished (the server dropped
/// some: the report says how many arrived).
struct ThroughputScenario {
    /// Seconds without a new delivery, after publishing ended, before giving up on the rest.
    static let drainTimeout = 2.0

    let run: BenchRun
    let kind: BenchScenarioKind

    func execute() throws -> BenchReport {
        let options = run.options
        let subscriberCount: Int
        switch kind {
        case .pub: subscriberCount = 0
        case .fanout: subscriberCount = options.subscribers ?? 1000
        default: subscriberCount = options.subscribers ?? 10
        }
        let publisherCount = kind == .fanout ? 1 : max(1, options.publishers)
        let totalCount = options.count ?? (kind == .fanout ? 20_000 : 1_000_000)
        let stats = run.stats
        let deliveryWindow = subscriberCount == 0 ? 0 : options.deliveryWindow ?? (kind == .fanout ? 20 : 2000)
        // AMQP and STOMP /queue/ subscribers consume one queue: each message reaches one of them, not all.
        let receiversPerMessage =
            options.wire.subscribersShareMessages(run.target) ? min(subscriberCount, 1) : subscriberCount

        // 1. Subscribers, all confirmed before anything is published.
        let ports = options.subscriberPorts
        var channels = run.connectMany(subscriberCount, port: ports.isEmpty ? nil : { ports[$0 % ports.count] }) {
            _, loopStats in
            SubscriberRole(stats: loopStats, channel: options.channel)
        }
        guard run.wait(timeout: max(30, options.duration), until: { stats.total(\.subscribed) >= subscriberCount })
        else {
            throw BenchError.setupFailed(
                "only \(stats.total(\.subscribed))/\(subscriberCount) subscriptions confirmed; last error: \((try? stats.lastError()) ?? nil ?? "none")"
            )
        }

        // 2. Publishers, each with an equal share of the count and the rate.
        let readyBefore = stats.total(\.ready)
        var publishers: [(PublisherRole, LoopStats)] = []
        for index in 0..<publisherCount {
            let share = totalCount / publisherCount + (index < totalCount % publisherCount ? 1 : 0)
            let plan = PublishPlan(
                count: share, payloadSize: options.size, acknowledgeEvery: max(1, options.ackEvery),
                window: max(1, options.window), rate: options.rate / Double(publisherCount),
                deliveryWindow: deliveryWindow, subscribers: receiversPerMessage, publishers: publisherCount)
            let loopStats = stats.forConnection(subscriberCount + index)
            let role = PublisherRole(stats: loopStats, plan: plan, allStats: stats)
            publishers.append((role, loopStats))
            channels.append(run.connect(stats: loopStats, role: role))
        }
        guard run.wait(timeout: 30, until: { stats.total(\.ready) - readyBefore >= publisherCount }) else {
            throw BenchError.setupFailed(
                "publishers did not connect; last error: \((try? stats.lastError()) ?? nil ?? "none")")
        }

        // 3. Measured phase.
        let start = run.startMeasuring()
        for (role, loopStats) in publishers {
            loopStats.loop.execute { role.start(at: start) }
        }
        let expected = totalCount * receiversPerMessage
        let deadline = Date().addingTimeInterval(options.duration)
        var lastProgress = (count: -1, at: Date())
        var progress = ProgressLine(json: options.json)
        let began = Date()
        while Date() < deadline {
            let delivered = stats.total(\.delivered)
            let byTime = Date().timeIntervalSince(began) / options.duration
            let byCount = expected > 0 ? Double(delivered) / Double(expected) : 0
            progress.update(
                fraction: max(byTime, byCount),
                detail: "sent \(stats.total(\.sent))  delivered \(delivered)")
            let publishingDone = stats.total(\.publishersDone) >= publisherCount
            if publishingDone && delivered >= expected { break }
            if delivered != lastProgress.count {
                lastProgress = (delivered, Date())
            } else if publishingDone && Date().timeIntervalSince(lastProgress.at) > Self.drainTimeout {
                break
            }
            usleep(1000)
        }
        progress.finish()
        let now = BenchClock.now()
        let usage = run.stopMeasuring()
        let sent = stats.total(\.sent)
        let delivered = stats.total(\.delivered)
        let publishingDone = stats.total(\.publishersDone) >= publisherCount
        let sendEnd = publishingDone ? stats.latest(\.lastPublisherDoneAt) : now
        let deliveryEnd = delivered >= expected ? stats.latest(\.lastDeliveryAt) : now
        let sendSeconds = Double(max(sendEnd, start + 1) - start) / 1e9
        let deliverySeconds = Double(max(deliveryEnd, start + 1) - start) / 1e9
        let elapsed = subscriberCount == 0 ? sendSeconds : max(sendSeconds, deliverySeconds)
        let wallSeconds = Double(now - start) / 1e9
        let latency = subscriberCount > 0 ? try stats.mergedLatency() : nil
        let errors = stats.total(\.errors)
        let lastError = try stats.lastError()
        run.shutdown(channels)
        channels.removeAll()

        return BenchReport(
            scenario: kind.rawValue, protocol: options.wire.rawValue, target: "\(run.target.host):\(run.target.port)",
            size: BenchPayload.effectiveSize(options.size, compact: options.wire.carriesRawPayload),
            publishers: publisherCount,
            subscribers: subscriberCount,
            connections: publisherCount + subscriberCount,
            complete: publishingDone && delivered >= expected, sent: sent, delivered: delivered,
            expectedDeliveries: expected, elapsedSeconds: elapsed,
            sentPerSecond: Double(sent) / sendSeconds,
            deliveredPerSecond: subscriberCount == 0 ? 0 : Double(delivered) / deliverySeconds,
            deliveredMegabytesPerSecond: subscriberCount == 0
                ? 0
                : Double(delivered * BenchPayload.effectiveSize(options.size, compact: options.wire.carriesRawPayload))
                    / deliverySeconds / 1e6,
            connectsPerSecond: nil, latencyMicroseconds: latency.map(LatencySummary.init),
            toolCPUSeconds: usage.toolCPU, toolCores: usage.toolCPU / wallSeconds, toolThreads: options.threads,
            serverCPUSeconds: usage.serverCPU, serverCores: usage.serverCPU.map { $0 / wallSeconds },
            serverRSSKilobytes: usage.serverRSS, serverRSSBaselineKilobytes: nil, serverRSSPerConnectionBytes: nil,
            errors: errors, lastError: lastError, command: CommandLine.arguments.joined(separator: " "),
            machineCPUSeconds: run.machineCPUSeconds)
    }
}

/// Why a run could not produce a report.
enum BenchError: Error, CustomStringConvertible {
    /// Connections or subscriptions did not come up.
    case setupFailed(String)

    var description: String {
        switch self {
        case .setupFailed(let reason): return "setup failed: \(reason)"
        }
    }
}
