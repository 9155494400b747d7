import Logging
import NIOCore
import PostgresNIO

/// Trimming the session message log (`message_log`) when several instances share the database
/// (docs/storage.md "The shared session message log is trimmed"). No instance knows what another's
/// sessions owe, so the bound comes from the shared tables themselves, in one query: below the oldest
/// message any live session in the database may still be owed. One instance trims at a time (a
/// transaction-level advisory lock); the others skip that round.
enum PostgresSharedSessionLog {
    /// The trim's lock: the slot locks' class with key 256, one past the slots (0...255).
    static let lockKey: Int32 = 256

    /// Deletes the session messages at or below `ceiling` that no live session still owes, and their
    /// delivery records, in one transaction on `connection`. `now` (ns) decides which offline sessions
    /// have expired (they owe nothing: a client coming back to one finds it gone). Returns how many
    /// messages went; nil when another instance holds the trim's lock.
    ///
    /// A session may be owed a logged message when one of its subscriptions with a maximum QoS above 0
    /// made before it (`since_seq`) matches its topic and no `done` delivery record says it was
    /// completed, or when it has a delivery record not done (in flight, or taken by a shared
    /// subscription). That over-counts (a message past its expiry, or the session's own with No Local,
    /// still counts): never a message that is owed.
    static func trim(
        through ceiling: UInt64, now: UInt64, on connection: PostgresConnection, logger: Logger
    ) throws -> Int? {
        func rows(_ query: PostgresQuery) throws -> PostgresQueryResult {
            try PostgresWriter.await(connection.query(query, logger: logger))
        }
        _ = try rows("BEGIN")
        do {
            let locked = try rows(
                "SELECT pg_try_advisory_xact_lock(\(PostgresSessionOwnership.slotLockClass), \(lockKey))")
            guard let row = locked.rows.first, try row.decode(Bool.self) else {
                _ = try rows("ROLLBACK")
                return nil
            }
            let ceiling = Int64(clamping: ceiling)
            let owed = try rows(oldestOwed(through: ceiling, now: Int64(clamping: now))).rows.first
                .flatMap { try $0.decode(Int64?.self) }
            let bound = owed.map { min($0 - 1, ceiling) } ?? ceiling
            var trimmed = 0
            if bound > 0 {
                let gone = try rows(
                    "WITH gone AS (DELETE FROM message_log WHERE seq <= \(bound) RETURNING 1) SELECT count(*) FROM gone"
                )
                trimmed = Int(try gone.rows.first?.decode(Int64.self) ?? 0)
                _ = try rows("DELETE FROM session_delivery WHERE seq <= \(bound)")
            }
            try deleteAbandonedSessions(now: Int64(clamping: now), rows)
            _ = try rows("COMMIT")
            return trimmed
        } catch {
            _ = try? rows("ROLLBACK")
            throw error
        }
    }

    /// Most expired sessions one round deletes (the rest go in the next rounds).
    static let maxSessionsPerRound = 1_000

    /// Deletes the offline sessions past their expiry that no instance holds — their instance died or
    /// restarted, and no instance takes up the sessions in the database at start, so nobody else would —
    /// with their subscriptions, delivery records and inbound QoS 2 identifiers. Held is told by the
    /// session's advisory lock: a transaction-level try of it succeeds only when no other instance's
    /// ownership connection has it (this connection's own sessions pass too: this instance would expire
    /// them itself, and its claims wait behind this transaction). The locks taken are held until the
    /// commit, so a client claiming one of them meanwhile waits for the deletion and finds no session, as
    /// an expired session is (MQTT 5 §3.1.2.11.2: the session ends when its expiry interval has passed).
    private static func deleteAbandonedSessions(
        now: Int64, _ rows: (PostgresQuery) throws -> PostgresQueryResult
    ) throws {
        let expired = try rows(
            """
            SELECT client_id FROM session WHERE disconnected_at > 0 AND expiry_seconds < 4294967295
            AND disconnected_at + expiry_seconds * 1000000000 <= \(now) LIMIT \(maxSessionsPerRound)
            """
        ).map { try $0.decode(String.self) }
        guard !expired.isEmpty else { return }
        let keys = expired.map(PostgresSessionOwnership.lockKey)
        let free = try rows(
            """
            SELECT client_id FROM unnest(\(expired)::TEXT[], \(keys)::BIGINT[]) AS expired (client_id, key)
            WHERE pg_try_advisory_xact_lock(key)
            """
        ).map { try $0.decode(String.self) }
        guard !free.isEmpty else { return }
        _ = try rows("DELETE FROM session WHERE client_id = ANY(\(free)::TEXT[])")
        _ = try rows("DELETE FROM session_subscription WHERE client_id = ANY(\(free)::TEXT[])")
        _ = try rows("DELETE FROM session_delivery WHERE client_id = ANY(\(free)::TEXT[])")
        _ = try rows("DELETE FROM session_inbound_qos2 WHERE client_id = ANY(\(free)::TEXT[])")
    }

    /// The oldest logged message at or below `ceiling` that a live session may still be owed (NULL:
    /// none). A subscription's filter becomes a POSIX regular expression: its characters escaped, `+`
    /// one level, a trailing `/#` the parent and everything below it, `#` alone everything
    /// ([MQTT-4.7.1-2], [MQTT-4.7.1-3]). Filters beginning with a wildcard also match `$` topics here
    /// ([MQTT-4.7.2-1] excludes them): more is kept, never less.
    private static func oldestOwed(through ceiling: Int64, now: Int64) -> PostgresQuery {
        ##"""
        WITH live AS (
            SELECT client_id FROM session
            WHERE disconnected_at = 0 OR expiry_seconds >= 4294967295
            OR disconnected_at + expiry_seconds * 1000000000 > \##(now)
        ), subscription AS (
            SELECT s.client_id, s.since_seq,
            '^' || regexp_replace(regexp_replace(regexp_replace(
                regexp_replace(s.filter, '([].^$*?(){}|\\+#[])', '\\\1', 'g'),
                '\\\+', '[^/]*', 'g'), '/\\#$', '(/.*)?'), '^\\#$', '.*') || '$' AS pattern
            FROM session_subscription s JOIN live USING (client_id)
            WHERE s.options & 3 <> 0 AND s.filter NOT LIKE '$share/%'
        ), owed AS (
            SELECT (
                SELECT m.seq FROM message_log m
                WHERE m.seq > s.since_seq AND m.seq <= \##(ceiling) AND m.topic ~ s.pattern
                AND NOT EXISTS (
                    SELECT 1 FROM session_delivery d WHERE d.client_id = s.client_id AND d.seq = m.seq AND d.state = 3
                )
                ORDER BY m.seq LIMIT 1
            ) AS seq
            FROM subscription s
            UNION ALL
            SELECT min(d.seq) FROM session_delivery d JOIN live USING (client_id) WHERE d.state <> 3
        )
        SELECT min(seq) FROM owed
        """##
    }
}
