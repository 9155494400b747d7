import Atomics
import Foundation
import NIOCore

/// `churn`: `--connections` workers (default 50) each connect, complete the protocol handshake,
/// close, and start over, until `--count` cycles (default 20,000) or the time cap. Reports cycles
/// per second and the connect → handshake-done latency. Workers rotate over source addresses
/// 127.0.0.2–127.0.0.65 so TIME_WAIT sockets never exhaust one address's ephemeral ports.
struct ChurnScenario {
    /// Source addresses workers rotate over.
    static let sourceAddressCount = 64
    /// A handshake not done by then is a failure (as scripts/soak.py's Python clients count it).
    static let handshakeDeadline = TimeAmount.seconds(20)

    let run: BenchRun

    func execute() throws -> BenchReport {
        let options = run.options
        let workers = max(1, options.connections ?? 50)
        let count = options.count ?? 20_000
        let started = ManagedAtomic<Int>(0)
        let stopping = ManagedAtomic<Bool>(false)
        let connector = run.connector
        let sources = try (0..<Self.sourceAddressCount).map {
            try SocketAddress(ipAddress: "127.0.0.\($0 + 2)", port: 0)
        }

        let lifetime = options.lifetime

        /// One worker's loop: connect, and when that connection is gone (or failed), the next. With a
        /// `--lifetime`, a connection stays open a random 0.125–1.875 times it after its handshake, so the
        /// workers hold about that many connections at once (scripts/soak.py's churn-compiled); a handshake
        /// not done in `handshakeDeadline` counts as an error and is closed.
        @Sendable func cycle(_ stats: LoopStats, worker: Int) {
            guard !stopping.load(ordering: .relaxed) else { return }
            let number = started.loadThenWrappingIncrement(ordering: .relaxed)
            guard number < count else { return }
            let lives =
                lifetime > 0
                ? TimeAmount.nanoseconds(Int64(Double.random(in: 0.125...1.875) * lifetime * 1e9)) : .zero
            let role = IdleRole(stats: stats, leaveWhenReady: true, lifetime: lives) { cycle(stats, worker: worker) }
            connector.connect(stats: stats, role: role, sourceAddress: sources[number % sources.count])
                .whenComplete { result in
                    switch result {
                    case .failure:
                        // Not straight away: a refused connect would otherwise spin.
                        stats.loop.scheduleTask(in: lifetime > 0 ? .milliseconds(500) : .zero) {
                            cycle(stats, worker: worker)
                        }
                    case .success(let channel):
                        guard lifetime > 0 else { return }
                        channel.eventLoop.scheduleTask(in: Self.handshakeDeadline) {
                            guard !role.isReady else { return }
                            stats.recordError("handshake: not done in 20 s")
                            channel.close(promise: nil)
                        }
                    }
                }
        }

        let start = run.startMeasuring()
        let stagger = lifetime > 0 && options.rate > 0 ? 1 / options.rate : 0
        for worker in 0..<workers {
            let stats = run.stats.forConnection(worker)
            stats.loop.scheduleTask(in: .nanoseconds(Int64(Double(worker) * stagger * 1e9))) {
                cycle(stats, worker: worker)
            }
        }
        run.wait(timeout: options.duration) { run.stats.total(\.closed) + run.stats.total(\.errors) >= count }
        stopping.store(true, ordering: .relaxed)
        let end = BenchClock.now()
        let usage = run.stopMeasuring()
        // Held connections (`--lifetime`) may still be open at the end: each counts once its handshake is done.
        let cycles = lifetime > 0 ? run.stats.total(\.ready) : run.stats.total(\.closed)
        let seconds = Double(end - start) / 1e9
        let latency = try run.stats.mergedLatency()
        let errors = run.stats.total(\.errors)
        let lastError = try run.stats.lastError()
        run.wait(timeout: 3) { run.stats.total(\.closed) >= run.stats.total(\.ready) }
        run.shutdown([])
        return BenchReport(
            scenario: "churn", protocol: options.wire.rawValue, target: "\(run.target.host):\(run.target.port)",
            size: 0, publishers: 0, subscribers: 0, connections: workers,
            complete: cycles >= count, sent: 0, delivered: 0, expectedDeliveries: 0,
            elapsedSeconds: seconds, sentPerSecond: 0, deliveredPerSecond: 0, deliveredMegabytesPerSecond: 0,
            connectsPerSecond: Double(cycles) / seconds, latencyMicroseconds: LatencySummary(latency),
            toolCPUSeconds: usage.toolCPU, toolCores: usage.toolCPU / seconds, toolThreads: options.threads,
            serverCPUSeconds: usage.serverCPU, serverCores: usage.serverCPU.map { $0 / seconds },
            serverRSSKilobytes: usage.serverRSS, serverRSSBaselineKilobytes: nil, serverRSSPerConnectionBytes: nil,
            errors: errors, lastError: lastError, command: CommandLine.arguments.joined(separator: " "),
            machineCPUSeconds: run.machineCPUSeconds)
    }
}
