import ArgumentParser
import Logging
import ServerApp

/// `switchboard migrate-store`: an embedded store's durable state into PostgreSQL (docs/storage.md).
struct MigrateStoreCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "migrate-store",
        abstract: "Copy every durable thing of one store into another, empty one (SQLite into PostgreSQL).",
        discussion: """
            Stores are named sqlite:PATH (a database file, or a data directory holding switchboard.sqlite) \
            or by a postgres:// URL. Stop the server first. Topic logs keep their epochs, so clients resume \
            across the move; the destination must hold nothing.
            """)

    @Option(help: "The store to read: sqlite:PATH or postgres://…")
    var from: String

    @Option(help: "The empty store to fill: postgres://… or sqlite:PATH")
    var to: String

    func run() throws {
        var logger = Logger(label: "migrate-store")
        logger.logLevel = .warning
        print(try SwitchboardServer.migrateStore(from: from, to: to, logger: logger))
    }
}
