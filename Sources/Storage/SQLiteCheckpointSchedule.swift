import GRDB
import GRDBSQLite

/// When the SQLite store's writer copies the WAL back into the database file (docs/storage.md).
///
/// SQLite's own automatic checkpoint runs inside the commit that takes the WAL past 1,000 pages: that
/// commit's writers wait for the copy and the database file's fsync before they are answered. Instead,
/// the store counts the WAL's pages (a WAL hook, which replaces the automatic checkpoint) and the writer
/// checkpoints (PASSIVE) after a commit's completions have run: from `idlePages` on when no batch is
/// waiting, and from `busyPages` on even when one is, so the WAL stays bounded under a steady stream of
/// commits. Durability is SQLite's either way: a commit is durable in the WAL, a crash during a
/// checkpoint leaves the WAL to be copied again on the next open.
///
/// Used only on the store's thread (the hook runs inside its commits), hence `@unchecked Sendable`.
final class SQLiteCheckpointSchedule: @unchecked Sendable {
    /// SQLite's default automatic checkpoint (`wal_autocheckpoint`).
    static let idlePages = 1_000
    /// 8 MiB of 4 KiB pages: with batches always waiting, a checkpoint still comes after as many pages as
    /// twice the default, and it holds up only the batch that waits for it, never the one it follows.
    static let busyPages = 2_000

    /// Frames in the WAL after the last commit (SQLite's count: it starts again from 0 once a checkpoint
    /// copied them all and a new write begins).
    private var walPages = 0
    /// Frames of the WAL the last checkpoint copied.
    private var copied = 0

    /// Counts the WAL's pages on `db`'s commits instead of SQLite's automatic checkpoint.
    func watch(_ db: Database) {
        sqlite3_wal_hook(
            db.sqliteConnection,
            { context, _, _, pages in
                Unmanaged<SQLiteCheckpointSchedule>.fromOpaque(context!).takeUnretainedValue().walPages = Int(pages)
                return SQLITE_OK
            }, Unmanaged.passUnretained(self).toOpaque())
    }

    /// Whether the pages not copied yet call for a checkpoint now.
    func isDue(busy: Bool) -> Bool {
        // The WAL began again from its start since the last checkpoint.
        if walPages < copied { copied = 0 }
        return walPages - copied >= (busy ? Self.busyPages : Self.idlePages)
    }

    func checkpointed(walPages: Int, copied: Int) {
        self.walPages = walPages
        self.copied = copied
    }
}
