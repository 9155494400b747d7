/// A dictionary with a hard size bound, for match results. When full, the oldest quarter of the entries
/// (in insertion order) is dropped: cheap, and a hot topic is simply matched again on its next publish.
///
/// Insertion order, not the dictionary's own order: dropping the first keys in bucket order (as this
/// did) empties the front of the table and leaves the rest one contiguous run of occupied buckets, so
/// every later lookup or insert that hashes into it probes to its end, comparing keys all the way. A
/// stream of distinct topics (a reply subject per JetStream PubAck, a topic per record) then spent a
/// third of the server's time in those probes. Keys dropped by age are spread over the table instead.
package struct BoundedCache<Key: Hashable, Value> {
    package let capacity: Int
    private var storage: [Key: Value] = [:]
    /// Keys in insertion order from `head` on (a key is in it once: an update keeps its place).
    private var order: [Key] = []
    private var head = 0

    package init(capacity: Int) {
        precondition(capacity > 0, "a cache needs room for one entry")
        self.capacity = capacity
        storage.reserveCapacity(min(capacity, 1024))
    }

    package var count: Int { storage.count }

    package subscript(key: Key) -> Value? {
        storage[key]
    }

    package mutating func insert(_ value: Value, for key: Key) {
        if storage.updateValue(value, forKey: key) != nil { return }
        order.append(key)
        guard storage.count > capacity else { return }
        let drop = max(1, capacity / 4)
        for victim in order[head..<head + drop] { storage[victim] = nil }
        head += drop
        // Compacted once the dropped prefix is as long as what is kept: amortised O(1) per insert.
        if head >= order.count - head {
            order.removeFirst(head)
            head = 0
        }
    }

    package mutating func removeAll() {
        storage.removeAll(keepingCapacity: true)
        order.removeAll(keepingCapacity: true)
        head = 0
    }
}
