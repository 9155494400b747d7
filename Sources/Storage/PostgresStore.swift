package import Logging
import NIOCore
import NIOPosix
import NIOSSL
import PostgresNIO

/// Durable state in a PostgreSQL database (`--storage postgres://…`, docs/storage.md): the same tables
/// and the same contract as `SQLiteStore`. One writer thread (the `GroupCommitQueue`'s) applies every
/// batch submitted while the previous commit ran in one transaction on one connection; the connections
/// run on an event loop group of the store's own, never on the bus's loops.
package final class PostgresStore: Store {
    package let configuration: PostgresStoreConfiguration
    private let eventLoopGroup: MultiThreadedEventLoopGroup
    private let writer: PostgresWriter
    private let queue: GroupCommitQueue
    private let logger: Logger
    /// Per-session ownership, when several instances share the database (`shared_instances=true`).
    private let ownership: PostgresSessionOwnership?
    /// `readStream`'s connection and thread.
    private let reader: PostgresStreamReader

    /// Connects, creates or migrates the schema, and starts the writer. Throws when the database cannot
    /// be reached or migrated (the server then does not start).
    package init(
        configuration: PostgresStoreConfiguration, durability: StoreDurability = .fsync,
        logger: Logger = Logger(label: "storage")
    ) throws {
        self.configuration = configuration
        // postgres-nio logs every query at debug and trace; the store logs what matters itself.
        let driverLogger = {
            var quieter = logger
            quieter.logLevel = max(logger.logLevel, .notice)
            return quieter
        }()
        self.logger = driverLogger
        let eventLoopGroup = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        self.eventLoopGroup = eventLoopGroup
        let connect = { @Sendable () throws -> PostgresConnection in
            try Self.connect(configuration, on: eventLoopGroup.next(), logger: driverLogger)
        }
        do {
            let connection = try connect()
            defer { _ = try? connection.close().wait() }
            try PostgresSchema.migrate(connection, logger: driverLogger)
        } catch {
            try? eventLoopGroup.syncShutdownGracefully()
            throw StoreError("postgres \(configuration): \(Self.describe(error))")
        }
        let fences = WriterFences()
        do {
            self.ownership =
                configuration.sharedInstances
                ? try PostgresSessionOwnership(connect: connect, fences: fences, logger: driverLogger) : nil
        } catch {
            try? eventLoopGroup.syncShutdownGracefully()
            throw StoreError("postgres \(configuration): \(Self.describe(error))")
        }
        let sharing = self.ownership
        let writer = PostgresWriter(
            connect: connect, synchronousCommit: durability == .fsync ? "on" : "off",
            sharedInstances: configuration.sharedInstances, fences: configuration.sharedInstances ? fences : nil,
            instanceSlot: { sharing?.instanceSlot ?? 0 }, logger: driverLogger)
        self.writer = writer
        self.reader = PostgresStreamReader(
            connect: connect, connections: configuration.readConnections, logger: driverLogger)
        self.queue = GroupCommitQueue(
            name: "switchboard-store-postgres", commit: { writes in try writer.commit(writes) },
            measureDisk: { writer.databaseBytes() })
    }

    package func submit(_ writes: [StoreWrite], completion: (@Sendable ((any Error)?) -> Void)?) {
        queue.submit(writes, completion: completion)
    }

    /// Reads everything on a connection of its own (the writer's may be inside a transaction).
    package func load(streamBodies: Bool) throws -> StoredState {
        do {
            let connection = try Self.connect(configuration, on: eventLoopGroup.next(), logger: logger)
            defer { _ = try? connection.close().wait() }
            return try PostgresStateLoader(connection: connection, logger: logger).load(streamBodies: streamBodies)
        } catch let error as StoreError {
            throw error
        } catch {
            throw StoreError("postgres \(configuration): \(Self.describe(error))")
        }
    }

    package func readStream(
        _ stream: String, partition: Int, offsets: [UInt64],
        completion: @escaping @Sendable (Result<[StoredStreamMessage], any Error>) -> Void
    ) {
        reader.read(stream, partition: partition, offsets: offsets, completion: completion)
    }

    /// Connections the stream-read pool has open (at most `read_connections`).
    package var openStreamReadConnections: Int { reader.openConnections }

    package var statistics: StoreStatistics { queue.currentStatistics }

    package var sessionOwnership: (any StoreSessionOwnership)? { ownership }

    package func close() {
        queue.close()
        writer.close()
        reader.close()
        ownership?.close()
        try? eventLoopGroup.syncShutdownGracefully()
    }

    static func connect(
        _ configuration: PostgresStoreConfiguration, on eventLoop: any EventLoop, logger: Logger
    ) throws -> PostgresConnection {
        let tls: PostgresConnection.Configuration.TLS
        switch configuration.tls {
        case .disable: tls = .disable
        case .require, .verifyCA, .verifyFull:
            var client = TLSConfiguration.makeClientConfiguration()
            client.certificateVerification =
                switch configuration.tls {
                case .require: .none
                case .verifyCA: .noHostnameVerification
                default: .fullVerification
                }
            if let file = configuration.rootCertificateFile { client.trustRoots = .file(file) }
            tls = .require(try NIOSSLContext(configuration: client))
        }
        var postgres = PostgresConnection.Configuration(
            host: configuration.host, port: configuration.port, username: configuration.user,
            password: configuration.password, database: configuration.database, tls: tls)
        postgres.options.connectTimeout = .seconds(10)
        return try PostgresConnection.connect(on: eventLoop, configuration: postgres, id: 1, logger: logger).wait()
    }

    /// What went wrong, with the server's message: postgres-nio's own description of a `PSQLError` is
    /// deliberately generic (it could carry data), the server's message and SQLSTATE are what an operator
    /// needs.
    static func describe(_ error: any Error) -> String {
        guard let error = error as? PSQLError else { return "\(error)" }
        if let info = error.serverInfo, let message = info[.message] {
            return "\(message) (SQLSTATE \(info[.sqlState] ?? "?"))"
        }
        if let underlying = error.underlying { return "\(error.code): \(underlying)" }
        return "\(error.code)"
    }
}
