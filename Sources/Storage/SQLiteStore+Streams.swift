import BusCore
import Foundation
import GRDB
import NIOCore

extension SQLiteWriter {
    /// The stream writes (docs/storage.md, "Streams").
    /// `newest` collects each appended partition's newest offset, written by `updateNewestStreamOffsets`
    /// once per batch (not once per row).
    func applyStream(
        _ write: StoreWrite, _ db: Database, body: inout ByteBuffer, newest: inout [String: [Int: UInt64]]
    ) throws {
        switch write {
        case .saveStream(let stream):
            let limits = stream.limits
            try run(
                db,
                """
                INSERT OR REPLACE INTO stream (name, filters, partitions, retention, storage, max_messages, max_bytes,
                max_age_ns, max_message_size, max_messages_per_subject, discard, duplicate_window_ns, sealed,
                record_overhead)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """,
                .text(stream.name), .text(StoredStreamColumns.filters(stream.filters)), .int(Int64(stream.partitions)),
                .text(stream.retention.rawValue), .text(stream.storage.rawValue), Self.optional(limits.maxMessages),
                Self.optional(limits.maxBytes),
                limits.maxAgeNanoseconds.map { Value.int(Int64(bitPattern: $0)) } ?? Value.null,
                Self.optional(limits.maxMessageSize), Self.optional(limits.maxMessagesPerSubject),
                .text(limits.discard.rawValue), .int(Int64(bitPattern: limits.duplicateWindowNanoseconds)),
                .int(limits.sealed ? 1 : 0), Self.optional(limits.recordOverhead))
        case .deleteStream(let name):
            newest[name] = nil
            try run(db, "DELETE FROM stream WHERE name = ?", .text(name))
            try run(db, "DELETE FROM stream_partition WHERE stream = ?", .text(name))
            try run(db, "DELETE FROM stream_message WHERE stream = ?", .text(name))
            try run(db, "DELETE FROM stream_consumer_offset WHERE stream = ?", .text(name))
        case .saveStreamPartition(let stream, let partition, let epoch, let lastOffset):
            newest[stream]?[partition] = nil
            try run(
                db, "DELETE FROM stream_message WHERE stream = ? AND partition = ?", .text(stream),
                .int(Int64(partition)))
            try run(
                db,
                "INSERT OR REPLACE INTO stream_partition (stream, partition, epoch, last_offset) VALUES (?, ?, ?, ?)",
                .text(stream), .int(Int64(partition)), .text(epoch), .int(Int64(lastOffset)))
        case .appendStream(let stored):
            body.clear()
            StoredMessageCodec.encode(stored.message, into: &body)
            try run(
                db,
                """
                INSERT OR REPLACE INTO stream_message (stream, partition, "offset", subject, key, time, body)
                SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7
                WHERE EXISTS (SELECT 1 FROM stream_partition WHERE stream = ?1 AND partition = ?2)
                """,
                .text(stored.stream), .int(Int64(stored.partition)), .int(Int64(stored.offset)),
                .text(stored.message.topic.name), stored.key.map { Value.bytes($0) } ?? Value.null,
                .int(Int64(bitPattern: stored.message.timestamp)), .blob(body))
            let previous = newest[stored.stream]?[stored.partition] ?? 0
            newest[stored.stream, default: [:]][stored.partition] = max(previous, stored.offset)
        case .trimStream(let stream, let partition, let before):
            try run(
                db, #"DELETE FROM stream_message WHERE stream = ? AND partition = ? AND "offset" < ?"#, .text(stream),
                .int(Int64(partition)), .int(Int64(before)))
        case .deleteStreamMessages(let stream, let partition, let offsets):
            for offset in offsets {
                try run(
                    db, #"DELETE FROM stream_message WHERE stream = ? AND partition = ? AND "offset" = ?"#,
                    .text(stream), .int(Int64(partition)), .int(Int64(offset)))
            }
        case .saveStreamConsumerOffset(let offset):
            try run(
                db,
                """
                INSERT OR REPLACE INTO stream_consumer_offset (group_name, stream, partition, epoch, "offset")
                VALUES (?, ?, ?, ?, ?)
                """,
                .text(offset.group), .text(offset.stream), .int(Int64(offset.partition)), .text(offset.epoch),
                .int(Int64(offset.offset)))
        default:
            preconditionFailure("not a stream write: \(write)")
        }
    }

    func updateNewestStreamOffsets(_ newest: [String: [Int: UInt64]], _ db: Database) throws {
        for (stream, partitions) in newest {
            for (partition, offset) in partitions {
                try run(
                    db,
                    "UPDATE stream_partition SET last_offset = max(last_offset, ?) WHERE stream = ? AND partition = ?",
                    .int(Int64(offset)), .text(stream), .int(Int64(partition)))
            }
        }
    }

    private static func optional(_ value: Int?) -> Value { value.map { .int(Int64($0)) } ?? .null }
}

extension SQLiteStore {
    /// Streams with their partitions and messages, and the consumer group offsets. A partition row that is
    /// missing (a crash between a definition and its partitions cannot happen: one transaction) or a
    /// message that does not decode is left out.
    static func loadStreams(_ db: Database, into state: inout StoredState) throws {
        for row in try Row.fetchAll(db, sql: "SELECT * FROM stream ORDER BY name") {
            guard
                let configuration = StoredStreamColumns.configuration(
                    name: row["name"], filters: row["filters"], partitions: row["partitions"],
                    retention: row["retention"], storage: row["storage"], maxMessages: row["max_messages"],
                    maxBytes: row["max_bytes"], maxAge: row["max_age_ns"], maxMessageSize: row["max_message_size"],
                    maxPerSubject: row["max_messages_per_subject"], discard: row["discard"],
                    duplicateWindow: row["duplicate_window_ns"], sealed: (row["sealed"] as Int64? ?? 0) != 0,
                    recordOverhead: row["record_overhead"])
            else { continue }
            var partitions: [StoredStreamPartition] = []
            for row in try Row.fetchAll(
                db, sql: "SELECT * FROM stream_partition WHERE stream = ? ORDER BY partition",
                arguments: [configuration.name])
            {
                let index: Int64 = row["partition"]
                guard index == partitions.count else { break }
                let last: Int64 = row["last_offset"]
                partitions.append(StoredStreamPartition(epoch: row["epoch"], lastOffset: UInt64(last)))
            }
            let rows = try Row.fetchCursor(
                db,
                sql:
                    #"SELECT partition, "offset", subject, key, body FROM stream_message WHERE stream = ? ORDER BY partition, "offset""#,
                arguments: [configuration.name])
            while let row = try rows.next() {
                let partition = Int(row["partition"] as Int64)
                let offset = UInt64(row["offset"] as Int64)
                let subject: String = row["subject"]
                let key: Data? = row["key"]
                let body: Data = row["body"]
                guard partition < partitions.count, let topic = try? Topic(subject),
                    let message = StoredMessageCodec.decode(ByteBuffer(bytes: body), topic: topic, position: nil)
                else { continue }
                partitions[partition].messages.append(
                    StoredStreamMessage(
                        stream: configuration.name, partition: partition, offset: offset, key: key.map { [UInt8]($0) },
                        message: message))
            }
            state.streams.append(StoredStream(configuration: configuration, partitions: partitions))
        }
        for row in try Row.fetchAll(
            db, sql: "SELECT * FROM stream_consumer_offset ORDER BY group_name, stream, partition")
        {
            let partition: Int64 = row["partition"]
            let offset: Int64 = row["offset"]
            state.streamConsumerOffsets.append(
                StoredStreamConsumerOffset(
                    group: row["group_name"], stream: row["stream"], partition: Int(partition), epoch: row["epoch"],
                    offset: UInt64(offset)))
        }
    }
}
