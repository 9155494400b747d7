import BusCore
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import Storage
import Testing

@testable import BusRuntime

/// A partition among several instances sharing one database (docs/storage.md, "Streams are shared"):
/// its copy follows what the database holds, and it takes appends only while this instance holds its
/// writer claim.
@Suite struct StreamPartitionSharingTests {
    static func stored(_ offset: UInt64) throws -> StoredStreamMessage {
        StoredStreamMessage(
            stream: "s", partition: 0, offset: offset, key: nil,
            message: BusMessage(
                topic: try Topic("s/\(offset)"), payload: ByteBuffer(string: "m\(offset)"), timestamp: 1_000 + offset))
    }

    static func texts(_ box: StreamPartitionBox) throws -> [String] {
        let result = try #require(box.readNow(from: 0, limit: 100, maxBytes: .max, now: 2_000))
        return result.records.map { "\($0.offset):" + String(buffer: $0.record.message.payload) }
    }

    @Test func aPartitionFollowsWhatTheDatabaseHolds() async throws {
        let box = StreamPartitionBox(
            stream: "s", index: 0, partition: StreamPartition(epoch: "e1", limits: StreamLimits()))
        box.follow(
            StoredStreamChange.Partition(
                epoch: "e1", lastOffset: 3, trimmedBefore: 0, records: try (1...3).map(Self.stored), kept: nil),
            limits: StreamLimits(), now: 2_000)
        #expect(try Self.texts(box) == ["1:m1", "2:m2", "3:m3"])

        // A reader waiting for offset 4 is woken when another instance's record arrives.
        let waiting = box.waitForRecords(
            from: 4, timeout: .seconds(5), on: MultiThreadedEventLoopGroup.singleton.next())
        var fourth = StoredStreamChange.Partition(
            epoch: "e1", lastOffset: 4, trimmedBefore: 0, records: [try Self.stored(4)], kept: nil)
        fourth.after = 3
        box.follow(fourth, limits: StreamLimits(), now: 2_000)
        #expect(try await waiting.get())
        #expect(box.followPoint.lastOffset == 4)

        // Trimmed below 3 and 3 deleted there; 5 appended; 6 written and gone (the newest offset moves on).
        var changed = StoredStreamChange.Partition(
            epoch: "e1", lastOffset: 6, trimmedBefore: 3, records: [try Self.stored(5)], kept: [4])
        changed.after = 4
        box.follow(changed, limits: StreamLimits(), now: 2_000)
        #expect(try Self.texts(box) == ["4:m4", "5:m5"])
        #expect(box.info.lastOffset == 6)

        // Started again in another epoch: the copy is replaced.
        box.follow(
            StoredStreamChange.Partition(
                epoch: "e2", lastOffset: 1, trimmedBefore: 0, records: [try Self.stored(1)], kept: nil),
            limits: StreamLimits(), now: 2_000)
        #expect(box.followPoint.epoch == "e2")
        #expect(try Self.texts(box) == ["1:m1"])
    }

    @Test func aSharedPartitionTakesAppendsOnlyWhileWritable() throws {
        let asked = NIOLockedValueBox(0)
        let box = StreamPartitionBox(
            stream: "s", index: 0, partition: StreamPartition(epoch: "e1", limits: StreamLimits()),
            writtenElsewhere: { _ in asked.withLockedValue { $0 += 1 } })
        let record = StreamRecord(message: try Self.stored(1).message, key: nil)
        #expect(!box.isWritable)
        let refused = box.append(record, messageID: nil, now: 1_000, awaitsStore: false)
        #expect(refused.result == .refused(.writtenElsewhere))
        #expect(asked.withLockedValue { $0 } == 1)
        let batch = Array(
            repeating: StreamPartitionBox.BatchRecord(record: record, messageID: nil, now: 1_000, offset: nil), count: 3
        )
        var outcomes: [StreamPartition<StreamRecord>.AppendResult] = []
        _ = box.append(batch: batch, awaitsStore: false) { _, result, _ in outcomes.append(result) }
        #expect(outcomes == Array(repeating: .refused(.writtenElsewhere), count: 3))
        #expect(asked.withLockedValue { $0 } == 2)

        box.setWritable(true)
        #expect(box.append(record, messageID: nil, now: 1_000, awaitsStore: false).result == .appended(offset: 1))
        box.setWritable(false)
        #expect(
            box.append(record, messageID: nil, now: 1_000, awaitsStore: false).result == .refused(.writtenElsewhere))
        #expect(box.info.lastOffset == 1)
    }
}
