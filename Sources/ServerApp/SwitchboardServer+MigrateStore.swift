import Foundation
package import Logging
import Storage

extension SwitchboardServer {
    /// `switchboard migrate-store --from sqlite:… --to postgres://…`: copies every durable thing of one
    /// store into another, empty one (docs/storage.md), and says what it copied. A store is named
    /// `sqlite:PATH` (a database file, or a data directory holding `switchboard.sqlite`) or by a
    /// `postgres://` URL. Run it with the server stopped: the source is read as a restart would read it.
    package static func migrateStore(from source: String, to destination: String, logger: Logger) throws -> String {
        let from = try openNamedStore(source, mustExist: true, logger: logger)
        defer { from.close() }
        let to = try openNamedStore(destination, mustExist: false, logger: logger)
        defer { to.close() }
        let counts = try StoreCopy.copy(from: from, to: to) { String(random() & 0xFFFF_FFFF_FFFF, radix: 36) }
        return "copied \(counts)"
    }

    private static func openNamedStore(_ name: String, mustExist: Bool, logger: Logger) throws -> any Store {
        if name.hasPrefix("postgres://") || name.hasPrefix("postgresql://") {
            return try PostgresStore(configuration: try PostgresStoreConfiguration(url: name), logger: logger)
        }
        guard name.hasPrefix("sqlite:") else {
            throw ConfigurationError("\"\(name)\" is neither sqlite:PATH nor a postgres:// URL")
        }
        var path = String(name.dropFirst("sqlite:".count))
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue {
            path = (path as NSString).appendingPathComponent("switchboard.sqlite")
        }
        if mustExist && !FileManager.default.fileExists(atPath: path) {
            throw ConfigurationError("no SQLite store at \(path)")
        }
        return try SQLiteStore(path: path, logger: logger)
    }
}
