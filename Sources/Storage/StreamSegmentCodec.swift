import BusCore
package import NIOCore

/// A stream segment: the records one commit appended to one stream partition, packed into one stored
/// value (SQLite's and PostgreSQL's `stream_segment.records`), as Kafka's log segments and JetStream's
/// message blocks lay them out. One row per partition per commit instead of one per record is what makes
/// a stored stream cheap to append to (docs/storage.md, "Streams"). Big-endian (network order: PostgreSQL's
/// `int8send`/`int4send` write it, so its migration builds segments in SQL), versioned, every length checked
/// on the way back in: a damaged segment gives the records before the damage, never a wrong one.
///
///     u8  version (1)
///     then per record, in offset order:
///     u64 offset
///     u32 subject length, subject (UTF-8: the bus topic the record was published on)
///     u32 key length, key bytes; `noKey` (0xFFFF_FFFF) and no bytes when the record has no key
///     u32 body length, body (`StoredMessageCodec`: payload, headers and the record's time)
package enum StreamSegmentCodec {
    static let version: UInt8 = 1
    /// The key length that says "no key" (a key of length 0 is an empty key, not a missing one).
    static let noKey = UInt32.max
    /// A commit's records for one partition are cut into segments of about this many bytes, so one
    /// segment stays a modest blob however large a commit is (a rewrite after a delete reads one).
    static let targetBytes = 1 << 20

    /// One record as stored: the body is still `StoredMessageCodec`'s bytes (decoded by the loader).
    package struct Record: Equatable {
        package var offset: UInt64
        package var subject: String
        package var key: [UInt8]?
        package var body: ByteBuffer
        package init(offset: UInt64, subject: String, key: [UInt8]?, body: ByteBuffer) {
            self.offset = offset
            self.subject = subject
            self.key = key
            self.body = body
        }
    }

    /// Starts a segment in `buffer` (its version byte).
    static func begin(_ buffer: inout ByteBuffer) {
        buffer.writeInteger(version)
    }

    /// Appends one record, encoding the message straight into the segment (no intermediate body).
    static func append(_ stored: StoredStreamMessage, to buffer: inout ByteBuffer) {
        buffer.writeInteger(stored.offset, endianness: .big)
        writeSubjectAndKey(stored.message.topic.name, stored.key, &buffer)
        let lengthIndex = buffer.writerIndex
        buffer.writeInteger(UInt32(0), endianness: .big)
        StoredMessageCodec.encode(stored.message, into: &buffer)
        buffer.setInteger(
            UInt32(buffer.writerIndex - lengthIndex - 4), at: lengthIndex, endianness: .big)
    }

    /// Appends a record already in its stored form (a segment rewritten without some of its records).
    static func append(_ record: Record, to buffer: inout ByteBuffer) {
        buffer.writeInteger(record.offset, endianness: .big)
        writeSubjectAndKey(record.subject, record.key, &buffer)
        var body = record.body
        buffer.writeInteger(UInt32(body.readableBytes), endianness: .big)
        buffer.writeBuffer(&body)
    }

    /// A whole segment from records (tests, migrations).
    package static func encode(_ records: [Record]) -> ByteBuffer {
        var buffer = ByteBuffer()
        begin(&buffer)
        for record in records { append(record, to: &buffer) }
        return buffer
    }

    /// Calls `each` with every record of `segment`, in stored order. Returns false when the segment is not
    /// one this version wrote or is cut short or damaged: the records before that point were given.
    @discardableResult
    package static func decode(_ segment: ByteBuffer, _ each: (Record) throws -> Void) rethrows -> Bool {
        var buffer = segment
        guard buffer.readInteger(as: UInt8.self) == version else { return false }
        while buffer.readableBytes > 0 {
            guard let offset = buffer.readInteger(endianness: .big, as: UInt64.self),
                let subjectLength = buffer.readInteger(endianness: .big, as: UInt32.self),
                Int(subjectLength) <= buffer.readableBytes,
                let subject = buffer.readString(length: Int(subjectLength)),
                let keyLength = buffer.readInteger(endianness: .big, as: UInt32.self)
            else { return false }
            var key: [UInt8]?
            if keyLength != noKey {
                guard Int(keyLength) <= buffer.readableBytes, let bytes = buffer.readBytes(length: Int(keyLength))
                else { return false }
                key = bytes
            }
            guard let bodyLength = buffer.readInteger(endianness: .big, as: UInt32.self),
                Int(bodyLength) <= buffer.readableBytes, let body = buffer.readSlice(length: Int(bodyLength))
            else { return false }
            try each(Record(offset: offset, subject: subject, key: key, body: body))
        }
        return true
    }

    private static func writeSubjectAndKey(_ subject: String, _ key: [UInt8]?, _ buffer: inout ByteBuffer) {
        let subjectIndex = buffer.writerIndex
        buffer.writeInteger(UInt32(0), endianness: .big)
        let written = buffer.writeString(subject)
        buffer.setInteger(UInt32(written), at: subjectIndex, endianness: .big)
        if let key {
            buffer.writeInteger(UInt32(key.count), endianness: .big)
            buffer.writeBytes(key)
        } else {
            buffer.writeInteger(noKey, endianness: .big)
        }
    }
}

/// The segments one commit is building, one per stream partition appended to: records go in as the
/// commit's writes come, each segment is written as one row when the commit (or a write that must see
/// the records first) flushes it. Shared by the SQL stores.
struct StreamSegmentBatch {
    struct Key: Hashable {
        var stream: String
        var partition: Int
    }

    struct Segment {
        var first: UInt64
        var last: UInt64
        var records: ByteBuffer
    }

    private(set) var open: [Key: Segment] = [:]

    var isEmpty: Bool { open.isEmpty }

    /// Adds a record. Returns a finished segment to write first when the partition's open segment is full,
    /// or when this record does not come after it (offsets in a segment only grow: a record appended again
    /// at an older offset starts a segment of its own; `StreamSegmentLoader` keeps one record per offset).
    mutating func append(_ stored: StoredStreamMessage) -> (Key, Segment)? {
        let key = Key(stream: stored.stream, partition: stored.partition)
        var finished: (Key, Segment)?
        // One lookup per record (this runs once per record stored), the segment changed in place.
        if let slot = open.index(forKey: key) {
            if stored.offset > open.values[slot].last
                && open.values[slot].records.readableBytes < StreamSegmentCodec.targetBytes
            {
                open.values[slot].last = stored.offset
                StreamSegmentCodec.append(stored, to: &open.values[slot].records)
                return nil
            }
            finished = (key, open.remove(at: slot).value)
        }
        var records = ByteBuffer()
        records.reserveCapacity(4096)
        StreamSegmentCodec.begin(&records)
        StreamSegmentCodec.append(stored, to: &records)
        open[key] = Segment(first: stored.offset, last: stored.offset, records: records)
        return finished
    }

    /// The open segments, taken (the batch is empty after).
    mutating func take() -> [Key: Segment] {
        defer { open = [:] }
        return open
    }
}
