import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// CPU time and resident memory of one process at one moment.
struct ProcessSample: Sendable {
    /// User + system CPU seconds consumed so far.
    var cpuSeconds: Double
    /// Resident set size in KiB (VmRSS).
    var residentKilobytes: Int
}

/// Reads the tool's own usage (getrusage) and another process's usage (/proc/PID/stat, status).
enum ProcessStats {
    /// CPU seconds of this process plus its waited-for children (conns child processes).
    static func toolCPUSeconds() -> Double {
        func seconds(_ who: Int32) -> Double {
            var usage = rusage()
            getrusage(__rusage_who_t(who), &usage)
            return Double(usage.ru_utime.tv_sec) + Double(usage.ru_utime.tv_usec) / 1e6
                + Double(usage.ru_stime.tv_sec) + Double(usage.ru_stime.tv_usec) / 1e6
        }
        return seconds(RUSAGE_SELF.rawValue) + seconds(RUSAGE_CHILDREN.rawValue)
    }

    /// CPU seconds and RSS of process `pid`, or nil if it is gone.
    static func sample(pid: Int32) -> ProcessSample? {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
            let commEnd = stat.lastIndex(of: ")")
        else { return nil }
        // Fields after "pid (comm) ": state is field 3, utime field 14, stime field 15 (proc(5)).
        let fields = stat[stat.index(after: commEnd)...].split(separator: " ")
        guard fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) else { return nil }
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        var resident = 0
        for line in status.split(separator: "\n") where line.hasPrefix("VmRSS:") {
            resident = Int(line.split(separator: " ", omittingEmptySubsequences: true)[1]) ?? 0
        }
        return ProcessSample(cpuSeconds: (user + system) / ticks, residentKilobytes: resident)
    }

    /// CPU seconds all CPUs of the machine spent busy since boot (/proc/stat: everything but idle
    /// and iowait), to tell how much else ran during a measurement.
    static func machineBusySeconds() -> Double {
        guard let stat = try? String(contentsOfFile: "/proc/stat", encoding: .utf8),
            let line = stat.split(separator: "\n").first
        else { return 0 }
        let fields = line.split(separator: " ").dropFirst().compactMap { Double($0) }
        guard fields.count > 4 else { return 0 }
        let busy = fields.reduce(0, +) - fields[3] - fields[4]
        return busy / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    /// Raises the soft open-file limit to the hard limit (conns needs one descriptor per connection).
    @discardableResult
    static func raiseFileLimit() -> Int {
        var limit = rlimit()
        getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit)
        limit.rlim_cur = limit.rlim_max
        setrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit)
        return Int(limit.rlim_cur)
    }
}
