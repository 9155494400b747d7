import GRDB

/// Raw SQL against a closed store's file, for tests that damage it on purpose.
enum SQLiteTestAccess {
    static func execute(path: String, sql: String) throws {
        let database = try DatabaseQueue(path: path)
        try database.write { db in try db.execute(sql: sql) }
        try database.close()
    }
}
