import GRDBSQLite
import Synchronization

/// Fault injection below SQLite: a VFS that wraps the default one (`unix` here) and, while a watched file's
/// failures are on, answers its `xSync` with `SQLITE_IOERR_FSYNC` — what SQLite's own unix VFS answers
/// when the kernel's `fsync` fails (EIO from a failing disk, ENOSPC on thin provisioning). Everything else
/// passes through, so it can be the process's default VFS while other tests open their databases.
///
/// A file is watched when its path starts with a prefix given to `watch` (the database, its `-wal` and
/// `-journal`); the shared-memory index (`-shm`) is mapped through the database's file, never synced.
enum FailingSyncVFS {
    private struct State {
        var watched: [String] = []
        var failing: Set<String> = []
        var refused = 0
    }

    private static let state = Mutex(State())
    /// The wrapped VFS and the wrapper, made once and registered for the process's life (SQLite keeps
    /// the pointer).
    nonisolated(unsafe) private static var base: UnsafeMutablePointer<sqlite3_vfs>?
    nonisolated(unsafe) private static let wrapper = UnsafeMutablePointer<sqlite3_vfs>.allocate(capacity: 1)
    nonisolated(unsafe) private static let methods = UnsafeMutablePointer<sqlite3_io_methods>.allocate(capacity: 1)
    private static let installed = Mutex(false)

    /// What SQLite allocates for one open file: this header, then the wrapped VFS's own file.
    private struct WrappedFile {
        var file: sqlite3_file
        var real: UnsafeMutablePointer<sqlite3_file>?
        var prefix: Int
    }

    private static let headerSize = (MemoryLayout<WrappedFile>.stride + 15) & ~15

    /// Makes the wrapper the default VFS (it passes everything through until a file is watched and failing),
    /// and watches the files whose path starts with `prefix`. Call `unwatch` when done.
    static func watch(_ prefix: String) {
        installed.withLock { done in
            guard !done else { return }
            done = true
            guard let found = sqlite3_vfs_find(nil) else { fatalError("no default SQLite VFS") }
            base = found
            var made = found.pointee
            made.szOsFile = Int32(headerSize) + found.pointee.szOsFile
            made.zName = UnsafeRawPointer(("failing-sync" as StaticString).utf8Start).assumingMemoryBound(
                to: CChar.self)
            made.pNext = nil
            made.xOpen = open
            wrapper.initialize(to: made)
            methods.initialize(to: makeMethods())
            sqlite3_vfs_register(wrapper, 1)
        }
        state.withLock { $0.watched.append(prefix) }
    }

    /// Stops watching `prefix` (and failing its syncs).
    static func unwatch(_ prefix: String) {
        state.withLock {
            $0.watched.removeAll { $0 == prefix }
            $0.failing.remove(prefix)
        }
    }

    /// Whether the syncs of `prefix`'s files fail.
    static func setFailing(_ failing: Bool, for prefix: String) {
        state.withLock {
            if failing { $0.failing.insert(prefix) } else { $0.failing.remove(prefix) }
        }
    }

    /// How many syncs were refused so far (any watched prefix).
    static var refusedSyncs: Int { state.withLock { $0.refused } }

    // MARK: - The VFS

    private static let open:
        @convention(c) (
            UnsafeMutablePointer<sqlite3_vfs>?, UnsafePointer<CChar>?, UnsafeMutablePointer<sqlite3_file>?, Int32,
            UnsafeMutablePointer<Int32>?
        ) -> Int32 = { _, name, file, flags, outFlags in
            guard let file, let base = FailingSyncVFS.base else { return SQLITE_CANTOPEN }
            let raw = UnsafeMutableRawPointer(file)
            let real = (raw + FailingSyncVFS.headerSize).assumingMemoryBound(to: sqlite3_file.self)
            let wrapped = raw.assumingMemoryBound(to: WrappedFile.self)
            wrapped.initialize(to: WrappedFile(file: sqlite3_file(pMethods: nil), real: nil, prefix: -1))
            let result = base.pointee.xOpen!(base, name, real, flags, outFlags)
            guard result == SQLITE_OK, real.pointee.pMethods != nil else { return result }
            let path = name.map { String(cString: $0) } ?? ""
            wrapped.pointee.real = real
            wrapped.pointee.prefix = FailingSyncVFS.state.withLock { state in
                state.watched.firstIndex { path.hasPrefix($0) } ?? -1
            }
            wrapped.pointee.file.pMethods = UnsafePointer(FailingSyncVFS.methods)
            return SQLITE_OK
        }

    private static func real(_ file: UnsafeMutablePointer<sqlite3_file>?) -> UnsafeMutablePointer<sqlite3_file> {
        UnsafeMutableRawPointer(file!).assumingMemoryBound(to: WrappedFile.self).pointee.real!
    }

    private static func io(_ file: UnsafeMutablePointer<sqlite3_file>) -> sqlite3_io_methods {
        file.pointee.pMethods.pointee
    }

    /// Whether `file`'s sync is to fail now (counted).
    private static func refuses(_ file: UnsafeMutablePointer<sqlite3_file>?) -> Bool {
        let index = UnsafeMutableRawPointer(file!).assumingMemoryBound(to: WrappedFile.self).pointee.prefix
        guard index >= 0 else { return false }
        return state.withLock { state in
            guard index < state.watched.count, state.failing.contains(state.watched[index]) else { return false }
            state.refused += 1
            return true
        }
    }

    private static func makeMethods() -> sqlite3_io_methods {
        var methods = sqlite3_io_methods()
        methods.iVersion = 3
        methods.xClose = { file in
            let real = FailingSyncVFS.real(file)
            return FailingSyncVFS.io(real).xClose!(real)
        }
        methods.xRead = { file, buffer, amount, offset in
            let real = FailingSyncVFS.real(file)
            return FailingSyncVFS.io(real).xRead!(real, buffer, amount, offset)
        }
        methods.xWrite = { file, buffer, amount, offset in
            let real = FailingSyncVFS.real(file)
            return FailingSyncVFS.io(real).xWrite!(real, buffer, amount, offset)
        }
        methods.xTruncate = { file, size in
            let real = FailingSyncVFS.real(file)
            return FailingSyncVFS.io(real).xTruncate!(real, size)
        }
        methods.xSync = { file, flags in
            // The unix VFS's answer to a failed fsync(2).
            if FailingSyncVFS.refuses(file) { return SQLITE_IOERR | (4 << 8) }
            let real = FailingSyncVFS.real(file)
            return FailingSyncVFS.io(real).xSync!(real, flags)
        }
        methods.xFileSize = { file, size in
            let real = FailingSyncVFS.real(file)
            return FailingSyncVFS.io(real).xFileSize!(real, size)
        }
        methods.xLock = { file, lock in
            let real = FailingSyncVFS.real(file)
            return FailingSyncVFS.io(real).xLock!(real, lock)
        }
        methods.xUnlock = { file, lock in
            let real = FailingSyncVFS.real(file)
            return FailingSyncVFS.io(real).xUnlock!(real, lock)
        }
        methods.xCheckReservedLock = { file, out in
            let real = FailingSyncVFS.real(file)
            return FailingSyncVFS.io(real).xCheckReservedLock!(real, out)
        }
        methods.xFileControl = { file, op, argument in
            let real = FailingSyncVFS.real(file)
            return FailingSyncVFS.io(real).xFileControl!(real, op, argument)
        }
        methods.xSectorSize = { file in
            let real = FailingSyncVFS.real(file)
            return FailingSyncVFS.io(real).xSectorSize!(real)
        }
        methods.xDeviceCharacteristics = { file in
            let real = FailingSyncVFS.real(file)
            return FailingSyncVFS.io(real).xDeviceCharacteristics!(real)
        }
        methods.xShmMap = { file, region, size, extend, out in
            let real = FailingSyncVFS.real(file)
            return FailingSyncVFS.io(real).xShmMap!(real, region, size, extend, out)
        }
        methods.xShmLock = { file, offset, count, flags in
            let real = FailingSyncVFS.real(file)
            return FailingSyncVFS.io(real).xShmLock!(real, offset, count, flags)
        }
        methods.xShmBarrier = { file in
            let real = FailingSyncVFS.real(file)
            FailingSyncVFS.io(real).xShmBarrier!(real)
        }
        methods.xShmUnmap = { file, delete in
            let real = FailingSyncVFS.real(file)
            return FailingSyncVFS.io(real).xShmUnmap!(real, delete)
        }
        methods.xFetch = { file, offset, amount, out in
            let real = FailingSyncVFS.real(file)
            return FailingSyncVFS.io(real).xFetch!(real, offset, amount, out)
        }
        methods.xUnfetch = { file, offset, pointer in
            let real = FailingSyncVFS.real(file)
            return FailingSyncVFS.io(real).xUnfetch!(real, offset, pointer)
        }
        return methods
    }
}
