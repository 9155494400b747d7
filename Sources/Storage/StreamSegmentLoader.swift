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
/// every offset is found. The offsets come sorted, and so do a partition's segments nearly always: a
/// binary search decides what is wanted, and the records found are sorted only when they came out of order.
struct StreamSegmentPicker {
    let stream: String
    let partition: Int
    /// Ascending, without repeats.
    private let wanted: [UInt64]
    private var found: [StoredStreamMessage] = []
    /// Whether the records came in increasing offset order so far; once not, the offsets seen.
    private var inOrder = true
    private var seen: Set<UInt64> = []
    /// Distinct offsets found.
    private var distinct = 0

    init(stream: String, partition: Int, offsets: [UInt64]) {
        self.stream = stream
        self.partition = partition
        var wanted = offsets
        if !zip(wanted, wanted.dropFirst()).allSatisfy({ $0 < $1 }) { wanted = Array(Set(wanted)).sorted() }
        self.wanted = wanted
        found.reserveCapacity(wanted.count)
    }

    /// Whether every offset asked for was found.
    var isComplete: Bool { distinct == wanted.count }

    mutating func add(segment: ByteBuffer) {
        StreamSegmentCodec.decode(segment) { record in
            guard Self.contains(wanted, record.offset), let topic = topic(record.subject),
                let message = StoredMessageCodec.decode(record.body, topic: topic, position: nil)
            else { return }
            if inOrder, let last = found.last, last.offset >= record.offset {
                inOrder = false
                seen = Set(found.map(\.offset))
            }
            if inOrder || seen.insert(record.offset).inserted { distinct += 1 }
            found.append(
                StoredStreamMessage(
                    stream: stream, partition: partition, offset: record.offset, key: record.key, message: message))
        }
    }

    /// The records found, in offset order, one per offset (the first one read).
    var messages: [StoredStreamMessage] {
        guard !inOrder else { return found }
        var kept: Set<UInt64> = []
        return found.enumerated()
            .sorted { ($0.element.offset, $0.offset) < ($1.element.offset, $1.offset) }
            .map(\.element)
            .filter { kept.insert($0.offset).inserted }
    }

    /// The last subject's topic: a partition's records mostly repeat a few subjects, so one check (and one
    /// string) serves a run of them.
    private var lastTopic: Topic?

    private mutating func topic(_ subject: String) -> Topic? {
        // Byte equality (`Topic`'s), not `String`'s canonical equivalence.
        if let lastTopic, lastTopic == Topic(trusted: subject) { return lastTopic }
        lastTopic = try? Topic(subject)
        return lastTopic
    }

    private static func contains(_ sorted: [UInt64], _ offset: UInt64) -> Bool {
        var low = 0
        var high = sorted.count
        while low < high {
            let middle = (low + high) / 2
            if sorted[middle] < offset { low = middle + 1 } else { high = middle }
        }
        return low < sorted.count && sorted[low] == offset
    }

    /// Segments a read asks for at a time.
    static let page = 16
}
