import BusCore
import Foundation
import NIOCore
import Testing

@testable import Storage

/// Streams in every store (memory, SQLite, PostgreSQL): definitions, partitions with their epochs and
/// newest offsets, messages with keys and headers, trims, deletes and consumer group offsets, across a
/// restart.
extension StoreTests {
    static func streamConfiguration(_ name: String, partitions: Int = 2) throws -> StreamConfiguration {
        StreamConfiguration(
            name: name, filters: [try TopicFilter("orders/#"), try TopicFilter("audit/+")], partitions: partitions,
            limits: StreamLimits(
                maxMessages: 100, maxBytes: nil, maxAgeNanoseconds: 3_600_000_000_000, maxMessageSize: 1024,
                maxMessagesPerSubject: 5, discard: .new, duplicateWindowNanoseconds: 120_000_000_000),
            retention: .limits, storage: .file)
    }

    static func streamMessage(_ stream: String, _ partition: Int, _ offset: UInt64, key: String? = nil) throws
        -> StoredStreamMessage
    {
        StoredStreamMessage(
            stream: stream, partition: partition, offset: offset, key: key.map { Array($0.utf8) },
            message: BusMessage(
                topic: try Topic("orders/\(offset)"), payload: ByteBuffer(string: "m\(offset)"),
                headers: MessageHeaders(
                    contentType: "text/plain", userProperties: [UserProperty(name: "a", value: "b")]),
                timestamp: 1_000 + offset))
    }

    /// A sealed stream (v6's column) and `discard: new_per_subject` come back as they were written.
    @Test(arguments: Kind.allCases) func sealedStreamsAndPerSubjectDiscardSurvive(kind: Kind) async throws {
        let harness = try Harness(kind)
        var configuration = try Self.streamConfiguration("objects", partitions: 1)
        configuration.limits.sealed = true
        configuration.limits.discard = .newPerSubject
        try await harness.write([.saveStream(configuration)])
        let state = try harness.restart()
        #expect(state.streams.map(\.configuration) == [configuration])
    }

    @Test(arguments: Kind.allCases) func streamsSurviveWithEpochsOffsetsAndMessages(kind: Kind) async throws {
        let harness = try Harness(kind)
        let configuration = try Self.streamConfiguration("orders")
        try await harness.write([
            .saveStream(configuration),
            .saveStreamPartition(stream: "orders", partition: 0, epoch: "e0", lastOffset: 0),
            .saveStreamPartition(stream: "orders", partition: 1, epoch: "e1", lastOffset: 0),
        ])
        try await harness.write(
            try (UInt64(1)...4).map { .appendStream(try Self.streamMessage("orders", 0, $0, key: "k\($0)")) } + [
                .appendStream(try Self.streamMessage("orders", 1, 1))
            ])
        try await harness.write([
            .trimStream(stream: "orders", partition: 0, before: 2),
            .deleteStreamMessages(stream: "orders", partition: 0, offsets: [4]),
        ])
        let state = try harness.restart()
        let stream = try #require(state.streams.first)
        #expect(state.streams.count == 1 && stream.configuration == configuration)
        #expect(stream.partitions.map(\.epoch) == ["e0", "e1"])
        #expect(stream.partitions.map(\.lastOffset) == [4, 1])
        #expect(stream.partitions[0].messages.map(\.offset) == [2, 3])
        #expect(
            stream.partitions[0].messages.map { $0.key.map { String(decoding: $0, as: UTF8.self) } } == ["k2", "k3"])
        let message = try #require(stream.partitions[0].messages.first?.message)
        #expect(message.topic.name == "orders/2" && String(buffer: message.payload) == "m2")
        #expect(message.timestamp == 1_002 && message.headers.contentType == "text/plain")
        #expect(message.headers.userProperties == [UserProperty(name: "a", value: "b")])
        #expect(stream.partitions[1].messages.map(\.offset) == [1] && stream.partitions[1].messages[0].key == nil)
    }

    @Test(arguments: Kind.allCases) func streamUpdatesConsumerOffsetsAndDeletes(kind: Kind) async throws {
        let harness = try Harness(kind)
        var configuration = try Self.streamConfiguration("jobs", partitions: 1)
        try await harness.write([
            .saveStream(configuration), .saveStreamPartition(stream: "jobs", partition: 0, epoch: "a", lastOffset: 0),
            .appendStream(try Self.streamMessage("jobs", 0, 1)),
            .saveStream(try Self.streamConfiguration("other", partitions: 1)),
            .saveStreamPartition(stream: "other", partition: 0, epoch: "o", lastOffset: 0),
            .saveStreamConsumerOffset(
                StoredStreamConsumerOffset(group: "g", stream: "jobs", partition: 0, epoch: "a", offset: 1)),
            .saveStreamConsumerOffset(
                StoredStreamConsumerOffset(group: "g", stream: "other", partition: 0, epoch: "o", offset: 9)),
        ])
        configuration.limits.maxMessages = 7
        configuration.limits.maxAgeNanoseconds = nil
        configuration.filters = [try TopicFilter("jobs/#")]
        try await harness.write([
            .saveStream(configuration),
            .saveStreamConsumerOffset(
                StoredStreamConsumerOffset(group: "g", stream: "jobs", partition: 0, epoch: "a", offset: 2)),
            // A partition that starts again (a memory stream after a restart): its messages go.
            .saveStreamPartition(stream: "jobs", partition: 0, epoch: "b", lastOffset: 0),
            .deleteStream(name: "other"),
        ])
        let state = try harness.restart()
        #expect(state.streams.map(\.configuration) == [configuration])
        #expect(state.streams[0].partitions.map(\.epoch) == ["b"] && state.streams[0].partitions[0].messages.isEmpty)
        #expect(
            state.streamConsumerOffsets == [
                StoredStreamConsumerOffset(group: "g", stream: "jobs", partition: 0, epoch: "a", offset: 2)
            ])
        // An append for a stream deleted meanwhile leaves nothing behind.
        try await harness.write([.appendStream(try Self.streamMessage("other", 0, 1))])
        #expect(try harness.restart().streams.count == 1)
    }

    /// Records of several commits (SQLite keeps one segment per commit): a trim inside a commit, deletes
    /// across two commits and of every record of one, then more appends, across restarts.
    @Test(arguments: Kind.allCases) func trimsAndDeletesAcrossCommitsSurvive(kind: Kind) async throws {
        let harness = try Harness(kind)
        try await harness.write([
            .saveStream(try Self.streamConfiguration("logs", partitions: 1)),
            .saveStreamPartition(stream: "logs", partition: 0, epoch: "e", lastOffset: 0),
        ])
        for commit in 0..<4 {
            try await harness.write(
                try (1...5).map { .appendStream(try Self.streamMessage("logs", 0, UInt64(commit * 5 + $0))) })
        }
        try await harness.write([
            .trimStream(stream: "logs", partition: 0, before: 4),
            .deleteStreamMessages(stream: "logs", partition: 0, offsets: [9, 5, 7, 11, 6, 8, 10, 99]),
        ])
        var state = try harness.restart()
        #expect(state.streams[0].partitions[0].messages.map(\.offset) == [4, 12, 13, 14, 15, 16, 17, 18, 19, 20])
        #expect(state.streams[0].partitions[0].lastOffset == 20)
        try await harness.write([
            .appendStream(try Self.streamMessage("logs", 0, 21)),
            .deleteStreamMessages(stream: "logs", partition: 0, offsets: [21, 4]),
            .appendStream(try Self.streamMessage("logs", 0, 22)),
            .trimStream(stream: "logs", partition: 0, before: 14),
        ])
        state = try harness.restart()
        #expect(state.streams[0].partitions[0].messages.map(\.offset) == [14, 15, 16, 17, 18, 19, 20, 22])
        #expect(state.streams[0].partitions[0].lastOffset == 22)
        let message = try #require(state.streams[0].partitions[0].messages.last?.message)
        #expect(message.topic.name == "orders/22" && String(buffer: message.payload) == "m22")
    }
}

extension StoreTests {
    static func readStream(_ store: any Store, _ stream: String, _ partition: Int, _ offsets: [UInt64]) async throws
        -> [StoredStreamMessage]
    {
        try await withCheckedThrowingContinuation { continuation in
            store.readStream(stream, partition: partition, offsets: offsets) { continuation.resume(with: $0) }
        }
    }

    /// `readStream` (a `file` stream's bodies below its memory tail): the records at the offsets asked for
    /// that the store has, in offset order, whole (key, headers, time) — across the segments of several
    /// commits, not those a trim or a delete removed (a trimmed record whose segment is kept for newer ones
    /// included), a segment written again at older offsets giving its first copy, and after a restart.
    @Test(arguments: Kind.allCases) func readStreamGivesTheStoredRecordsAtTheOffsets(kind: Kind) async throws {
        let harness = try Harness(kind)
        try await harness.write([
            .saveStream(try Self.streamConfiguration("orders")),
            .saveStreamPartition(stream: "orders", partition: 0, epoch: "e0", lastOffset: 0),
            .saveStreamPartition(stream: "orders", partition: 1, epoch: "e1", lastOffset: 0),
        ])
        try await harness.write(
            try (UInt64(1)...4).map { .appendStream(try Self.streamMessage("orders", 0, $0, key: "k\($0)")) })
        // One commit whose appends to partition 0 do not come in offset order: two segments that overlap.
        try await harness.write(
            try [8, 9, 6, 7].map { .appendStream(try Self.streamMessage("orders", 0, $0)) } + [
                .appendStream(try Self.streamMessage("orders", 1, 1))
            ])
        try await harness.write([
            .trimStream(stream: "orders", partition: 0, before: 3),
            .deleteStreamMessages(stream: "orders", partition: 0, offsets: [7]),
        ])
        for restarted in [false, true] {
            let store = restarted ? try harness.restartedStore() : harness.store
            let read = try await Self.readStream(store, "orders", 0, [1, 2, 3, 4, 5, 6, 7, 8, 10])
            #expect(read.map(\.offset) == [3, 4, 6, 8])
            let first = try #require(read.first)
            #expect(first.stream == "orders" && first.partition == 0 && first.key == Array("k3".utf8))
            #expect(first.message.topic.name == "orders/3" && String(buffer: first.message.payload) == "m3")
            #expect(first.message.timestamp == 1_003 && first.message.headers.contentType == "text/plain")
            #expect(first.message.headers.userProperties == [UserProperty(name: "a", value: "b")])
            #expect(try await Self.readStream(store, "orders", 0, [9]).map(\.offset) == [9])
            #expect(try await Self.readStream(store, "orders", 1, [1, 2]).map(\.offset) == [1])
            #expect(try await Self.readStream(store, "none", 0, [1]).isEmpty)
            #expect(try await Self.readStream(store, "orders", 0, []).isEmpty)
        }
    }
}
