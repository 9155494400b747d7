import Atomics
import NIOCore

/// The one publisher of a scale step's publish phase: batches of `PUB`s to subjects drawn from the
/// subscribed ones (each has at least one subscriber), each batch ending in `PING`, at most
/// ``batchesInFlight`` batches unanswered and at most ``deliveryWindow`` deliveries outstanding, until
/// the deadline. Confined to its connection's loop, like its handler.
final class ScalePublisher: @unchecked Sendable {
    /// Publishes per batch (one PING each).
    static let batchSize = 100
    /// Batches written and not yet answered by PONG.
    static let batchesInFlight = 4
    /// Deliveries expected but not yet received, beyond which the publisher waits: the server's PONG
    /// answers once it matched a batch, not once it delivered it (another loop may still be writing).
    static let deliveryWindow = 20_000

    private let handler: ScaleNATSHandler
    private let stats: LoopStats
    private let allStats: LoopStatsSet
    private let lines: [[UInt8]]
    private let expectedPerSubject: (Int) -> Int
    private let sequential: Bool
    private var random: SplitMix64
    private var nextSequential = 0
    private var payload: [UInt8]
    private var batchesOutstanding = 0
    private var deadline: UInt64 = 0
    private let deliveredBefore: Int
    /// Deliveries the publishes so far should cause (the sum of their subjects' subscriber counts).
    let expected = ManagedAtomic<Int>(0)
    /// Messages published.
    let published = ManagedAtomic<Int>(0)
    /// Set once the deadline passed and the last batch was answered.
    let finished = ManagedAtomic<Bool>(false)

    /// - Parameters:
    ///   - lines: one `PUB <subject> <size>\r\n` line per subscribed subject.
    ///   - expectedPerSubject: subscribers of the subject at an index of `lines`.
    ///   - sequential: cycle over the subjects in order (connections mode) instead of drawing at random.
    init(
        handler: ScaleNATSHandler, stats: LoopStats, allStats: LoopStatsSet, lines: [[UInt8]], payloadSize: Int,
        expectedPerSubject: @escaping (Int) -> Int, sequential: Bool, seed: UInt64
    ) {
        self.handler = handler
        self.stats = stats
        self.allStats = allStats
        self.lines = lines
        self.expectedPerSubject = expectedPerSubject
        self.sequential = sequential
        self.random = SplitMix64(seed: seed)
        self.payload = BenchPayload.template(size: payloadSize, compact: true)
        self.deliveredBefore = allStats.total(\.delivered)
    }

    /// Starts publishing until `seconds` from now (call on the loop).
    func start(seconds: Double) {
        deadline = BenchClock.now() + UInt64(seconds * 1e9)
        handler.onPong = { [unowned self] in
            batchesOutstanding -= 1
            fill()
        }
        fill()
    }

    private func fill() {
        while batchesOutstanding < Self.batchesInFlight {
            let now = BenchClock.now()
            guard now < deadline else {
                if batchesOutstanding == 0 { finished.store(true, ordering: .relaxed) }
                return
            }
            let outstanding =
                expected.load(ordering: .relaxed) - (allStats.total(\.delivered) - deliveredBefore)
            guard outstanding < Self.deliveryWindow else {
                // Deliveries lag (the server accepted faster than it delivers): look again shortly.
                if batchesOutstanding == 0 {
                    stats.loop.scheduleTask(in: .microseconds(200)) { [self] in fill() }
                }
                return
            }
            sendBatch(now: now)
        }
    }

    private func sendBatch(now: UInt64) {
        guard let allocator = handler.allocator else { return }
        payload.withUnsafeMutableBytes { BenchPayload.patch($0, value: now) }
        var buffer = allocator.buffer(capacity: Self.batchSize * (32 + payload.count) + 6)
        var expectedDeliveries = 0
        for _ in 0..<Self.batchSize {
            let index: Int
            if sequential {
                index = nextSequential
                nextSequential = (nextSequential + 1) % lines.count
            } else {
                index = Int(random.next() % UInt64(lines.count))
            }
            buffer.writeBytes(lines[index])
            buffer.writeBytes(payload)
            buffer.writeInteger(UInt16(0x0D0A))
            expectedDeliveries += expectedPerSubject(index)
        }
        buffer.writeString("PING\r\n")
        batchesOutstanding += 1
        expected.store(expected.load(ordering: .relaxed) + expectedDeliveries, ordering: .relaxed)
        published.store(published.load(ordering: .relaxed) + Self.batchSize, ordering: .relaxed)
        handler.send(buffer)
    }
}

/// A small seeded generator (SplitMix64), so the subjects a run publishes to are reproducible.
struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var value = state
        value = (value ^ (value >> 30)) &* 0xBF58_476D_1CE4_E5B9
        value = (value ^ (value >> 27)) &* 0x94D0_49BB_1331_11EB
        return value ^ (value >> 31)
    }
}
