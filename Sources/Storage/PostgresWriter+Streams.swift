import BusCore
import NIOCore
import PostgresNIO

extension PostgresWriter {
    /// The stream writes but appends (docs/storage.md, "Streams"), one statement each (a delete of single
    /// records reads the segments holding them first).
    static func enqueueStream(_ write: StoreWrite, into statements: inout Statements) throws {
        switch write {
        case .saveStream(let stream):
            let limits = stream.limits
            let maxAge = limits.maxAgeNanoseconds.map { Int64(bitPattern: $0) }
            statements.run(
                """
                INSERT INTO stream (name, filters, partitions, retention, storage, max_messages, max_bytes, max_age_ns,
                max_message_size, max_messages_per_subject, discard, duplicate_window_ns, sealed, record_overhead,
                memory_tail_bytes)
                VALUES (\(stream.name), \(StoredStreamColumns.filters(stream.filters)), \(Int64(stream.partitions)),
                \(stream.retention.rawValue), \(stream.storage.rawValue), \(limits.maxMessages.map(Int64.init)),
                \(limits.maxBytes.map(Int64.init)), \(maxAge), \(limits.maxMessageSize.map(Int64.init)),
                \(limits.maxMessagesPerSubject.map(Int64.init)), \(limits.discard.rawValue),
                \(Int64(bitPattern: limits.duplicateWindowNanoseconds)), \(limits.sealed),
                \(limits.recordOverhead.map(Int64.init)), \(stream.memoryTail.storedValue.map(Int64.init)))
                ON CONFLICT (name) DO UPDATE SET filters = excluded.filters, partitions = excluded.partitions,
                retention = excluded.retention, storage = excluded.storage, max_messages = excluded.max_messages,
                max_bytes = excluded.max_bytes, max_age_ns = excluded.max_age_ns,
                max_message_size = excluded.max_message_size,
                max_messages_per_subject = excluded.max_messages_per_subject, discard = excluded.discard,
                duplicate_window_ns = excluded.duplicate_window_ns, sealed = excluded.sealed,
                record_overhead = excluded.record_overhead, memory_tail_bytes = excluded.memory_tail_bytes
                """)
        case .deleteStream(let name):
            statements.run("DELETE FROM stream WHERE name = \(name)")
            statements.run("DELETE FROM stream_partition WHERE stream = \(name)")
            statements.run("DELETE FROM stream_segment WHERE stream = \(name)")
            statements.run("DELETE FROM stream_consumer_offset WHERE stream = \(name)")
        case .saveStreamPartition(let stream, let partition, let epoch, let lastOffset):
            statements.run("DELETE FROM stream_segment WHERE stream = \(stream) AND partition = \(Int64(partition))")
            statements.run(
                """
                INSERT INTO stream_partition (stream, partition, epoch, last_offset, trimmed_before)
                VALUES (\(stream), \(Int64(partition)), \(epoch), \(Int64(lastOffset)), 0)
                ON CONFLICT (stream, partition) DO UPDATE SET epoch = excluded.epoch, last_offset = excluded.last_offset,
                trimmed_before = 0
                """)
        case .trimStream(let stream, let partition, let before):
            // As SQLite's: whole segments below `before` go, the load skips the records of a kept one below
            // the partition's `trimmed_before`.
            statements.run(
                """
                DELETE FROM stream_segment WHERE stream = \(stream) AND partition = \(Int64(partition))
                AND last_offset < \(Int64(before))
                """)
            statements.run(
                """
                UPDATE stream_partition SET trimmed_before = GREATEST(trimmed_before, \(Int64(before)))
                WHERE stream = \(stream) AND partition = \(Int64(partition))
                """)
        case .deleteStreamMessages(let stream, let partition, let offsets):
            try deleteStreamRecords(stream, partition, offsets, into: &statements)
        case .saveStreamConsumerOffset(let offset):
            statements.run(
                """
                INSERT INTO stream_consumer_offset (group_name, stream, partition, epoch, "offset")
                VALUES (\(offset.group), \(offset.stream), \(Int64(offset.partition)), \(offset.epoch),
                \(Int64(offset.offset)))
                ON CONFLICT (group_name, stream, partition) DO UPDATE SET epoch = excluded.epoch,
                "offset" = excluded."offset"
                """)
        default:
            // `.appendStream` goes through `StreamRows` (see `enqueue`).
            preconditionFailure("not a stream write enqueued alone: \(write)")
        }
    }

    /// The stream a write changes and whether it changes more than its newest records and trim floor
    /// (what an instance following it must read: `StoreOwnedResource.streamChannel`); nil for a group offset.
    static func streamWritten(_ write: StoreWrite) -> (String, Bool)? {
        switch write {
        case .saveStream(let stream): (stream.name, true)
        case .deleteStream(let name): (name, true)
        case .saveStreamPartition(let stream, _, _, _): (stream, true)
        case .deleteStreamMessages(let stream, _, _): (stream, true)
        case .trimStream(let stream, _, _): (stream, false)
        case .appendStream(let message): (message.stream, false)
        default: nil
        }
    }

    /// Drops single records, as SQLite's: each segment holding some of `offsets` is rewritten without them,
    /// or deleted when none of its records is left. The statements sent so far are awaited first, so the
    /// read (in this commit's transaction) sees them.
    private static func deleteStreamRecords(
        _ stream: String, _ partition: Int, _ offsets: [UInt64], into statements: inout Statements
    ) throws {
        guard let lowest = offsets.min(), let highest = offsets.max() else { return }
        let dropping = Set(offsets)
        try statements.waitForAll()
        let segments = try PostgresWriter.await(
            statements.connection.query(
                """
                SELECT id, records FROM stream_segment WHERE stream = \(stream) AND partition = \(Int64(partition))
                AND last_offset >= \(Int64(lowest)) AND first_offset <= \(Int64(highest))
                """, logger: statements.logger))
        for row in segments {
            let (id, records) = try row.decode((Int64, ByteBuffer).self)
            var kept: [StreamSegmentCodec.Record] = []
            var dropped = false
            StreamSegmentCodec.decode(records) { record in
                if dropping.contains(record.offset) { dropped = true } else { kept.append(record) }
            }
            guard dropped else { continue }
            if let first = kept.first, let last = kept.last {
                statements.run(
                    """
                    UPDATE stream_segment SET first_offset = \(Int64(first.offset)), last_offset = \(Int64(last.offset)),
                    records = \(StreamSegmentCodec.encode(kept)) WHERE id = \(id)
                    """)
            } else {
                statements.run("DELETE FROM stream_segment WHERE id = \(id)")
            }
        }
    }
}

/// A run of consecutive stream appends, packed into one segment per partition (`StreamSegmentBatch`) and
/// sent as one `unnest` insert (segments of a partition that no longer exists are left out by the join)
/// and one newest-offset update per partition.
struct StreamRows {
    private var batch = StreamSegmentBatch()
    private var finished: [(StreamSegmentBatch.Key, StreamSegmentBatch.Segment)] = []

    mutating func append(_ stored: StoredStreamMessage) {
        if let segment = batch.append(stored) { finished.append(segment) }
    }

    mutating func flush(into statements: inout PostgresWriter.Statements) {
        guard !batch.isEmpty || !finished.isEmpty else { return }
        let segments = finished + batch.take().map { ($0.key, $0.value) }
        var newest: [StreamSegmentBatch.Key: Int64] = [:]
        for (key, segment) in segments { newest[key] = max(newest[key] ?? 0, Int64(segment.last)) }
        let streams = segments.map(\.0.stream)
        let partitions = segments.map { Int64($0.0.partition) }
        let firsts = segments.map { Int64($0.1.first) }
        let lasts = segments.map { Int64($0.1.last) }
        let records = segments.map(\.1.records)
        statements.run(
            """
            INSERT INTO stream_segment (stream, partition, first_offset, last_offset, records)
            SELECT m.stream, m.partition, m.first_offset, m.last_offset, m.records
            FROM unnest(\(streams)::TEXT[], \(partitions)::BIGINT[], \(firsts)::BIGINT[], \(lasts)::BIGINT[],
            \(records)::BYTEA[]) AS m(stream, partition, first_offset, last_offset, records)
            JOIN stream_partition p ON p.stream = m.stream AND p.partition = m.partition
            """)
        for (key, offset) in newest {
            statements.run(
                """
                UPDATE stream_partition SET last_offset = GREATEST(last_offset, \(offset))
                WHERE stream = \(key.stream) AND partition = \(Int64(key.partition))
                """)
        }
        self = StreamRows()
    }
}

extension PostgresStateLoader {
    /// Streams with their partitions and messages, and the consumer group offsets (as SQLite's load).
    func loadStreams(into state: inout StoredState, bodies: Bool) throws {
        for configuration in try streamDefinitions(named: nil) {
            let name = configuration.name
            var partitions: [StoredStreamPartition] = []
            var floors: [UInt64] = []
            for row in try rows(
                """
                SELECT partition, epoch, last_offset, trimmed_before FROM stream_partition WHERE stream = \(name)
                ORDER BY partition
                """)
            {
                let (index, epoch, last, floor) = try row.decode((Int64, String, Int64, Int64).self)
                guard index == partitions.count else { break }
                partitions.append(StoredStreamPartition(epoch: epoch, lastOffset: UInt64(last)))
                floors.append(UInt64(floor))
            }
            var loader = StreamSegmentLoader(stream: name, partitions: partitions, floors: floors, bodies: bodies)
            for row in try rows(
                "SELECT partition, records FROM stream_segment WHERE stream = \(name) ORDER BY partition, last_offset, id"
            ) {
                let (partition, records) = try row.decode((Int64, ByteBuffer).self)
                loader.add(partition: Int(partition), segment: records)
            }
            partitions = loader.partitions
            state.streams.append(StoredStream(configuration: configuration, partitions: partitions))
        }
        for row in try rows(
            """
            SELECT group_name, stream, partition, epoch, "offset" FROM stream_consumer_offset
            ORDER BY group_name COLLATE "C", stream COLLATE "C", partition
            """)
        {
            let (group, stream, partition, epoch, offset) = try row.decode((String, String, Int64, String, Int64).self)
            state.streamConsumerOffsets.append(
                StoredStreamConsumerOffset(
                    group: group, stream: stream, partition: Int(partition), epoch: epoch, offset: UInt64(offset)))
        }
    }

    /// The stream definitions the database holds (`name`: that one only), by name.
    func streamDefinitions(named name: String?) throws -> [StreamConfiguration] {
        let query: PostgresQuery =
            name.map {
                """
                SELECT name, filters, partitions, retention, storage, max_messages, max_bytes, max_age_ns,
                max_message_size, max_messages_per_subject, discard, duplicate_window_ns, sealed, record_overhead,
                memory_tail_bytes FROM stream WHERE name = \($0)
                """
            }
                ?? """
                SELECT name, filters, partitions, retention, storage, max_messages, max_bytes, max_age_ns, max_message_size,
                max_messages_per_subject, discard, duplicate_window_ns, sealed, record_overhead, memory_tail_bytes FROM stream
                ORDER BY name COLLATE "C"
                """
        var definitions: [StreamConfiguration] = []
        for row in try rows(query) {
            let (
                name, filters, partitionCount, retention, storage, maxMessages, maxBytes, maxAge, maxMessageSize,
                maxPerSubject, discard, duplicateWindow, sealed, recordOverhead, memoryTail
            ) = try row.decode(
                (
                    String, String, Int64, String, String, Int64?, Int64?, Int64?, Int64?, Int64?, String, Int64, Bool,
                    Int64?, Int64?
                )
                .self)
            guard
                let configuration = StoredStreamColumns.configuration(
                    name: name, filters: filters, partitions: partitionCount, retention: retention, storage: storage,
                    maxMessages: maxMessages, maxBytes: maxBytes, maxAge: maxAge, maxMessageSize: maxMessageSize,
                    maxPerSubject: maxPerSubject, discard: discard, duplicateWindow: duplicateWindow, sealed: sealed,
                    recordOverhead: recordOverhead, memoryTail: memoryTail)
            else { continue }
            definitions.append(configuration)
        }
        return definitions
    }
}
