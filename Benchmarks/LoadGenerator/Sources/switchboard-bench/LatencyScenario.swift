import Atomics
import Foundation
import NIOCore

/// `latency`: one publisher and one subscriber on the same event loop. The subscriber's delivery
/// triggers the next publish, so exactly one message is in flight and each sample is the one-way
/// publish → delivery time through the server.
struct LatencyScenario {
    let run: BenchRun

    func execute() throws -> BenchReport {
        let options = run.options
        let count = options.count ?? 20_000
        let loopStats = run.stats.all[0]
        let subscriber = SubscriberRole(stats: loopStats, channel: options.channel)
        let publisher = PublisherRole(
            stats: loopStats,
            plan: PublishPlan(count: count, payloadSize: options.size, acknowledgeEvery: 1, window: 1, rate: 0))
        // On another instance with --subscriber-ports: the publish crosses Redis.
        var channels = [
            run.options.subscriberPorts.first.map { port in
                var target = run.target
                target.port = port
                return BenchConnector(kind: options.wire, target: target, sourceAddress: run.sourceAddress)
                    .connect(stats: loopStats, role: subscriber)
            } ?? run.connect(stats: loopStats, role: subscriber)
        ]
        guard run.wait(timeout: 30, until: { loopStats.subscribed.load(ordering: .relaxed) >= 1 }) else {
            throw BenchError.setupFailed(
                "subscription not confirmed; last error: \((try? run.stats.lastError()) ?? nil ?? "none")")
        }
        channels.append(run.connect(stats: loopStats, role: publisher))
        guard run.wait(timeout: 30, until: { loopStats.ready.load(ordering: .relaxed) >= 2 }) else {
            throw BenchError.setupFailed("publisher did not connect")
        }
        try loopStats.loop.submit {
            subscriber.onDelivery = { publisher.publishOne() }
        }.wait()

        let start = run.startMeasuring()
        loopStats.loop.execute { publisher.publishOne() }
        run.wait(timeout: options.duration) { loopStats.delivered.load(ordering: .relaxed) >= count }
        let end = BenchClock.now()
        let usage = run.stopMeasuring()
        let delivered = run.stats.total(\.delivered)
        let sent = run.stats.total(\.sent)
        let seconds = Double(end - start) / 1e9
        let latency = try run.stats.mergedLatency()
        let errors = run.stats.total(\.errors)
        let lastError = try run.stats.lastError()
        run.shutdown(channels)
        channels.removeAll()
        return BenchReport(
            scenario: "latency", protocol: options.wire.rawValue, target: "\(run.target.host):\(run.target.port)",
            size: BenchPayload.effectiveSize(options.size, compact: options.wire.carriesRawPayload), publishers: 1,
            subscribers: 1, connections: 2,
            complete: delivered >= count, sent: sent, delivered: delivered, expectedDeliveries: count,
            elapsedSeconds: seconds, sentPerSecond: Double(sent) / seconds,
            deliveredPerSecond: Double(delivered) / seconds,
            deliveredMegabytesPerSecond: Double(
                delivered * BenchPayload.effectiveSize(options.size, compact: options.wire.carriesRawPayload)) / seconds
                / 1e6,
            connectsPerSecond: nil, latencyMicroseconds: LatencySummary(latency),
            toolCPUSeconds: usage.toolCPU, toolCores: usage.toolCPU / seconds, toolThreads: options.threads,
            serverCPUSeconds: usage.serverCPU, serverCores: usage.serverCPU.map { $0 / seconds },
            serverRSSKilobytes: usage.serverRSS, serverRSSBaselineKilobytes: nil, serverRSSPerConnectionBytes: nil,
            errors: errors, lastError: lastError, command: CommandLine.arguments.joined(separator: " "),
            machineCPUSeconds: run.machineCPUSeconds)
    }
}
