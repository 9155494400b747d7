import Foundation
import NIOCore

/// `conns`: opens N connections (protocol handshake done, no subscriptions), holds them idle for
/// `--hold` seconds and reports the server's RSS growth per connection.
///
/// One process has at most ~20,000 descriptors and one source address ~28,000 ephemeral ports, so
/// past `--connections-per-process` the tool re-executes itself as child processes, child `i`
/// binding its connections to 127.0.0.(i+1). A child prints `ready <ready> <errors>` once its
/// share is up, holds until it reads `stop` (or its standard input closes), and exits.
struct ConnectionsScenario {
    let options: BenchOptions

    func execute() throws -> BenchReport {
        if let childIndex = options.childIndex { return try runChild(index: childIndex) }
        let total = options.connections ?? 1000
        let perProcess = max(1, options.connectionsPerProcess)
        let shares = stride(from: 0, to: total, by: perProcess).map { min(perProcess, total - $0) }
        let baseline = options.serverPid.flatMap(ProcessStats.sample(pid:))

        let run = try BenchRun(options: options)
        let start = run.startMeasuring()
        let children = try shares.dropFirst().enumerated().map { offset, share in
            try ChildProcess(index: offset + 1, connections: share, options: options)
        }
        var channels = run.connectMany(shares.first ?? 0) { _, loopStats in
            IdleRole(stats: loopStats, leaveWhenReady: false)
        }
        let ownShare = shares.first ?? 0
        run.wait(timeout: max(60, options.duration)) {
            run.stats.total(\.ready) + run.stats.total(\.errors) >= ownShare
        }
        var ready = run.stats.total(\.ready)
        var errors = run.stats.total(\.errors)
        for child in children {
            let (childReady, childErrors) = child.waitUntilReady()
            ready += childReady
            errors += childErrors
        }
        let connectSeconds = Double(BenchClock.now() - start) / 1e9
        // Let the server settle (allocations after the handshake, lazy buffers), then hold.
        usleep(useconds_t(min(options.hold, options.duration) * 1_000_000))
        let held = options.serverPid.flatMap(ProcessStats.sample(pid:))
        let stillOpen = run.stats.total(\.ready) - run.stats.total(\.closed)
        for child in children { child.stop() }
        let end = BenchClock.now()
        let usage = run.stopMeasuring()
        let lastError = try run.stats.lastError()
        run.shutdown(channels)
        channels.removeAll()

        let seconds = Double(end - start) / 1e9
        var perConnection: Double?
        if let baseline, let held, ready > 0 {
            perConnection = Double(held.residentKilobytes - baseline.residentKilobytes) * 1024 / Double(ready)
        }
        return BenchReport(
            scenario: "conns", protocol: options.wire.rawValue, target: "\(run.target.host):\(run.target.port)",
            size: 0, publishers: 0, subscribers: 0, connections: ready,
            complete: ready >= total && stillOpen + (ready - ownShare) >= total, sent: 0, delivered: 0,
            expectedDeliveries: 0,
            elapsedSeconds: seconds, sentPerSecond: 0, deliveredPerSecond: 0, deliveredMegabytesPerSecond: 0,
            connectsPerSecond: Double(ready) / connectSeconds, latencyMicroseconds: nil,
            toolCPUSeconds: usage.toolCPU, toolCores: usage.toolCPU / seconds, toolThreads: options.threads,
            serverCPUSeconds: usage.serverCPU, serverCores: usage.serverCPU.map { $0 / seconds },
            serverRSSKilobytes: held?.residentKilobytes, serverRSSBaselineKilobytes: baseline?.residentKilobytes,
            serverRSSPerConnectionBytes: perConnection,
            errors: errors, lastError: lastError, command: CommandLine.arguments.joined(separator: " "),
            machineCPUSeconds: run.machineCPUSeconds)
    }

    /// The child side: connect this share from 127.0.0.(index+1), report, hold, exit.
    private func runChild(index: Int) throws -> BenchReport {
        // A child never outlives its purpose, even if the parent is killed without closing our stdin.
        alarm(UInt32(options.duration + options.hold + 120))
        let share = options.connections ?? 0
        let source = try SocketAddress(ipAddress: "127.0.0.\(index + 1)", port: 0)
        let run = try BenchRun(options: options, sourceAddress: source)
        let channels = run.connectMany(share) { _, loopStats in IdleRole(stats: loopStats, leaveWhenReady: false) }
        run.wait(timeout: max(60, options.duration)) { run.stats.total(\.ready) + run.stats.total(\.errors) >= share }
        print("ready \(run.stats.total(\.ready)) \(run.stats.total(\.errors))")
        fflush(nil)
        while let line = readLine(), line != "stop" {}
        run.shutdown(channels)
        exit(0)
    }
}

/// A `conns` child process holding a share of the connections.
final class ChildProcess {
    private let process = Process()
    private let input = Pipe()
    private let output = Pipe()

    init(index: Int, connections: Int, options: BenchOptions) throws {
        process.executableURL = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        let target = try options.resolvedTarget()
        process.arguments = [
            "conns", "--protocol", options.wire.rawValue, "--host", target.host, "--port", "\(target.port)",
            "--path", target.path, "--connections", "\(connections)", "--child-index", "\(index)",
            "--duration", "\(options.duration)", "--hold", "\(options.hold)", "--threads", "\(options.threads)",
        ]
        process.standardInput = input
        process.standardOutput = output
        try process.run()
    }

    /// Blocks until the child reports its connections are up; returns (ready, errors).
    func waitUntilReady() -> (Int, Int) {
        var line = Data()
        while true {
            let byte = output.fileHandleForReading.readData(ofLength: 1)
            if byte.isEmpty || byte == Data([10]) { break }
            line.append(byte)
        }
        let fields = String(decoding: line, as: UTF8.self).split(separator: " ")
        guard fields.count == 3, fields[0] == "ready" else { return (0, 1) }
        return (Int(fields[1]) ?? 0, Int(fields[2]) ?? 0)
    }

    /// Tells the child to close its connections and waits for it to exit.
    func stop() {
        try? input.fileHandleForWriting.write(contentsOf: Data("stop\n".utf8))
        try? input.fileHandleForWriting.close()
        process.waitUntilExit()
    }
}
