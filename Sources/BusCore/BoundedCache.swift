/// A dictionary with a hard size bound, for match results. When full, a quarter of the entries are
/// dropped (arbitrary ones, as nats-server's sublist cache does): cheap, and a hot topic is simply
/// matched again on its next publish.
package struct BoundedCache<Key: Hashable, Value> {
    package let capacity: Int
    private var storage: [Key: Value] = [:]

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
        if storage.count >= capacity && storage[key] == nil {
            let drop = max(1, capacity / 4)
            for victim in Array(storage.keys.prefix(drop)) { storage[victim] = nil }
        }
        storage[key] = value
    }

    package mutating func removeAll() {
        storage.removeAll(keepingCapacity: true)
    }
}
