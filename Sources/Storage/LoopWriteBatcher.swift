package import NIOCore

/// Coalesces one event loop's store writes: everything submitted during a tick goes to the store as one
/// batch at the end of it, and the completions come back in one hop, in submission order. (The store
/// already commits many batches together; this takes the per-write lock, wake-up and hop off the loop.)
/// Confined to `eventLoop`.
package final class LoopWriteBatcher: @unchecked Sendable {
    package let eventLoop: any EventLoop
    private let store: any Store
    private var writes: [StoreWrite] = []
    private var completions: [(String?) -> Void] = []
    private var scheduled = false

    package init(store: any Store, eventLoop: any EventLoop) {
        self.store = store
        self.eventLoop = eventLoop
    }

    /// Queues `newWrites`; `then` (if any) runs on this loop once they are durable, with the failure if any.
    package func submit(_ newWrites: [StoreWrite], then: ((String?) -> Void)? = nil) {
        eventLoop.preconditionInEventLoop()
        writes.append(contentsOf: newWrites)
        if let then { completions.append(then) }
        if !scheduled {
            scheduled = true
            eventLoop.execute { self.flush() }
        }
    }

    private func flush() {
        scheduled = false
        let batch = writes
        let waiting = completions
        writes = []
        completions = []
        if batch.isEmpty {
            for completion in waiting { completion(nil) }
            return
        }
        if waiting.isEmpty {
            store.submit(batch)
            return
        }
        let handover = Handover(waiting)
        store.submit(batch) { error in
            let failure = error.map { "\($0)" }
            self.eventLoop.execute { for completion in handover.value { completion(failure) } }
        }
    }

    /// Carries the loop-confined completions to the store's thread and back to the loop.
    private struct Handover: @unchecked Sendable {
        let value: [(String?) -> Void]
        init(_ value: [(String?) -> Void]) { self.value = value }
    }
}
