import BusCore
import Foundation
import NIOCore
import Testing

@testable import Storage

/// fsync failures below SQLite (docs/reliability.md, "Store faults"): `FailingSyncVFS` answers the store's
/// syncs with SQLITE_IOERR_FSYNC, as SQLite's unix VFS does when the kernel's fsync fails. A commit whose
/// sync failed is refused (its callers told, so nothing is acknowledged), the store reports itself degraded
/// and stays so through its probes while the fault lasts, takes commits again once it clears, and after a
/// restart holds every acknowledged write and none of the refused.
@Suite struct SQLiteSyncFailureTests {
    @Test func aFailedFsyncRefusesTheCommitDegradesTheStoreUntilItClearsAndLosesNothingAcknowledged() async throws {
        let path = NSTemporaryDirectory() + "fsync-\(UUID().uuidString).sqlite"
        FailingSyncVFS.watch(path)
        defer {
            FailingSyncVFS.unwatch(path)
            for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) }
        }
        let store = try SQLiteStore(path: path, durability: .fsync)
        let body = ByteBuffer(repeating: UInt8(ascii: "x"), count: 1_000)
        func retain(_ index: Int) async throws -> (any Error)? {
            let topic = try Topic("t/\(index)")
            let write = StoreWrite.retain(topic: topic, message: BusMessage(topic: topic, payload: body, timestamp: 1))
            return await withCheckedContinuation { continuation in
                store.submit([write]) { continuation.resume(returning: $0) }
            }
        }
        for index in 0..<3 { #expect(try await retain(index) == nil) }

        FailingSyncVFS.setFailing(true, for: path)
        let refusedBefore = FailingSyncVFS.refusedSyncs
        let failure = try await retain(3)
        #expect(failure != nil, "a commit whose fsync failed was acknowledged")
        #expect(FailingSyncVFS.refusedSyncs > refusedBefore)
        #expect(store.statistics.degraded != nil)
        // The probes (every second while degraded and idle) sync too: still degraded while the fault lasts.
        try await Task.sleep(for: .seconds(GroupCommitQueue.probeInterval * 2.5))
        #expect(store.statistics.degraded != nil, "a probe said the store takes commits while fsync fails")
        #expect(try await retain(4) != nil)

        FailingSyncVFS.setFailing(false, for: path)
        let deadline = ContinuousClock.now + .seconds(10)
        while store.statistics.degraded != nil, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(store.statistics.degraded == nil, "still degraded after the fault cleared")
        #expect(try await retain(5) == nil)
        store.close()

        // A restart: the acknowledged writes are there, the refused ones are not.
        let reopened = try SQLiteStore(path: path, durability: .fsync)
        defer { reopened.close() }
        let retained = try reopened.load().retained.map(\.topic.name).sorted()
        #expect(retained == ["t/0", "t/1", "t/2", "t/5"])
    }
}
