package import NIOConcurrencyHelpers
package import Storage

/// A store that holds each batch until the test releases it (or fails it), around a memory store.
package final class GatedStore: Store, @unchecked Sendable {
    package let inner = MemoryStore()
    private let held = NIOLockedValueBox<[(writes: [StoreWrite], completion: (@Sendable ((any Error)?) -> Void)?)]>([])

    package init() {}

    package func submit(_ writes: [StoreWrite], completion: (@Sendable ((any Error)?) -> Void)?) {
        held.withLockedValue { $0.append((writes, completion)) }
    }

    package var heldCount: Int { held.withLockedValue { $0.count } }

    /// The writes of each held batch (one batch is one transaction of a real store), in order.
    package var heldWrites: [[StoreWrite]] { held.withLockedValue { $0.map(\.writes) } }

    /// Commits (or fails) every held batch, in order.
    package func release(failing: Bool = false) {
        for batch in held.withLockedValue({ held in
            defer { held = [] }; return held
        }) {
            if failing {
                batch.completion?(StoreError("disk full"))
            } else {
                inner.submit(batch.writes, completion: batch.completion)
            }
        }
    }

    package func load(streamBodies: Bool) throws -> StoredState { try inner.load(streamBodies: streamBodies) }
    package func readStream(
        _ stream: String, partition: Int, offsets: [UInt64],
        completion: @escaping @Sendable (Result<[StoredStreamMessage], any Error>) -> Void
    ) {
        inner.readStream(stream, partition: partition, offsets: offsets, completion: completion)
    }
    package func close() {}
    package var statistics: StoreStatistics { inner.statistics }
}
