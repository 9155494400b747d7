import BusCore
import NIOCore

/// Rebuilds a stream's partitions from its stored segments (read in partition, then newest-offset order).
/// A record below its partition's trim floor (trimmed; its segment was kept for newer records) or that does
/// not decode is left out. Offsets only grow, so the records come in order; should a record have been
/// appended again at an offset already stored, `partitions` sorts the partition and keeps one record per
/// offset (the first one read), so no other record is lost. Shared by the SQL stores. Without `bodies`,
/// each record becomes its index entry (`StoredStreamPartition.index`): decoded to be measured, then let go.
struct StreamSegmentLoader {
    private let stream: String
    private let floors: [UInt64]
    private let bodies: Bool
    private var loaded: [StoredStreamPartition]
    /// Partitions whose records did not come in increasing offset order.
    private var unordered: Set<Int> = []

    init(stream: String, partitions: [StoredStreamPartition], floors: [UInt64], bodies: Bool = true) {
        self.stream = stream
        self.loaded = partitions
        self.floors = floors
        self.bodies = bodies
    }

    mutating func add(partition: Int, segment: ByteBuffer) {
        guard partition >= 0, partition < loaded.count else { return }
        let floor = partition < floors.count ? floors[partition] : 0
        var previous = bodies ? loaded[partition].messages.last?.offset : loaded[partition].index.last?.offset
        var ordered = true
        var messages: [StoredStreamMessage] = []
        var index: [StoredStreamIndexEntry] = []
        StreamSegmentCodec.decode(segment) { record in
            guard record.offset >= floor, let topic = try? Topic(record.subject),
                let message = StoredMessageCodec.decode(record.body, topic: topic, position: nil)
            else { return }
            if let previous, record.offset <= previous { ordered = false }
            previous = record.offset
            let stored = StoredStreamMessage(
                stream: stream, partition: partition, offset: record.offset, key: record.key, message: message)
            if bodies {
                messages.append(stored)
            } else {
                index.append(StoredStreamIndexEntry(stored))
            }
        }
        if !ordered { unordered.insert(partition) }
        loaded[partition].messages.append(contentsOf: messages)
        loaded[partition].index.append(contentsOf: index)
    }

    /// The partitions with their records, oldest first, one per offset.
    var partitions: [StoredStreamPartition] {
        var partitions = loaded
        for index in unordered {
            partitions[index].messages = Self.inOrder(partitions[index].messages, offset: \.offset)
            partitions[index].index = Self.inOrder(partitions[index].index, offset: \.offset)
        }
        return partitions
    }

    /// `records` by offset, the first read of each offset kept.
    private static func inOrder<Record>(_ records: [Record], offset: KeyPath<Record, UInt64>) -> [Record] {
        var seen: Set<UInt64> = []
        return records.enumerated()
            .sorted { ($0.element[keyPath: offset], $0.offset) < ($1.element[keyPath: offset], $1.offset) }
            .map(\.element)
            .filter { seen.insert($0[keyPath: offset]).inserted }
    }
}

/// Picks the records at given offsets out of a partition's segments (a `Store.readStream`): each decoded
/// once, the first one read per offset kept (as `StreamSegmentLoader`), given in offset order. Shared by
/// the SQL stores, which read the segments that may hold the offsets in newest-offset order and stop once
/// every offset is found.
struct StreamSegmentPicker {
    let stream: String
    let partition: Int
    private let wanted: Set<UInt64>
    private var found: [UInt64: StoredStreamMessage] = [:]

    init(stream: String, partition: Int, offsets: [UInt64]) {
        self.stream = stream
        self.partition = partition
        self.wanted = Set(offsets)
    }

    /// Whether every offset asked for was found.
    var isComplete: Bool { found.count == wanted.count }

    mutating func add(segment: ByteBuffer) {
        StreamSegmentCodec.decode(segment) { record in
            guard wanted.contains(record.offset), found[record.offset] == nil, let topic = try? Topic(record.subject),
                let message = StoredMessageCodec.decode(record.body, topic: topic, position: nil)
            else { return }
            found[record.offset] = StoredStreamMessage(
                stream: stream, partition: partition, offset: record.offset, key: record.key, message: message)
        }
    }

    /// The records found, in offset order.
    var messages: [StoredStreamMessage] { found.values.sorted { $0.offset < $1.offset } }

    /// Segments a read asks for at a time.
    static let page = 16
}
