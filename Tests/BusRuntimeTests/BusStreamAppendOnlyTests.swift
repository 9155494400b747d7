import BusCore
import NIOCore
import NIOPosix
import Storage
import Testing

@testable import BusRuntime

/// `StreamRegistry.appendOnly`: a record appended to one named stream alone (a JetStream source or
/// mirror copying another stream's record), optionally at its own offset (a mirror keeps its origin's).
@Suite struct BusStreamAppendOnlyTests {
    let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)

    private func message(_ topic: String, _ text: String) -> BusMessage {
        BusMessage(topic: Topic(trusted: topic), payload: ByteBuffer(string: text), timestamp: 1)
    }

    private func append(_ bus: Bus, _ message: BusMessage, _ placement: StreamPlacement) async -> StreamAppendAck {
        await withCheckedContinuation { continuation in
            bus.streams.appendOnly(message, placement: placement) { continuation.resume(returning: $0) }
        }
    }

    @Test func appendsToTheNamedStreamAloneAtTheOffsetItIsGiven() async throws {
        let bus = Bus(eventLoops: Array(group.makeIterator()), store: MemoryStore())
        _ = try await BusStreamTests.create(bus, try BusStreamTests.configuration("origin", ["orders/#"]))
        _ = try await BusStreamTests.create(bus, StreamConfiguration(name: "copy", filters: []))
        // The origin captures `orders/…`; the copy gets it without the origin getting it again.
        let first = await append(bus, message("orders/a", "one"), StreamPlacement(stream: "copy", offset: 3))
        #expect(first.stream == "copy" && first.offset == 3 && first.outcome == .stored)
        #expect(try bus.streams.read("origin", partition: 0, from: 0).records.isEmpty)
        // Offsets between stay holes; one at or below the newest is a duplicate, not stored again.
        let again = bus.streams.appendOnly(
            message("orders/a", "again"), placement: StreamPlacement(stream: "copy", offset: 3)
        ) { _ in }
        #expect(again.outcome == .duplicate)
        let next = await append(bus, message("orders/b", "two"), StreamPlacement(stream: "copy", offset: 5))
        #expect(next.offset == 5)
        let plain = await append(bus, message("orders/c", "three"), StreamPlacement(stream: "copy"))
        #expect(plain.offset == 6)
        let read = try bus.streams.read("copy", partition: 0, from: 0)
        #expect(read.records.map(\.offset) == [3, 5, 6])
        #expect(BusStreamTests.texts(read) == ["one", "two", "three"])
        #expect(read.partition.firstOffset == 3 && read.partition.lastOffset == 6 && read.partition.messages == 3)
        let missing = bus.streams.appendOnly(message("x", "y"), placement: StreamPlacement(stream: "none")) { _ in }
        if case .refused = missing.outcome {} else { Issue.record("a missing stream refuses: \(missing)") }
    }
}
