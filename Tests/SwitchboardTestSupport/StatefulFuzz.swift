package import BusCore
package import BusRuntime
import Foundation
import FrontendKit
package import NIOCore
package import NIOEmbedded

/// How many random sequences a stateful fuzz test of a connection handler runs, and from which seed
/// (issue 26, docs/reliability.md "Stateful fuzzing"). `swift test` runs a few hundred from a fixed seed
/// in seconds; `scripts/reliability` sets the environment for the long run. Sequence `i` uses seed
/// `seed + i`, so a failing one replays alone with `SWITCHBOARD_STATEFUL_FUZZ_SEED=<its seed>
/// SWITCHBOARD_STATEFUL_FUZZ_ITERATIONS=1`.
package struct StatefulFuzzPlan: Sendable {
    /// Sequences per test (default: the test's own, a few seconds' worth).
    package static let iterationsVariable = "SWITCHBOARD_STATEFUL_FUZZ_ITERATIONS"
    /// The first sequence's seed (default 26).
    package static let seedVariable = "SWITCHBOARD_STATEFUL_FUZZ_SEED"
    /// A file that holds the seed of the sequence running now: what a crash (a precondition failing in
    /// the server's code kills the test process, so no test can report it) leaves for the script to print.
    package static let traceVariable = "SWITCHBOARD_STATEFUL_FUZZ_TRACE"

    package var iterations: Int
    package var seed: UInt64
    private var tracePath: String?

    package init(defaultIterations: Int, environment: [String: String] = ProcessInfo.processInfo.environment) {
        iterations = environment[Self.iterationsVariable].flatMap { Int($0) } ?? defaultIterations
        seed = environment[Self.seedVariable].flatMap { UInt64($0) } ?? 26
        tracePath = environment[Self.traceVariable]
    }

    /// Every sequence's seed, in order.
    package var seeds: [UInt64] { (0..<iterations).map { seed &+ UInt64($0) } }

    /// Notes that `name`'s sequence `seed` starts (in the trace file, when one is set).
    package func starting(_ name: String, seed: UInt64) {
        guard let tracePath else { return }
        try? "\(name) seed \(seed)\n".write(toFile: tracePath, atomically: false, encoding: .utf8)
    }

    /// Runs `sequence` for every seed in order, noting each in the trace, and returns what failed, each
    /// problem said as `failure` says it (the test records them).
    package func failures(_ name: String, of sequence: (UInt64) throws -> [String]) rethrows -> [String] {
        var failures: [String] = []
        for seed in seeds {
            starting(name, seed: seed)
            failures += try sequence(seed).map { Self.failure(name, seed: seed, $0) }
        }
        return failures
    }

    /// What a failure says: the sequence's seed and how to run it alone.
    package static func failure(_ name: String, seed: UInt64, _ problem: String) -> String {
        "\(name): sequence seed \(seed): \(problem) (replay: \(seedVariable)=\(seed) \(iterationsVariable)=1 "
            + "swift test --filter \(name))"
    }
}

/// One thing that happens to a connection in a fuzzed sequence.
package enum StatefulFuzzStep: Sendable {
    /// Bytes arriving as one read (valid packets, mutated or cut ones, garbage, or several at once).
    case read([UInt8])
    /// The socket's send buffer fills up (false) or drains (true).
    case writability(Bool)
    /// Time passes on the loop (keep-alives, timeouts, lingering closes).
    case advanceTime(milliseconds: Int64)
    /// Another client publishes on `topic` (deliveries to this connection's subscriptions).
    case publish(topic: String)
    /// The client closes the connection.
    case clientClose
}

/// Makes random sequences of steps from a protocol's packets: valid ones in random orders, mutated,
/// truncated, garbage, several in one read or one split over several reads, interleaved with writability
/// changes, time passing and publications from elsewhere.
package struct StatefulFuzzScript {
    /// The packets that open a session (CONNECT, a handshake), usually sent first and intact.
    package var opening: [[UInt8]]
    /// A random valid packet of the protocol (anything its client may send after the opening).
    package var packet: (inout SplitMix) -> [UInt8]
    /// Topics the packets subscribe to and publish on, for publications from elsewhere.
    package var topics: [String]
    /// At most this many steps after the opening.
    package var maxSteps = 40

    package init(opening: [[UInt8]], topics: [String], packet: @escaping (inout SplitMix) -> [UInt8]) {
        self.opening = opening
        self.topics = topics
        self.packet = packet
    }

    package func steps(using random: inout SplitMix) -> [StatefulFuzzStep] {
        var bytes: [[UInt8]] = []
        var steps: [StatefulFuzzStep] = []
        // Mostly a proper opening; sometimes a damaged one or none, so the pre-session states are fuzzed too.
        switch Int.random(in: 0..<10, using: &random) {
        case 0: break
        case 1: bytes.append(mutated(opening.flatMap { $0 }, using: &random))
        default: bytes.append(contentsOf: opening)
        }
        for _ in 0..<Int.random(in: 1...maxSteps, using: &random) {
            let roll = Int.random(in: 0..<100, using: &random)
            switch roll {
            case 0..<62: bytes.append(packet(&random))
            case 62..<70: bytes.append(mutated(packet(&random), using: &random))
            case 70..<73:
                let whole = packet(&random)
                bytes.append(Array(whole.prefix(Int.random(in: 0..<max(1, whole.count), using: &random))))
            case 73..<75:
                bytes.append(
                    (0..<Int.random(in: 1...16, using: &random)).map { _ in UInt8.random(in: 0...255, using: &random) })
            default:
                // Anything other than bytes: what is gathered so far arrives first.
                steps += reads(bytes, using: &random)
                bytes = []
                switch roll {
                case 75..<83: steps.append(.writability(Bool.random(using: &random)))
                case 83..<89: steps.append(.advanceTime(milliseconds: Int64.random(in: 1...30_000, using: &random)))
                case 89..<99:
                    if let topic = topics.randomElement(using: &random) { steps.append(.publish(topic: topic)) }
                default: steps.append(.clientClose)
                }
            }
        }
        steps += reads(bytes, using: &random)
        return steps
    }

    /// `packets`' bytes as reads: one per packet, all in one, or cut at random sizes.
    private func reads(_ packets: [[UInt8]], using random: inout SplitMix) -> [StatefulFuzzStep] {
        guard !packets.isEmpty else { return [] }
        switch Int.random(in: 0..<3, using: &random) {
        case 0: return packets.map { .read($0) }
        case 1: return [.read(packets.flatMap { $0 })]
        default: return packets.flatMap { $0 }.randomReads(sizes: 1...64, using: &random).map { .read($0) }
        }
    }

    private func mutated(_ bytes: [UInt8], using random: inout SplitMix) -> [UInt8] {
        ByteMutator(truncates: true).mutate(bytes, edits: 1...4, using: &random)
    }
}

/// What a sequence did: every byte the handler was given and every byte it wrote, in order, for the
/// protocol's own checks (nothing acknowledged that was not done).
package struct StatefulFuzzTranscript {
    /// The bytes read, as one stream (what the server's decoder saw, up to where it stopped).
    package var input: [UInt8] = []
    /// The bytes written, as one stream.
    package var output: [UInt8] = []
    /// Whether the server closed (or began to close) the connection before the client did.
    package var closedByServer = false

    package init() {}
}

extension EmbeddedBusHarness {
    /// Runs `steps` through `channel` (connected on this harness's loop). Errors the pipeline raises
    /// (malformed input the handler reports upward) are what fuzzing provokes, not failures; a crash is.
    package func run(_ steps: [StatefulFuzzStep], on channel: EmbeddedChannel) -> StatefulFuzzTranscript {
        var transcript = StatefulFuzzTranscript()
        func drain() {
            while let buffer = try? channel.readOutbound(as: ByteBuffer.self) {
                transcript.output += buffer.readableBytesView
            }
        }
        for step in steps {
            guard channel.isActive else { break }
            switch step {
            case .read(let bytes):
                transcript.input += bytes
                _ = try? channel.writeInbound(ByteBuffer(bytes: bytes))
                channel.pipeline.fireChannelReadComplete()
                loop.run()
            case .writability(let writable):
                channel.isWritable = writable
                channel.pipeline.fireChannelWritabilityChanged()
                loop.run()
            case .advanceTime(let milliseconds):
                loop.advanceTime(by: .milliseconds(milliseconds))
            case .publish(let topic):
                guard let topic = try? Topic(topic) else { continue }
                bus.publish(BusMessage(topic: topic, payload: ByteBuffer(string: "fuzz"), timestamp: 1), on: loop)
                loop.run()
            case .clientClose:
                drain()
                channel.close(promise: nil)
                loop.run()
                return transcript
            }
            drain()
            if !channel.isActive { transcript.closedByServer = true }
        }
        drain()
        return transcript
    }

    /// Closes `channel` if it is still open, lets every timer run out (lingering closes, session
    /// expiries up to `settle`), and says what the connection left behind: registry entries, presence,
    /// bus subscriptions beyond `subscriptionsBefore` (nil: not counted, where queues the connection
    /// declared rightly keep theirs) and any subscription matching one of `probes` that `isLeak` says
    /// is the connection's. Empty: nothing leaked.
    package func leaks(
        after channel: EmbeddedChannel, subscriptionsBefore: Int?, probes: [String] = [],
        isLeak: (BusSubscription) -> Bool = { _ in true }, settle: TimeAmount = .seconds(600)
    ) -> [String] {
        channel.isWritable = true
        if channel.isActive { channel.close(promise: nil) }
        loop.run()
        loop.advanceTime(by: settle)
        loop.run()
        var problems: [String] = []
        if channel.isActive { problems.append("the channel is still open after close and \(settle)") }
        if let subscriptionsBefore, bus.registry.count != subscriptionsBefore {
            problems.append(
                "\(bus.registry.count - subscriptionsBefore) bus subscriptions left after the close: "
                    + "\(bus.registry.channelCounts())")
        }
        for probe in probes {
            guard let topic = try? Topic(probe) else { continue }
            let matched = bus.registry.match(topic)
            for subscription in (matched.members + matched.groups.flatMap { $0 }) where isLeak(subscription) {
                problems.append(
                    "subscription \(subscription.filter.text) of \(subscription.subscriberID) left after the close")
            }
        }
        if connections.count != 0 {
            problems.append("\(connections.count) connections left in the registry: \(connections.list().map(\.id))")
        }
        let present = bus.presence.localEntries()
        if !present.isEmpty { problems.append("presence left: \(present.map { "\($0.0) \($0.1.clientID)" })") }
        return problems
    }
}
