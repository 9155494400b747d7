import BusCore
import NIOCore
import Testing

@testable import Storage

/// The shared session message log's trim (`PostgresSharedSessionLog`, docs/storage.md "The shared
/// session message log is trimmed"): below the oldest message a live session in the database may still
/// be owed, one instance at a time.
@Suite(.postgresServer) struct PostgresSharedSessionLogTests {
    static let second: UInt64 = 1_000_000_000

    static func trim(_ store: PostgresStore, through ceiling: UInt64, now: UInt64) async throws -> Int? {
        try await withCheckedThrowingContinuation { continuation in
            store.sessionOwnership!.trimSessionLog(through: ceiling, now: now) { continuation.resume(with: $0) }
        }
    }

    static func session(_ clientID: String, expiry: UInt32, disconnectedAt: UInt64, filter: String, since: UInt64)
        -> [StoreWrite]
    {
        [
            .saveSession(.init(clientID: clientID, expirySeconds: expiry, disconnectedAt: disconnectedAt)),
            .saveSubscription(
                clientID: clientID, StoredSubscription(filter: filter, options: 1, identifier: nil, sinceSeq: since)),
        ]
    }

    static func logged(_ store: PostgresStore) async throws -> [UInt64] {
        try await withCheckedThrowingContinuation { continuation in
            store.sessionOwnership!.loadSession("reader") { result in
                continuation.resume(with: result.map { $0?.messages.map(\.seq) ?? [] })
            }
        }
    }

    @Test func trimsBelowTheOldestMessageALiveSessionMayBeOwed() async throws {
        try await withTwoInstances { a, b, server, configuration in
            let now = 1_000_000 * Self.second
            var writes: [StoreWrite] = []
            // Connected, completed what it got; offline within its expiry, owed `a/+/c`; expired long ago (owes
            // nothing); and a reader subscribed to everything at 0 with QoS 0 (owed nothing: it shows what is left).
            writes += Self.session("done", expiry: 3600, disconnectedAt: 0, filter: "done/#", since: 100)
            writes += Self.session("owed", expiry: 3600, disconnectedAt: now - Self.second, filter: "a/+/c", since: 100)
            writes += Self.session("gone", expiry: 10, disconnectedAt: now - 60 * Self.second, filter: "#", since: 0)
            writes.append(.saveSession(.init(clientID: "reader", expirySeconds: .max, disconnectedAt: 0)))
            writes.append(
                .saveSubscription(
                    clientID: "reader", StoredSubscription(filter: "#", options: 0, identifier: nil, sinceSeq: 0)))
            for (seq, topic) in [
                (200, "done/x"), (300, "done"), (350, "a/b/d"), (400, "a/b/c"), (500, "done/z"), (600, "a/b/c"),
            ] {
                writes.append(.saveSessionMessage(seq: UInt64(seq), message: try StoreTests.message(topic, "\(seq)")))
            }
            for seq: UInt64 in [200, 300, 500] {
                writes.append(.saveDelivery(clientID: "done", StoredDelivery(seq: seq, packetID: 1, state: .done)))
            }
            #expect(await PostgresStoreTests.write(a, writes) == nil)

            // 200 and 300 were completed, 350 matches nobody's filter, 400 is owed to "owed".
            #expect(try await Self.trim(b, through: 10_000, now: now) == 3)
            #expect(try await Self.logged(a) == [400, 500, 600])
            // Not past the ceiling, whatever is owed.
            #expect(await PostgresStoreTests.write(a, [.deleteSession(clientID: "owed")]) == nil)
            #expect(try await Self.trim(a, through: 500, now: now) == 2)
            #expect(try await Self.logged(b) == [600])
            // A session's delivery in flight holds the log back too.
            #expect(
                await PostgresStoreTests.write(
                    a, [.saveDelivery(clientID: "done", StoredDelivery(seq: 600, packetID: 2, state: .sent))]) == nil)
            #expect(try await Self.trim(a, through: 10_000, now: now) == 0)
            #expect(try await Self.logged(b) == [600])
        }
    }

    /// The trimming round also deletes offline sessions past their expiry that no other instance holds
    /// (their instance died): with their subscriptions and delivery records. One another instance holds
    /// is left to it, as are sessions within their expiry and connected ones.
    @Test func deletesExpiredSessionsNobodyElseHolds() async throws {
        try await withTwoInstances { a, b, server, configuration in
            let now = 1_000_000 * Self.second
            var writes: [StoreWrite] = []
            writes += Self.session(
                "abandoned", expiry: 10, disconnectedAt: now - 60 * Self.second, filter: "#", since: 0)
            writes.append(.saveDelivery(clientID: "abandoned", StoredDelivery(seq: 7, packetID: 1, state: .sent)))
            writes += Self.session("held", expiry: 10, disconnectedAt: now - 60 * Self.second, filter: "#", since: 0)
            writes += Self.session(
                "waiting", expiry: 3600, disconnectedAt: now - 60 * Self.second, filter: "#", since: 0)
            writes += Self.session("connected", expiry: 10, disconnectedAt: 0, filter: "#", since: 0)
            #expect(await PostgresStoreTests.write(a, writes) == nil)
            #expect(await PostgresSessionOwnershipTests.claim(a, "held"))

            _ = try await Self.trim(b, through: 10_000, now: now)
            for (clientID, kept) in [("abandoned", false), ("held", true), ("waiting", true), ("connected", true)] {
                let session = try await withCheckedThrowingContinuation { continuation in
                    b.sessionOwnership!.loadSession(clientID) { continuation.resume(with: $0) }
                }
                #expect((session != nil) == kept, "\(clientID)")
                #expect(session.map { $0.session.subscriptions.count == 1 } ?? true, "\(clientID)")
            }
            #expect(await PostgresSessionOwnershipTests.claim(b, "abandoned"))
        }
    }
}
