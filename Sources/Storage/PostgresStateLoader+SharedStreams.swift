import BusCore
import NIOCore
import PostgresNIO

extension PostgresStateLoader {
    /// Stream `name` as the database holds it now (nil: there is none), in one snapshot: per partition the
    /// records above `after[partition]` (every record when `after` has no entry for it, or names an offset
    /// of another epoch than `epochs[partition]`), whole, and — `kept` — the offsets at or below it still
    /// stored (else only segments reaching above it are read).
    /// An instance sharing the database follows another's writes and definition changes with it.
    func loadStream(_ name: String, after: [UInt64], epochs: [String], kept keptToo: Bool) throws -> StoredStreamChange?
    {
        _ = try rows("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        defer { _ = try? rows("COMMIT") }
        guard let configuration = try streamDefinitions(named: name).first else { return nil }
        var partitions: [StoredStreamChange.Partition] = []
        for row in try rows(
            """
            SELECT partition, epoch, last_offset, trimmed_before FROM stream_partition WHERE stream = \(name)
            ORDER BY partition
            """)
        {
            let (index, epoch, last, floor) = try row.decode((Int64, String, Int64, Int64).self)
            guard index == partitions.count else { break }
            partitions.append(
                StoredStreamChange.Partition(
                    epoch: epoch, lastOffset: UInt64(last), trimmedBefore: UInt64(floor), records: [], kept: nil))
        }
        for index in partitions.indices {
            let known = index < after.count && index < epochs.count && epochs[index] == partitions[index].epoch
            let from = known ? after[index] : 0
            let floor = partitions[index].trimmedBefore
            var records: [StoredStreamMessage] = []
            var kept: [UInt64] = []
            for row in try rows(
                """
                SELECT records FROM stream_segment WHERE stream = \(name) AND partition = \(Int64(index))
                AND last_offset > \(keptToo || !known ? -1 : Int64(from)) ORDER BY last_offset, id
                """)
            {
                let segment = try row.decode(ByteBuffer.self)
                StreamSegmentCodec.decode(segment) { record in
                    guard record.offset >= floor else { return }
                    if record.offset <= from {
                        kept.append(record.offset)
                        return
                    }
                    guard let topic = try? Topic(record.subject),
                        let message = StoredMessageCodec.decode(record.body, topic: topic, position: nil)
                    else { return }
                    records.append(
                        StoredStreamMessage(
                            stream: name, partition: index, offset: record.offset, key: record.key, message: message))
                }
            }
            // Offsets only grow; a segment rewritten by a delete keeps its place. One record per offset.
            records.sort { $0.offset < $1.offset }
            var seen: Set<UInt64> = []
            partitions[index].after = from
            partitions[index].records = records.filter { seen.insert($0.offset).inserted }
            partitions[index].kept = keptToo ? Array(Set(kept)).sorted() : nil
        }
        return StoredStreamChange(configuration: configuration, partitions: partitions)
    }

    /// Topic `topic`'s durable log as the database holds it now (nil: there is none), in one snapshot: its
    /// epoch, newest offset and the kept messages above `after` when its epoch is `epoch` (all of them
    /// otherwise). An instance sharing the database follows another's appends with it, and a new writer
    /// continues its offsets.
    func loadLog(_ topic: Topic, after: UInt64, epoch: String) throws -> StoredLog? {
        _ = try rows("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        defer { _ = try? rows("COMMIT") }
        guard let row = try rows("SELECT id, epoch, last_offset FROM topic_log WHERE topic = \(topic.name)").first
        else { return nil }
        let (id, stored, last) = try row.decode((Int64, String, Int64).self)
        let from = stored == epoch ? Int64(after) : 0
        var log = StoredLogAssembler(topic: topic, epoch: stored, lastOffset: UInt64(last))
        for row in try rows(
            #"SELECT "offset", body FROM log_message WHERE log_id = \#(id) AND "offset" > \#(from) ORDER BY "offset""#)
        {
            let (offset, body) = try row.decode((Int64, ByteBuffer).self)
            log.add(offset: UInt64(offset), body: body)
        }
        return log.finish()
    }

    /// The names the database holds of `kind`.
    func loadNames(_ kind: StoredNameKind) throws -> [String] {
        let query: PostgresQuery =
            switch kind {
            case .streams: "SELECT name FROM stream"
            case .retainedTopics: "SELECT topic FROM retained"
            case .collections: "SELECT name FROM record_collection"
            }
        return try rows(query).map { try $0.decode(String.self) }
    }
}
