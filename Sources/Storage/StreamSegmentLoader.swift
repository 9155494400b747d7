import BusCore
import NIOCore

/// Rebuilds a stream's partitions from its stored segments (read in partition, then newest-offset order).
/// A record below its partition's trim floor (trimmed; its segment was kept for newer records) or that does
/// not decode is left out. Offsets only grow, so the records come in order; should a record have been
/// appended again at an offset already stored, `partitions` sorts the partition and keeps one record per
/// offset (the first one read), so no other record is lost. Shared by the SQL stores.
struct StreamSegmentLoader {
    private let stream: String
    private let floors: [UInt64]
    private var loaded: [StoredStreamPartition]
    /// Partitions whose records did not come in increasing offset order.
    private var unordered: Set<Int> = []

    init(stream: String, partitions: [StoredStreamPartition], floors: [UInt64]) {
        self.stream = stream
        self.loaded = partitions
        self.floors = floors
    }

    mutating func add(partition: Int, segment: ByteBuffer) {
        guard partition >= 0, partition < loaded.count else { return }
        let floor = partition < floors.count ? floors[partition] : 0
        var previous = loaded[partition].messages.last?.offset
        var ordered = true
        var messages: [StoredStreamMessage] = []
        StreamSegmentCodec.decode(segment) { record in
            guard record.offset >= floor, let topic = try? Topic(record.subject),
                let message = StoredMessageCodec.decode(record.body, topic: topic, position: nil)
            else { return }
            if let previous, record.offset <= previous { ordered = false }
            previous = record.offset
            messages.append(
                StoredStreamMessage(
                    stream: stream, partition: partition, offset: record.offset, key: record.key, message: message))
        }
        if !ordered { unordered.insert(partition) }
        loaded[partition].messages.append(contentsOf: messages)
    }

    /// The partitions with their records, oldest first, one per offset.
    var partitions: [StoredStreamPartition] {
        var partitions = loaded
        for index in unordered {
            var seen: Set<UInt64> = []
            let messages = partitions[index].messages.enumerated()
                .sorted { ($0.element.offset, $0.offset) < ($1.element.offset, $1.offset) }
                .map(\.element)
                .filter { seen.insert($0.offset).inserted }
            partitions[index].messages = messages
        }
        return partitions
    }
}
