import BusCore
import Foundation
import GRDB
import NIOCore

/// What one commit's stream writes leave for its end: the segments being built, each appended
/// partition's newest offset, and the trims (docs/storage.md, "Streams").
struct SQLiteStreamBatch {
    /// Stream appends of this commit, one segment per partition.
    var segments = StreamSegmentBatch()
    /// Per stream partition appended to: its newest offset, written once at the end (not once per row).
    var newest: [String: [Int: UInt64]] = [:]
    /// Per partition, the highest `trimStream` bound of this commit. A trim waits for the commit's end, so
    /// that the appends around it still share one segment (a records feed trims with every change once it
    /// is full: trimming in place would cut a segment per change) and one `DELETE` serves them all; the
    /// records it removes are older than every append it waited for, so the outcome is the same.
    var trims: [StreamSegmentBatch.Key: UInt64] = [:]
}

extension SQLiteWriter {
    /// The stream writes (docs/storage.md, "Streams"). Appends go into `batch.segments` (one row per
    /// partition per commit, written by `flushStreamWrites`) and trims into `batch.trims`; any other stream
    /// write flushes both first, so it sees every record appended (and every trim) before it.
    func applyStream(_ write: StoreWrite, _ db: Database, batch: inout SQLiteStreamBatch) throws {
        switch write {
        case .appendStream(let stored):
            if let (key, segment) = batch.segments.append(stored) {
                try writeStreamSegment(key, segment, db, newest: &batch.newest)
            }
            return
        case .trimStream(let stream, let partition, let before):
            let key = StreamSegmentBatch.Key(stream: stream, partition: partition)
            batch.trims[key] = max(batch.trims[key] ?? 0, before)
            return
        default:
            try flushStreamWrites(&batch, db)
        }
        switch write {
        case .saveStream(let stream):
            let limits = stream.limits
            try run(
                db,
                """
                INSERT OR REPLACE INTO stream (name, filters, partitions, retention, storage, max_messages, max_bytes,
                max_age_ns, max_message_size, max_messages_per_subject, discard, duplicate_window_ns, sealed,
                record_overhead, memory_tail_bytes)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """,
                .text(stream.name), .text(StoredStreamColumns.filters(stream.filters)), .int(Int64(stream.partitions)),
                .text(stream.retention.rawValue), .text(stream.storage.rawValue), Self.optional(limits.maxMessages),
                Self.optional(limits.maxBytes),
                limits.maxAgeNanoseconds.map { Value.int(Int64(bitPattern: $0)) } ?? Value.null,
                Self.optional(limits.maxMessageSize), Self.optional(limits.maxMessagesPerSubject),
                .text(limits.discard.rawValue), .int(Int64(bitPattern: limits.duplicateWindowNanoseconds)),
                .int(limits.sealed ? 1 : 0), Self.optional(limits.recordOverhead),
                Self.optional(stream.memoryTail.storedValue))
        case .deleteStream(let name):
            batch.newest[name] = nil
            try run(db, "DELETE FROM stream WHERE name = ?", .text(name))
            try run(db, "DELETE FROM stream_partition WHERE stream = ?", .text(name))
            try run(db, "DELETE FROM stream_segment WHERE stream = ?", .text(name))
            try run(db, "DELETE FROM stream_consumer_offset WHERE stream = ?", .text(name))
        case .saveStreamPartition(let stream, let partition, let epoch, let lastOffset):
            batch.newest[stream]?[partition] = nil
            try run(
                db, "DELETE FROM stream_segment WHERE stream = ? AND partition = ?", .text(stream),
                .int(Int64(partition)))
            try run(
                db,
                """
                INSERT OR REPLACE INTO stream_partition (stream, partition, epoch, last_offset, trimmed_before)
                VALUES (?, ?, ?, ?, 0)
                """,
                .text(stream), .int(Int64(partition)), .text(epoch), .int(Int64(lastOffset)))
        case .deleteStreamMessages(let stream, let partition, let offsets):
            try deleteStreamRecords(stream, partition, offsets, db)
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

    /// Writes the batch's open segments, then its trims (at the end of a commit, or before a write that must
    /// see them). The newest offsets wait for the commit's end (`updateNewestStreamOffsets`).
    func flushStreamWrites(_ batch: inout SQLiteStreamBatch, _ db: Database) throws {
        if !batch.segments.isEmpty {
            for (key, segment) in batch.segments.take() {
                try writeStreamSegment(key, segment, db, newest: &batch.newest)
            }
        }
        if !batch.trims.isEmpty {
            for (key, before) in batch.trims {
                // Whole segments below `before` go; a segment across it stays, and the load skips its records
                // below the partition's `trimmed_before`.
                try run(
                    db, "DELETE FROM stream_segment WHERE stream = ? AND partition = ? AND last_offset < ?",
                    .text(key.stream), .int(Int64(key.partition)), .int(Int64(before)))
                try run(
                    db,
                    """
                    UPDATE stream_partition SET trimmed_before = max(trimmed_before, ?) WHERE stream = ? AND partition = ?
                    """,
                    .int(Int64(before)), .text(key.stream), .int(Int64(key.partition)))
            }
            batch.trims = [:]
        }
    }

    /// One segment row (left out when its partition no longer exists), and the partition's newest offset.
    private func writeStreamSegment(
        _ key: StreamSegmentBatch.Key, _ segment: StreamSegmentBatch.Segment, _ db: Database,
        newest: inout [String: [Int: UInt64]]
    ) throws {
        try run(
            db,
            """
            INSERT INTO stream_segment (stream, partition, first_offset, last_offset, records)
            SELECT ?1, ?2, ?3, ?4, ?5
            WHERE EXISTS (SELECT 1 FROM stream_partition WHERE stream = ?1 AND partition = ?2)
            """,
            .text(key.stream), .int(Int64(key.partition)), .int(Int64(segment.first)), .int(Int64(segment.last)),
            .blob(segment.records))
        let previous = newest[key.stream]?[key.partition] ?? 0
        newest[key.stream, default: [:]][key.partition] = max(previous, segment.last)
    }

    /// Drops single records: each segment holding some of `offsets` is rewritten without them (or deleted
    /// when none of its records is left), so a purge by subject frees its space.
    private func deleteStreamRecords(_ stream: String, _ partition: Int, _ offsets: [UInt64], _ db: Database) throws {
        var remaining = offsets.sorted()[...]
        while let lowest = remaining.first {
            guard
                let row = try Row.fetchOne(
                    db,
                    sql: """
                        SELECT rowid, first_offset, last_offset, records FROM stream_segment
                        WHERE stream = ? AND partition = ? AND last_offset >= ? ORDER BY last_offset LIMIT 1
                        """,
                    arguments: [stream, Int64(partition), Int64(lowest)])
            else { return }
            let rowID: Int64 = row["rowid"]
            let last = UInt64(row["last_offset"] as Int64)
            let inSegment = Set(remaining.prefix { $0 <= last })
            remaining = remaining.drop { $0 <= last }
            let records: Data = row["records"]
            var kept: [StreamSegmentCodec.Record] = []
            var dropped = false
            StreamSegmentCodec.decode(ByteBuffer(bytes: records)) { record in
                if inSegment.contains(record.offset) { dropped = true } else { kept.append(record) }
            }
            guard dropped else { continue }
            if let first = kept.first, let newLast = kept.last {
                try db.execute(
                    sql: "UPDATE stream_segment SET first_offset = ?, last_offset = ?, records = ? WHERE rowid = ?",
                    arguments: [
                        Int64(first.offset), Int64(newLast.offset),
                        Data(StreamSegmentCodec.encode(kept).readableBytesView), rowID,
                    ])
            } else {
                try db.execute(sql: "DELETE FROM stream_segment WHERE rowid = ?", arguments: [rowID])
            }
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
    /// `readStream` on the reader's connection: the segments that may hold the offsets, by newest offset,
    /// until every offset is found.
    static func readStream(
        _ db: Database, stream: String, partition: Int, offsets: [UInt64], first: UInt64, last: UInt64
    ) throws -> [StoredStreamMessage] {
        // Records below the trim floor may still sit in a segment kept for newer ones: not the store's.
        let floor =
            try Int64.fetchOne(
                db, sql: "SELECT trimmed_before FROM stream_partition WHERE stream = ? AND partition = ?",
                arguments: [stream, Int64(partition)]) ?? 0
        var picker = StreamSegmentPicker(
            stream: stream, partition: partition, offsets: offsets.filter { $0 >= UInt64(max(0, floor)) })
        guard !picker.isComplete else { return [] }
        let rows = try Row.fetchCursor(
            db,
            sql: """
                SELECT records FROM stream_segment
                WHERE stream = ? AND partition = ? AND last_offset >= ? AND first_offset <= ? ORDER BY last_offset
                """,
            arguments: [stream, Int64(partition), Int64(first), Int64(last)])
        while let row = try rows.next() {
            // Straight from SQLite's copy of the blob into the segment's buffer (`Data` would be one more).
            let segment = try row.withUnsafeData(atIndex: 0) { data in ByteBuffer(bytes: data ?? Data()) }
            picker.add(segment: segment)
            if picker.isComplete { break }
        }
        return picker.messages
    }

    /// Streams with their partitions and messages (decoded from their segments), and the consumer group
    /// offsets. A partition row that is missing (a crash between a definition and its partitions cannot
    /// happen: one transaction) or a record that does not decode is left out.
    static func loadStreams(_ db: Database, into state: inout StoredState, bodies: Bool) throws {
        for row in try Row.fetchAll(db, sql: "SELECT * FROM stream ORDER BY name") {
            guard
                let configuration = StoredStreamColumns.configuration(
                    name: row["name"], filters: row["filters"], partitions: row["partitions"],
                    retention: row["retention"], storage: row["storage"], maxMessages: row["max_messages"],
                    maxBytes: row["max_bytes"], maxAge: row["max_age_ns"], maxMessageSize: row["max_message_size"],
                    maxPerSubject: row["max_messages_per_subject"], discard: row["discard"],
                    duplicateWindow: row["duplicate_window_ns"], sealed: (row["sealed"] as Int64? ?? 0) != 0,
                    recordOverhead: row["record_overhead"], memoryTail: row["memory_tail_bytes"])
            else { continue }
            var partitions: [StoredStreamPartition] = []
            var floors: [UInt64] = []
            for row in try Row.fetchAll(
                db, sql: "SELECT * FROM stream_partition WHERE stream = ? ORDER BY partition",
                arguments: [configuration.name])
            {
                let index: Int64 = row["partition"]
                guard index == partitions.count else { break }
                let last: Int64 = row["last_offset"]
                let floor: Int64 = row["trimmed_before"]
                partitions.append(StoredStreamPartition(epoch: row["epoch"], lastOffset: UInt64(last)))
                floors.append(UInt64(floor))
            }
            var loader = StreamSegmentLoader(
                stream: configuration.name, partitions: partitions, floors: floors, bodies: bodies)
            let rows = try Row.fetchCursor(
                db,
                sql: "SELECT partition, records FROM stream_segment WHERE stream = ? ORDER BY partition, last_offset",
                arguments: [configuration.name])
            while let row = try rows.next() {
                let records: Data = row["records"]
                loader.add(partition: Int(row["partition"] as Int64), segment: ByteBuffer(bytes: records))
            }
            partitions = loader.partitions
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
