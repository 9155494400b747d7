import BusRuntime
import Foundation
import FrontendKit
package import Logging
package import Storage

extension SwitchboardServer {
    /// The store the configuration asks for: `<data dir>/switchboard.sqlite` (created with its directory
    /// when missing), memory, or a PostgreSQL database (connected and migrated here).
    package static func openStore(_ configuration: ServerConfiguration, logger: Logger) throws -> any Store {
        switch configuration.storage {
        case .memory:
            logger.notice("storage: in memory — nothing durable survives this process")
            return MemoryStore()
        case .sqlite:
            try FileManager.default.createDirectory(
                atPath: configuration.dataDirectory, withIntermediateDirectories: true)
            let path = (configuration.dataDirectory as NSString).appendingPathComponent("switchboard.sqlite")
            let store = try SQLiteStore(
                path: path, durability: configuration.durability, maxBytes: configuration.limits.maxStoreBytes,
                logger: logger)
            let warning =
                configuration.durability == .noFsync ? " (commits are NOT fsynced: a power loss can lose them)" : ""
            logger.info("storage: SQLite at \(path), durability \(configuration.durability.rawValue)\(warning)")
            return store
        case .postgres(let postgres):
            let store = try PostgresStore(configuration: postgres, durability: configuration.durability, logger: logger)
            let warning =
                configuration.durability == .noFsync
                ? " (synchronous_commit off: a crash of the database server can lose the last commits)" : ""
            logger.info("storage: PostgreSQL at \(postgres), durability \(configuration.durability.rawValue)\(warning)")
            return store
        }
    }
}
