#if canImport(Glibc)
    import Foundation
    import Glibc

    /// glibc's allocator, sized for a server that makes and frees many small objects per message.
    ///
    /// A message's way through the bus allocates a few small objects (the message, a run, an
    /// acknowledgement's closure) and frees them a little later, often a batch of hundreds at once. glibc
    /// keeps only 7 freed chunks of each size per thread (`tcache_count`); past that a free takes the
    /// arena's lock and the fast bins, and a later large free consolidates them: on a JetStream publish
    /// run, 18–22 % of the event loop's samples were in malloc and free, 7–10 % with a cache of 1,024
    /// (Benchmarks/analysis.md, "glibc's thread cache"). The count can only be set before the process
    /// starts (`GLIBC_TUNABLES`, read by the dynamic loader), so `serve` executes itself again, once, with
    /// it set — same PID, same arguments — unless `GLIBC_TUNABLES` already names it or
    /// `SWITCHBOARD_MALLOC_TUNING=off` (docs/operations.md).
    enum AllocatorTuning {
        static let tunable = "glibc.malloc.tcache_count"
        /// Chunks kept per size class per thread: at most ~34 MB a thread if every size class filled up
        /// (in practice what a burst of messages freed).
        static let count = 1024

        /// The `GLIBC_TUNABLES` value to run with, or nil to run as started.
        static func tunables(in environment: [String: String]) -> String? {
            guard environment["SWITCHBOARD_MALLOC_TUNING"] != "off" else { return nil }
            let current = environment["GLIBC_TUNABLES"] ?? ""
            guard !current.contains(tunable) else { return nil }
            return current.isEmpty ? "\(tunable)=\(count)" : "\(current):\(tunable)=\(count)"
        }

        /// Executes this binary again with the tuned allocator (does not return when that works); if the
        /// exec fails, the process goes on as it is.
        static func applyByExecutingAgain() {
            let environment = ProcessInfo.processInfo.environment
            guard let value = tunables(in: environment) else { return }
            setenv("GLIBC_TUNABLES", value, 1)
            execv("/proc/self/exe", CommandLine.unsafeArgv)
            // Still here: the exec failed (no /proc, say). Leave the environment as it was.
            if let previous = environment["GLIBC_TUNABLES"] {
                setenv("GLIBC_TUNABLES", previous, 1)
            } else {
                unsetenv("GLIBC_TUNABLES")
            }
        }
    }
#else
    enum AllocatorTuning {
        static func applyByExecutingAgain() {}
    }
#endif
