import Foundation
import NIOCore
import NIOPosix

/// The machinery one run shares: the event loop group, per-loop stats, connecting, waiting and
/// the CPU/RSS snapshots that bracket the measured phase. Used only from the coordinating thread.
final class BenchRun {
    /// The options the run was started with.
    let options: BenchOptions
    /// Where the server is.
    let target: BenchTarget
    /// The tool's event loops.
    let group: MultiThreadedEventLoopGroup
    /// One stats object per loop.
    let stats: LoopStatsSet
    /// Source address connections bind to (127.0.0.x), or nil for the kernel's choice.
    let sourceAddress: SocketAddress?
    /// Connects in flight at most while ramping up.
    static let maximumConnectsInFlight = 256

    private var measureStart: (wall: UInt64, tool: Double, server: ProcessSample?, machine: Double)?

    init(options: BenchOptions, sourceAddress: SocketAddress? = nil) throws {
        self.options = options
        self.target = try options.resolvedTarget()
        self.group = MultiThreadedEventLoopGroup(numberOfThreads: max(1, options.threads))
        self.stats = LoopStatsSet(group: group)
        self.sourceAddress = sourceAddress
    }

    /// Opens connections to the target with this run's protocol and source address.
    var connector: BenchConnector {
        BenchConnector(kind: options.wire, target: target, sourceAddress: sourceAddress)
    }

    /// Opens a connection on `stats.loop` that reports to `role`.
    @discardableResult
    func connect(stats: LoopStats, role: any BenchRole & Sendable) -> EventLoopFuture<any Channel> {
        connector.connect(stats: stats, role: role)
    }

    /// Connects `count` connections spread round-robin over the loops, at most
    /// ``maximumConnectsInFlight`` at a time, and returns their channels (failed ones omitted).
    /// `path` gives a connection its own HTTP path and query (the records scenarios' `?token=`).
    func connectMany(
        _ count: Int, path: ((Int) -> String)? = nil, port: ((Int) -> Int)? = nil,
        makeRole: (Int, LoopStats) -> any BenchRole & Sendable
    ) -> [EventLoopFuture<
        any Channel
    >] {
        let settledBefore = stats.total(\.ready) + stats.total(\.errors)
        var futures: [EventLoopFuture<any Channel>] = []
        futures.reserveCapacity(count)
        let deadline = Date().addingTimeInterval(max(30, options.duration))
        for index in 0..<count {
            while index - (stats.total(\.ready) + stats.total(\.errors) - settledBefore)
                >= Self.maximumConnectsInFlight,
                Date() < deadline
            {
                usleep(500)
            }
            let loopStats = stats.forConnection(index)
            var connector = connector
            if path != nil || port != nil {
                var target = target
                if let path { target.path = path(index) }
                if let port { target.port = port(index) }
                connector = BenchConnector(kind: options.wire, target: target, sourceAddress: sourceAddress)
            }
            futures.append(connector.connect(stats: loopStats, role: makeRole(index, loopStats)))
        }
        return futures
    }

    /// Polls `condition` every millisecond until it holds or `timeout` seconds pass.
    @discardableResult
    func wait(timeout: Double, until condition: () -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while !condition() {
            if Date() >= deadline { return false }
            usleep(1000)
        }
        return true
    }

    /// Marks the start of the measured phase.
    func startMeasuring() -> UInt64 {
        let now = BenchClock.now()
        measureStart = (
            now, ProcessStats.toolCPUSeconds(), options.serverPid.flatMap(ProcessStats.sample(pid:)),
            ProcessStats.machineBusySeconds()
        )
        return now
    }

    /// CPU seconds the tool and the server used since ``startMeasuring()``, and the server's RSS now.
    /// Also records the CPU seconds the whole machine was busy, for ``BenchReport/machineCPUSeconds``.
    func stopMeasuring() -> (toolCPU: Double, serverCPU: Double?, serverRSS: Int?) {
        guard let start = measureStart else { return (0, nil, nil) }
        let tool = ProcessStats.toolCPUSeconds() - start.tool
        let server = options.serverPid.flatMap(ProcessStats.sample(pid:))
        let serverCPU = server.flatMap { end in start.server.map { end.cpuSeconds - $0.cpuSeconds } }
        machineCPUSeconds = ProcessStats.machineBusySeconds() - start.machine
        return (tool, serverCPU, server?.residentKilobytes)
    }

    /// CPU seconds the whole machine was busy during the measured phase (set by ``stopMeasuring()``).
    private(set) var machineCPUSeconds: Double?

    /// Closes every channel and stops the loops.
    func shutdown(_ channels: [EventLoopFuture<any Channel>]) {
        for future in channels {
            future.whenSuccess { $0.close(promise: nil) }
        }
        usleep(100_000)
        try? group.syncShutdownGracefully()
    }
}

/// Opens one connection of a given protocol to the target; a value, so event loops can use it
/// to reconnect (churn) without touching the coordinating thread's state.
struct BenchConnector: Sendable {
    /// The protocol to speak.
    let kind: BenchProtocolKind
    /// The server.
    let target: BenchTarget
    /// Local address to bind before connecting (127.0.0.x, port 0), or nil.
    let sourceAddress: SocketAddress?

    /// Opens a connection on `stats.loop` that reports to `role`; a failed connect counts as an error.
    func connect(stats: LoopStats, role: any BenchRole & Sendable, sourceAddress override: SocketAddress? = nil)
        -> EventLoopFuture<any Channel>
    {
        let kind = kind
        let target = target
        var bootstrap = ClientBootstrap(group: stats.loop)
            .channelOption(.socketOption(.so_reuseaddr), value: 1)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .connectTimeout(.seconds(10))
        if let address = override ?? sourceAddress { bootstrap = bootstrap.bind(to: address) }
        let future = bootstrap.channelInitializer { channel in
            channel.eventLoop.makeCompletedFuture {
                try channel.pipeline.syncOperations.addHandler(kind.makeHandler(target: target, role: role))
            }
        }.connect(host: target.host, port: target.port)
        future.whenFailure { error in stats.recordError("connect: \(error)") }
        return future
    }
}
