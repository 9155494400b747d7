import DequeModule

/// A stream partition's index slots (`StreamPartition`'s entries, nil for a deleted message): a queue
/// that only grows at the back and shrinks at the front, kept in fixed chunks of `chunkSize` slots.
///
/// One contiguous buffer (a `Deque`) grows by copying every slot into a new allocation half as large
/// again, so each slot's memory was written about three times over and mostly freshly mapped: profiled,
/// a Kafka produce into a growing partition spent 16 % of its server CPU in that growth, most of it in
/// page faults (docs/storage.md, "Memory: the index and the tail"). A new chunk is one `malloc` of ~64 KB
/// that no slot ever leaves, and a chunk the front gives back is reused by the next one at the back.
struct StreamPartitionSlots<Value> {
    /// Slots per chunk (a power of two): 1,024 index entries of ~64 B are one 64 KB allocation, under
    /// glibc's threshold for a mapping of its own.
    static var chunkShift: Int { 10 }
    static var chunkSize: Int { 1 << chunkShift }

    /// Each chunk holds `chunkSize` slots once full; the last one is filled by `append`.
    private var chunks = Deque<ContiguousArray<Value?>>()
    /// The first slot's place in `chunks[0]` (the slots before it were removed).
    private var head = 0
    private(set) var count = 0

    init() {}

    var isEmpty: Bool { count == 0 }

    /// Slot `index` (0 is the oldest); `index < count`.
    subscript(index: Int) -> Value? {
        get {
            let position = head &+ index
            return chunks[position &>> Self.chunkShift][position & (Self.chunkSize &- 1)]
        }
        _modify {
            let position = head &+ index
            yield &chunks[position &>> Self.chunkShift][position & (Self.chunkSize &- 1)]
        }
    }

    /// Adds a slot at the back.
    mutating func append(_ value: Value?) {
        let position = head &+ count
        if position &>> Self.chunkShift == chunks.count {
            var chunk = ContiguousArray<Value?>()
            chunk.reserveCapacity(Self.chunkSize)
            chunks.append(chunk)
        }
        chunks[chunks.count &- 1].append(value)
        count &+= 1
    }

    /// Removes the oldest slot (its value goes with it).
    mutating func removeFirst() {
        precondition(count > 0, "removeFirst on empty slots")
        chunks[0][head] = nil
        head &+= 1
        count &-= 1
        if head == Self.chunkSize {
            chunks.removeFirst()
            head = 0
        }
    }
}
