import Dispatch
import NIOConcurrencyHelpers
package import NIOCore

#if canImport(Glibc)
    import Glibc
#endif

/// Gives the allocator's free memory back to the system once a crowd of connections has gone.
///
/// glibc keeps what a peak of connections freed: after 18,000 connections churned and closed, RSS stayed
/// at its peak (docs/reliability.md, "Soak and churn"), though most of it was free chunks waiting for the
/// next peak. `malloc_trim(0)` returns the whole free pages of every arena; it is called, off the event
/// loops, when the open connections have fallen to three quarters of their peak since the last call and at
/// least `minimumDrop` below it — so a server that only grows, or breathes a little, never pays for it.
/// (The per-thread caches, `glibc.malloc.tcache_count`, are not trimmed: they are a thread's hot chunks.)
package struct MemoryReturnPolicy: Sendable {
    /// The fewest connections gone since the peak before a trim is worth it.
    package var minimumDrop: Int
    /// The most connections open at once since the last trim.
    package private(set) var peak = 0

    package init(minimumDrop: Int = 1_000) {
        self.minimumDrop = minimumDrop
    }

    /// Takes the count of open connections now; true when free memory should go back (and the peak starts
    /// again from `connections`).
    package mutating func observe(connections: Int) -> Bool {
        peak = max(peak, connections)
        guard peak - connections >= minimumDrop, connections * 4 <= peak * 3 else { return false }
        peak = connections
        return true
    }
}

package enum MemoryReturn {
    /// glibc's `malloc_trim`, looked up at run time (nil with another C library).
    private static let trim: (@convention(c) (Int) -> Int32)? = {
        #if canImport(Glibc)
            guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "malloc_trim") else { return nil }
            return unsafeBitCast(symbol, to: (@convention(c) (Int) -> Int32).self)
        #else
            return nil
        #endif
    }()

    /// Looks at `connections()` every `interval` on `loop` and trims on a background queue when `policy`
    /// says so. nil when the C library has no `malloc_trim`.
    package static func start(
        on loop: any EventLoop, every interval: TimeAmount = .seconds(5), policy: MemoryReturnPolicy = .init(),
        connections: @escaping @Sendable () -> Int
    ) -> RepeatedTask? {
        guard let trim else { return nil }
        let state = NIOLockedValueBox(policy)
        return loop.scheduleRepeatedTask(initialDelay: interval, delay: interval) { _ in
            guard state.withLockedValue({ $0.observe(connections: connections()) }) else { return }
            DispatchQueue.global(qos: .utility).async { _ = trim(0) }
        }
    }
}
