import BusCore
import Dispatch
import Logging
import NIOConcurrencyHelpers
import NIOCore
import PostgresNIO

/// Session ownership among instances sharing one PostgreSQL database (`shared_instances=true`,
/// docs/storage.md). A session is owned by holding a session-level advisory lock keyed by its client
/// identifier on a connection of its own, so an instance that dies — even by `kill -9` — lets go of all
/// its sessions when the database sees that connection close. A claim on a session another instance
/// holds sends a NOTIFY on `takeoverChannel`; the owner ends its connection as a takeover, makes what it
/// wrote durable and unlocks, and the claim, retrying the lock meanwhile, gets it.
///
/// Every operation runs on one serial queue and waits for its round trip there (claims are one per
/// CONNECT of a session not held here; never on the bus's loops). Each instance also locks one of 256
/// slots for its lifetime: its number among the live instances.
final class PostgresSessionOwnership: StoreSessionOwnership, @unchecked Sendable {
    /// The NOTIFY channel on which a claim asks the owner to let go: payload `"<slot> <lock key>"`.
    static let takeoverChannel = "switchboard_session_takeover"
    /// How often a waiting claim tries the lock again.
    static let retryInterval = TimeAmount.milliseconds(50)
    /// How often a waiting claim asks again (an owner that was itself between claiming and holding the
    /// session may have ignored the first request).
    static let askAgainInterval = TimeAmount.milliseconds(500)
    /// The first key of the slot locks (two-key form, which never collides with the one-key session
    /// locks; "Sb" as a number).
    static let slotLockClass: Int32 = 0x5362

    private let connect: @Sendable () throws -> PostgresConnection
    /// The tokens this instance's commits check (`fenceWriter`), shared with the store's writer.
    private let fences: WriterFences
    private let logger: Logger
    private let queue = DispatchQueue(label: "switchboard-session-ownership")
    // Confined to `queue`.
    private var connection: PostgresConnection?
    /// Successful claims not yet released, by client identifier; and the client of each held lock key.
    private var claims: [String: Int] = [:]
    private var clientsByKey: [Int64: String] = [:]
    /// `close()` ran: no more reconnecting.
    private var closed = false
    private let slot: NIOLockedValueBox<UInt8>
    private let takeoverHandler = NIOLockedValueBox<(@Sendable (String) -> Void)?>(nil)
    private let resourceHandlers = NIOLockedValueBox<[@Sendable (String, Bool) -> Void]>([])
    /// Notification channels listened to (again on every new connection), with their handlers.
    private let listeners = NIOLockedValueBox<[(channel: String, handler: @Sendable (String) -> Void)]>([])
    /// Called when a lost connection is back (its LISTENs renewed): what was announced meanwhile was missed.
    private let resumedHandlers = NIOLockedValueBox<[@Sendable () -> Void]>([])
    /// A connection was had and lost since: the next one is a resumption.
    private var everConnected = false

    /// Connects and takes a slot. Throws when the database cannot be reached or 256 instances use it.
    init(
        connect: @escaping @Sendable () throws -> PostgresConnection, fences: WriterFences, logger: Logger
    ) throws {
        self.connect = connect
        self.fences = fences
        self.logger = logger
        self.slot = NIOLockedValueBox(0)
        try queue.sync { try connectIfNeeded(preferredSlot: 0) }
    }

    var instanceSlot: UInt8 { slot.withLockedValue { $0 } }

    func onResourceReleaseRequested(_ handler: @escaping @Sendable (String, Bool) -> Void) {
        resourceHandlers.withLockedValue { $0.append(handler) }
    }

    func listen(_ channel: String, _ handler: @escaping @Sendable (String) -> Void) {
        listeners.withLockedValue { $0.append((channel, handler)) }
        queue.async { [self] in
            guard let connection else { return }
            Self.addListener(channel, handler, to: connection)
            // The LISTEN goes out before this query: once it returned nothing later is missed.
            _ = try? PostgresWriter.await(connection.query("SELECT 1", logger: logger))
        }
    }

    func onListenResumed(_ handler: @escaping @Sendable () -> Void) {
        resumedHandlers.withLockedValue { $0.append(handler) }
    }

    func loadStream(
        _ name: String, after: [UInt64], epochs: [String], kept: Bool,
        completion: @escaping @Sendable (Result<StoredStreamChange?, any Error>) -> Void
    ) {
        read(completion) { try $0.loadStream(name, after: after, epochs: epochs, kept: kept) }
    }

    func loadLog(
        _ topic: Topic, after: UInt64, epoch: String,
        completion: @escaping @Sendable (Result<StoredLog?, any Error>) -> Void
    ) {
        read(completion) { try $0.loadLog(topic, after: after, epoch: epoch) }
    }

    func loadNames(_ kind: StoredNameKind, completion: @escaping @Sendable (Result<[String], any Error>) -> Void) {
        read(completion) { try $0.loadNames(kind) }
    }

    /// Runs `body` with a loader on the ownership connection, on its queue, and completes with its value.
    private func read<Value: Sendable>(
        _ completion: @escaping @Sendable (Result<Value, any Error>) -> Void,
        _ body: @escaping @Sendable (PostgresStateLoader) throws -> Value
    ) {
        queue.async { [self] in
            do {
                try connectIfNeeded(preferredSlot: instanceSlot)
                guard let connection else { throw StoreError("postgres: no ownership connection") }
                completion(.success(try body(PostgresStateLoader(connection: connection, logger: logger))))
            } catch {
                completion(.failure(StoreError("postgres: \(PostgresStore.describe(error))")))
            }
        }
    }

    private static func addListener(
        _ channel: String, _ handler: @escaping @Sendable (String) -> Void, to connection: PostgresConnection
    ) {
        connection.addListener(channel: channel) { _, notification in handler(notification.payload) }
    }

    /// Calls the handler a claimed name belongs to: a resource's, or a session's.
    private func letGo(_ name: String, lost: Bool) {
        if StoreOwnedResource.isResource(name) {
            for handler in resourceHandlers.withLockedValue({ $0 }) { handler(name, lost) }
        } else {
            takeoverHandler.withLockedValue { $0 }?(name)
        }
    }

    func loadQueueMessages(
        _ queue: String, from firstID: UInt64,
        completion: @escaping @Sendable (Result<[StoredQueueMessage], any Error>) -> Void
    ) {
        self.queue.async { [self] in
            do {
                try connectIfNeeded(preferredSlot: instanceSlot)
                guard let connection else { throw StoreError("postgres: no ownership connection") }
                let loader = PostgresStateLoader(connection: connection, logger: logger)
                completion(.success(try loader.loadQueueMessages(queue, from: firstID)))
            } catch {
                completion(.failure(StoreError("postgres: \(PostgresStore.describe(error))")))
            }
        }
    }

    func loadRetained(
        _ topics: [String], completion: @escaping @Sendable (Result<[String: BusMessage], any Error>) -> Void
    ) {
        queue.async { [self] in
            do {
                try connectIfNeeded(preferredSlot: instanceSlot)
                guard let connection else { throw StoreError("postgres: no ownership connection") }
                let loader = PostgresStateLoader(connection: connection, logger: logger)
                completion(.success(try loader.loadRetained(topics)))
            } catch {
                completion(.failure(StoreError("postgres: \(PostgresStore.describe(error))")))
            }
        }
    }

    func loadRecords(
        _ keys: [(collection: String, id: String)],
        completion: @escaping @Sendable (Result<[StoredRecord], any Error>) -> Void
    ) {
        queue.async { [self] in
            do {
                try connectIfNeeded(preferredSlot: instanceSlot)
                guard let connection else { throw StoreError("postgres: no ownership connection") }
                let loader = PostgresStateLoader(connection: connection, logger: logger)
                completion(.success(try loader.loadRecords(keys)))
            } catch {
                completion(.failure(StoreError("postgres: \(PostgresStore.describe(error))")))
            }
        }
    }

    func loadCollection(
        _ name: String,
        completion: @escaping @Sendable (Result<(StoredCollection?, [StoredRecord]), any Error>) -> Void
    ) {
        queue.async { [self] in
            do {
                try connectIfNeeded(preferredSlot: instanceSlot)
                guard let connection else { throw StoreError("postgres: no ownership connection") }
                let loader = PostgresStateLoader(connection: connection, logger: logger)
                completion(.success(try loader.loadCollection(name)))
            } catch {
                completion(.failure(StoreError("postgres: \(PostgresStore.describe(error))")))
            }
        }
    }

    func loadStreamConsumerOffsets(
        group: String, completion: @escaping @Sendable (Result<[StoredStreamConsumerOffset], any Error>) -> Void
    ) {
        queue.async { [self] in
            do {
                try connectIfNeeded(preferredSlot: instanceSlot)
                guard let connection else { throw StoreError("postgres: no ownership connection") }
                let loader = PostgresStateLoader(connection: connection, logger: logger)
                completion(.success(try loader.loadStreamConsumerOffsets(group: group)))
            } catch {
                completion(.failure(StoreError("postgres: \(PostgresStore.describe(error))")))
            }
        }
    }

    func trimSessionLog(
        through ceiling: UInt64, now: UInt64, completion: @escaping @Sendable (Result<Int?, any Error>) -> Void
    ) {
        queue.async { [self] in
            do {
                try connectIfNeeded(preferredSlot: instanceSlot)
                guard let connection else { throw StoreError("postgres: no ownership connection") }
                completion(
                    .success(
                        try PostgresSharedSessionLog.trim(through: ceiling, now: now, on: connection, logger: logger)))
            } catch {
                completion(.failure(StoreError("postgres: \(PostgresStore.describe(error))")))
            }
        }
    }

    func onTakeoverRequested(_ handler: @escaping @Sendable (String) -> Void) {
        takeoverHandler.withLockedValue { $0 = handler }
    }

    /// The advisory lock key of `clientID`'s session: FNV-1a (64 bits) of its UTF-8, stable across
    /// instances and versions. Two identifiers with one key would share one lock (a claim on either waits
    /// for the other's owner): about one chance in 2^64 per pair.
    static func lockKey(_ clientID: String) -> Int64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in clientID.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x100_0000_01b3
        }
        return Int64(bitPattern: hash)
    }

    func claim(_ clientID: String, timeout: TimeAmount, completion: @escaping @Sendable (Bool) -> Void) {
        let deadline = NIODeadline.now() + timeout
        queue.async { [self] in attempt(clientID, deadline: deadline, askedAt: nil, completion: completion) }
    }

    private func attempt(
        _ clientID: String, deadline: NIODeadline, askedAt: NIODeadline?, completion: @escaping @Sendable (Bool) -> Void
    ) {
        if let held = claims[clientID] {
            claims[clientID] = held + 1
            return completion(true)
        }
        let key = Self.lockKey(clientID)
        var askedAt = askedAt
        do {
            try connectIfNeeded(preferredSlot: instanceSlot)
            guard let connection else { throw StoreError("postgres: no ownership connection") }
            if try Self.bool(connection.query("SELECT pg_try_advisory_lock(\(key))", logger: logger)) {
                claims[clientID] = 1
                clientsByKey[key] = clientID
                return completion(true)
            }
            let now = NIODeadline.now()
            if askedAt.map({ now - $0 >= Self.askAgainInterval }) ?? true {
                let payload = "\(instanceSlot) \(key)"
                _ = try PostgresWriter.await(
                    connection.query("SELECT pg_notify(\(Self.takeoverChannel), \(payload))", logger: logger))
                askedAt = now
            }
        } catch {
            logger.warning("session ownership: \(PostgresStore.describe(error))")
            dropConnection()
        }
        guard NIODeadline.now() + Self.retryInterval < deadline else { return completion(false) }
        queue.asyncAfter(deadline: .now() + .nanoseconds(Int(Self.retryInterval.nanoseconds))) { [self, askedAt] in
            attempt(clientID, deadline: deadline, askedAt: askedAt, completion: completion)
        }
    }

    func fenceWriter(_ resource: String, completion: @escaping @Sendable (Bool) -> Void) {
        queue.async { [self] in
            guard claims[resource] != nil else { return completion(false) }
            // Set here first: a commit of this instance's from before (an earlier claim's appends, still
            // queued) then fails whoever fenced last; none of it was acknowledged.
            let token = Int64.random(in: .min ... .max)
            fences.set(resource, token: token)
            do {
                guard let connection else { throw StoreError("postgres: no ownership connection") }
                // Waits for a commit in flight holding the old token's row (FOR SHARE), so the fresh read
                // after this sees what that commit wrote.
                _ = try PostgresWriter.await(
                    connection.query(
                        """
                        INSERT INTO writer_fence (resource, token) VALUES (\(ByteBuffer(string: resource)), \(token))
                        ON CONFLICT (resource) DO UPDATE SET token = excluded.token
                        """, logger: logger))
                completion(true)
            } catch {
                logger.warning("writer fence: \(PostgresStore.describe(error))")
                completion(false)
            }
        }
    }

    func release(_ clientID: String) {
        queue.async { [self] in
            guard let held = claims[clientID] else { return }
            guard held <= 1 else {
                claims[clientID] = held - 1
                return
            }
            claims[clientID] = nil
            let key = Self.lockKey(clientID)
            clientsByKey[key] = nil
            guard let connection else { return }
            do {
                _ = try PostgresWriter.await(connection.query("SELECT pg_advisory_unlock(\(key))", logger: logger))
            } catch {
                // The lock goes with the connection: dropping it lets go of every session held here.
                logger.warning("session ownership: unlock failed: \(PostgresStore.describe(error))")
                dropConnection()
            }
        }
    }

    func loadSession(
        _ clientID: String, completion: @escaping @Sendable (Result<StoredSessionSnapshot?, any Error>) -> Void
    ) {
        queue.async { [self] in
            do {
                try connectIfNeeded(preferredSlot: instanceSlot)
                guard let connection else { throw StoreError("postgres: no ownership connection") }
                let loader = PostgresStateLoader(connection: connection, logger: logger)
                completion(.success(try loader.loadSession(clientID)))
            } catch {
                completion(.failure(StoreError("postgres: \(PostgresStore.describe(error))")))
            }
        }
    }

    func loadBrokerTopology(completion: @escaping @Sendable (Result<StoredState, any Error>) -> Void) {
        queue.async { [self] in
            do {
                try connectIfNeeded(preferredSlot: instanceSlot)
                guard let connection else { throw StoreError("postgres: no ownership connection") }
                let loader = PostgresStateLoader(connection: connection, logger: logger)
                completion(.success(try loader.loadBrokerTopology()))
            } catch {
                completion(.failure(StoreError("postgres: \(PostgresStore.describe(error))")))
            }
        }
    }

    /// Closes the connection (every lock held on it goes).
    func close() {
        queue.sync {
            closed = true
            guard let connection else { return }
            self.connection = nil
            _ = try? connection.close().wait()
        }
    }

    // MARK: - The connection

    private func connectIfNeeded(preferredSlot: UInt8) throws {
        guard connection == nil else { return }
        guard !closed else { throw StoreError("postgres: the store is closed") }
        let connection = try connect()
        do {
            var taken: UInt8?
            for offset in 0..<256 {
                let candidate = Int32((Int(preferredSlot) + offset) % 256)
                let query: PostgresQuery = "SELECT pg_try_advisory_lock(\(Self.slotLockClass), \(candidate))"
                if try Self.bool(connection.query(query, logger: logger)) {
                    taken = UInt8(candidate)
                    break
                }
            }
            guard let taken else { throw StoreError("postgres: 256 instances already share this database") }
            slot.withLockedValue { $0 = taken }
            connection.addListener(channel: Self.takeoverChannel) { [weak self] _, notification in
                guard let self else { return }
                queue.async { self.takeoverRequested(notification.payload) }
            }
            for (channel, handler) in listeners.withLockedValue({ $0 }) {
                Self.addListener(channel, handler, to: connection)
            }
            // The listener's LISTEN goes out before this query, so no request after it is missed.
            _ = try PostgresWriter.await(connection.query("SELECT 1", logger: logger))
        } catch {
            PostgresWriter.drop(connection)
            throw error
        }
        self.connection = connection
        if everConnected {
            // Notifications sent while no connection listened are lost: every listener reads again.
            let handlers = resumedHandlers.withLockedValue { $0 }
            queue.async { for handler in handlers { handler() } }
        }
        everConnected = true
        connection.closeFuture.whenComplete { [weak self] _ in
            guard let self else { return }
            queue.async { self.connectionClosed(connection) }
        }
    }

    private func dropConnection() {
        guard let connection else { return }
        PostgresWriter.drop(connection)
        connectionClosed(connection)
    }

    /// The connection is gone, and with it every lock: sessions held here may be taken by another
    /// instance now, so each is let go here as if it had been taken over. The connection comes back (in
    /// the same slot when it is still free) without waiting for the next claim, so the slot, and the
    /// sequence numbers it makes unique, are this instance's again.
    private func connectionClosed(_ lostConnection: PostgresConnection) {
        guard connection === lostConnection else { return }
        connection = nil
        let lost = Array(claims.keys)
        claims.removeAll()
        clientsByKey.removeAll()
        logger.warning("session ownership: connection lost; letting go of \(lost.count) sessions")
        for name in lost { letGo(name, lost: true) }
        reconnect(after: .seconds(1))
    }

    private func reconnect(after delay: TimeAmount) {
        queue.asyncAfter(deadline: .now() + .nanoseconds(Int(delay.nanoseconds))) { [self] in
            guard !closed, connection == nil else { return }
            do {
                try connectIfNeeded(preferredSlot: instanceSlot)
            } catch {
                logger.warning("session ownership: reconnecting failed: \(PostgresStore.describe(error))")
                reconnect(after: .seconds(1))
            }
        }
    }

    private func takeoverRequested(_ payload: String) {
        let parts = payload.split(separator: " ")
        guard parts.count == 2, let from = UInt8(parts[0]), from != instanceSlot, let key = Int64(parts[1]),
            let name = clientsByKey[key]
        else { return }
        letGo(name, lost: false)
    }

    private static func bool(_ future: EventLoopFuture<PostgresQueryResult>) throws -> Bool {
        let result = try PostgresWriter.await(future)
        guard let row = result.rows.first else { throw StoreError("postgres: no answer row") }
        return try row.decode(Bool.self)
    }
}
