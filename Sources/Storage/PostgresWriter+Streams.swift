import BusCore
import NIOCore
import PostgresNIO

extension PostgresWriter {
    /// The stream writes but appends (docs/storage.md, "Streams"), one statement each.
    static func enqueueStream(_ write: StoreWrite, into statements: inout Statements) {
        switch write {
        case .saveStream(let stream):
            let limits = stream.limits
            let maxAge = limits.maxAgeNanoseconds.map { Int64(bitPattern: $0) }
            statements.run(
                """
                INSERT INTO stream (name, filters, partitions, retention, storage, max_messages, max_bytes, max_age_ns,
                max_message_size, max_messages_per_subject, discard, duplicate_window_ns, sealed, record_overhead)
                VALUES (\(stream.name), \(StoredStreamColumns.filters(stream.filters)), \(Int64(stream.partitions)),
                \(stream.retention.rawValue), \(stream.storage.rawValue), \(limits.maxMessages.map(Int64.init)),
                \(limits.maxBytes.map(Int64.init)), \(maxAge), \(limits.maxMessageSize.map(Int64.init)),
                \(limits.maxMessagesPerSubject.map(Int64.init)), \(limits.discard.rawValue),
                \(Int64(bitPattern: limits.duplicateWindowNanoseconds)), \(limits.sealed),
                \(limits.recordOverhead.map(Int64.init)))
                ON CONFLICT (name) DO UPDATE SET filters = excluded.filters, partitions = excluded.partitions,
                retention = excluded.retention, storage = excluded.storage, max_messages = excluded.max_messages,
                max_bytes = excluded.max_bytes, max_age_ns = excluded.max_age_ns,
                max_message_size = excluded.max_message_size,
                max_messages_per_subject = excluded.max_messages_per_subject, discard = excluded.discard,
                duplicate_window_ns = excluded.duplicate_window_ns, sealed = excluded.sealed,
                record_overhead = excluded.record_overhead
                """)
        case .deleteStream(let name):
            statements.run("DELETE FROM stream WHERE name = \(name)")
            statements.run("DELETE FROM stream_partition WHERE stream = \(name)")
            statements.run("DELETE FROM stream_message WHERE stream = \(name)")
            statements.run("DELETE FROM stream_consumer_offset WHERE stream = \(name)")
        case .saveStreamPartition(let stream, let partition, let epoch, let lastOffset):
            statements.run("DELETE FROM stream_message WHERE stream = \(stream) AND partition = \(Int64(partition))")
            statements.run(
                """
                INSERT INTO stream_partition (stream, partition, epoch, last_offset)
                VALUES (\(stream), \(Int64(partition)), \(epoch), \(Int64(lastOffset)))
                ON CONFLICT (stream, partition) DO UPDATE SET epoch = excluded.epoch, last_offset = excluded.last_offset
                """)
        case .trimStream(let stream, let partition, let before):
            statements.run(
                """
                DELETE FROM stream_message WHERE stream = \(stream) AND partition = \(Int64(partition))
                AND "offset" < \(Int64(before))
                """)
        case .deleteStreamMessages(let stream, let partition, let offsets):
            statements.run(
                """
                DELETE FROM stream_message WHERE stream = \(stream) AND partition = \(Int64(partition))
                AND "offset" = ANY(\(offsets.map { Int64($0) })::BIGINT[])
                """)
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
}

/// A run of consecutive stream appends, sent as one `unnest` insert (rows of a partition that no longer
/// exists are left out by the join) and one newest-offset update per partition.
struct StreamRows {
    private var streams: [String] = []
    private var partitions: [Int64] = []
    private var offsets: [Int64] = []
    private var subjects: [String] = []
    /// `hasKeys[i]` false: the row's key is NULL (an array of optionals is not encodable).
    private var keys: [ByteBuffer] = []
    private var hasKeys: [Bool] = []
    private var times: [Int64] = []
    private var bodies: [ByteBuffer] = []
    private var newest: [String: [Int64: Int64]] = [:]

    mutating func append(_ stored: StoredStreamMessage) {
        streams.append(stored.stream)
        partitions.append(Int64(stored.partition))
        offsets.append(Int64(stored.offset))
        subjects.append(stored.message.topic.name)
        keys.append(stored.key.map { ByteBuffer(bytes: $0) } ?? ByteBuffer())
        hasKeys.append(stored.key != nil)
        times.append(Int64(bitPattern: stored.message.timestamp))
        bodies.append(StoredMessageCodec.encode(stored.message))
        let previous = newest[stored.stream]?[Int64(stored.partition)] ?? 0
        newest[stored.stream, default: [:]][Int64(stored.partition)] = max(previous, Int64(stored.offset))
    }

    mutating func flush(into statements: inout PostgresWriter.Statements) {
        guard !streams.isEmpty else { return }
        statements.run(
            """
            INSERT INTO stream_message (stream, partition, "offset", subject, key, time, body)
            SELECT m.stream, m.partition, m."offset", m.subject, CASE WHEN m.has_key THEN m.key END, m.time, m.body
            FROM unnest(\(streams)::TEXT[], \(partitions)::BIGINT[], \(offsets)::BIGINT[], \(subjects)::TEXT[],
            \(keys)::BYTEA[], \(hasKeys)::BOOLEAN[], \(times)::BIGINT[], \(bodies)::BYTEA[])
            AS m(stream, partition, "offset", subject, key, has_key, time, body)
            JOIN stream_partition p ON p.stream = m.stream AND p.partition = m.partition
            ON CONFLICT (stream, partition, "offset") DO UPDATE SET subject = excluded.subject, key = excluded.key,
            time = excluded.time, body = excluded.body
            """)
        for (stream, partitions) in newest {
            for (partition, offset) in partitions {
                statements.run(
                    """
                    UPDATE stream_partition SET last_offset = GREATEST(last_offset, \(offset))
                    WHERE stream = \(stream) AND partition = \(partition)
                    """)
            }
        }
        self = StreamRows()
    }
}

extension PostgresStateLoader {
    /// Streams with their partitions and messages, and the consumer group offsets (as SQLite's load).
    func loadStreams(into state: inout StoredState) throws {
        for row in try rows(
            """
            SELECT name, filters, partitions, retention, storage, max_messages, max_bytes, max_age_ns, max_message_size,
            max_messages_per_subject, discard, duplicate_window_ns, sealed, record_overhead FROM stream
            ORDER BY name COLLATE "C"
            """)
        {
            let (
                name, filters, partitionCount, retention, storage, maxMessages, maxBytes, maxAge, maxMessageSize,
                maxPerSubject, discard, duplicateWindow, sealed, recordOverhead
            ) = try row.decode(
                (
                    String, String, Int64, String, String, Int64?, Int64?, Int64?, Int64?, Int64?, String, Int64, Bool,
                    Int64?
                )
                .self)
            guard
                let configuration = StoredStreamColumns.configuration(
                    name: name, filters: filters, partitions: partitionCount, retention: retention, storage: storage,
                    maxMessages: maxMessages, maxBytes: maxBytes, maxAge: maxAge, maxMessageSize: maxMessageSize,
                    maxPerSubject: maxPerSubject, discard: discard, duplicateWindow: duplicateWindow, sealed: sealed,
                    recordOverhead: recordOverhead)
            else { continue }
            var partitions: [StoredStreamPartition] = []
            for row in try rows(
                "SELECT partition, epoch, last_offset FROM stream_partition WHERE stream = \(name) ORDER BY partition")
            {
                let (index, epoch, last) = try row.decode((Int64, String, Int64).self)
                guard index == partitions.count else { break }
                partitions.append(StoredStreamPartition(epoch: epoch, lastOffset: UInt64(last)))
            }
            for row in try rows(
                #"SELECT partition, "offset", subject, key, body FROM stream_message WHERE stream = \#(name) ORDER BY partition, "offset""#
            ) {
                let (partition, offset, subject, key, body) = try row.decode(
                    (Int64, Int64, String, ByteBuffer?, ByteBuffer).self)
                guard Int(partition) < partitions.count, let topic = try? Topic(subject),
                    let message = StoredMessageCodec.decode(body, topic: topic, position: nil)
                else { continue }
                partitions[Int(partition)].messages.append(
                    StoredStreamMessage(
                        stream: name, partition: Int(partition), offset: UInt64(offset),
                        key: key.map { Array($0.readableBytesView) }, message: message))
            }
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
}
