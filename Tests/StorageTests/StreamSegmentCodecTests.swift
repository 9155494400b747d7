import BusCore
import NIOCore
import Testing

@testable import Storage

/// The stream segment format: round trips, and bad bytes (cut short anywhere, damaged, random) give the
/// records before the damage and never crash or invent a record.
struct StreamSegmentCodecTests {
    static func message(_ offset: UInt64, key: [UInt8]?) throws -> StoredStreamMessage {
        StoredStreamMessage(
            stream: "s", partition: 0, offset: offset, key: key,
            message: BusMessage(
                topic: try Topic("orders/\(offset)"), payload: ByteBuffer(string: String(repeating: "x", count: 40)),
                headers: MessageHeaders(contentType: "text/plain"), timestamp: 7 + offset))
    }

    static func segment(_ messages: [StoredStreamMessage]) -> ByteBuffer {
        var buffer = ByteBuffer()
        StreamSegmentCodec.begin(&buffer)
        for message in messages { StreamSegmentCodec.append(message, to: &buffer) }
        return buffer
    }

    static func records(_ segment: ByteBuffer) -> (records: [StreamSegmentCodec.Record], complete: Bool) {
        var records: [StreamSegmentCodec.Record] = []
        let complete = StreamSegmentCodec.decode(segment) { records.append($0) }
        return (records, complete)
    }

    @Test func messagesRoundTripWithKeysEmptyKeysAndNone() throws {
        let messages = [
            try Self.message(5, key: [1, 2, 3]), try Self.message(6, key: nil), try Self.message(9, key: []),
        ]
        let (records, complete) = Self.records(Self.segment(messages))
        #expect(complete)
        #expect(records.map(\.offset) == [5, 6, 9])
        #expect(records.map(\.key) == [[1, 2, 3], nil, []])
        #expect(records.map(\.subject) == ["orders/5", "orders/6", "orders/9"])
        let decoded = try #require(
            StoredMessageCodec.decode(records[1].body, topic: try Topic("orders/6"), position: nil))
        #expect(decoded.timestamp == 13 && decoded.headers.contentType == "text/plain")
        #expect(String(buffer: decoded.payload) == String(repeating: "x", count: 40))
    }

    @Test func storedRecordsRoundTripThroughEncode() throws {
        let (records, _) = Self.records(Self.segment([try Self.message(1, key: [9]), try Self.message(2, key: nil)]))
        let again = Self.records(StreamSegmentCodec.encode(records))
        #expect(again.complete && again.records == records)
        #expect(Self.records(StreamSegmentCodec.encode([])) == ([], true))
    }

    @Test func everyTruncationGivesAPrefixAndNeverCrashes() throws {
        let messages = try (1...4).map { try Self.message(UInt64($0), key: $0 % 2 == 0 ? nil : [UInt8($0)]) }
        let whole = Self.segment(messages)
        for length in 0..<whole.readableBytes {
            let (records, complete) = Self.records(whole.getSlice(at: 0, length: length)!)
            // Complete only when cut exactly between two records.
            #expect(!complete || StreamSegmentCodec.encode(records).readableBytes == length)
            #expect(records.map(\.offset) == Array(messages.map(\.offset).prefix(records.count)))
        }
    }

    @Test func damagedLengthsAndVersionsAreRefused() throws {
        let whole = Self.segment([try Self.message(1, key: nil)])
        var version = whole
        version.setInteger(UInt8(2), at: 0)
        #expect(Self.records(version) == ([], false))
        // Subject, key and body lengths past the end.
        for index in [9, 9 + 4 + 8, 9 + 4 + 8 + 4] {
            var damaged = whole
            damaged.setInteger(UInt32.max - 1, at: index, endianness: .big)
            #expect(Self.records(damaged) == ([], false))
        }
    }

    @Test func randomBytesNeverCrash() {
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<2_000 {
            let count = Int.random(in: 0..<96, using: &generator)
            var bytes = (0..<count).map { _ in UInt8.random(in: 0...255, using: &generator) }
            if !bytes.isEmpty, Bool.random(using: &generator) { bytes[0] = StreamSegmentCodec.version }
            let (records, _) = Self.records(ByteBuffer(bytes: bytes))
            #expect(records.count <= count / 20)
        }
    }

    @Test func aBatchCutsSegmentsWhenFullOrWhenAnOffsetGoesBack() throws {
        var batch = StreamSegmentBatch()
        #expect(batch.append(try Self.message(1, key: nil)) == nil)
        #expect(batch.append(try Self.message(2, key: nil)) == nil)
        let cut = try #require(batch.append(try Self.message(2, key: nil)))
        #expect(cut.1.first == 1 && cut.1.last == 2 && Self.records(cut.1.records).records.map(\.offset) == [1, 2])
        let open = batch.take()
        #expect(batch.isEmpty && open.count == 1 && open.first?.value.first == 2)
    }

    @Test func theLoaderSkipsBelowTheFloorAndKeepsOneRecordPerOffset() throws {
        var loader = StreamSegmentLoader(
            stream: "s", partitions: [StoredStreamPartition(epoch: "e", lastOffset: 9)], floors: [2])
        loader.add(partition: 0, segment: Self.segment(try [1, 2, 3].map { try Self.message($0, key: nil) }))
        // Appended again at offsets already stored, then newer ones; a partition that does not exist.
        loader.add(partition: 0, segment: Self.segment(try [3, 4].map { try Self.message($0, key: [1]) }))
        loader.add(partition: 0, segment: Self.segment(try [5].map { try Self.message($0, key: nil) }))
        loader.add(partition: 1, segment: Self.segment(try [6].map { try Self.message($0, key: nil) }))
        let messages = try #require(loader.partitions.first?.messages)
        #expect(messages.map(\.offset) == [2, 3, 4, 5])
        #expect(messages.map(\.key) == [nil, nil, [1], nil])
    }
}
