import NIOConcurrencyHelpers

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The ids of records this server creates: PocketBase's shape (15 characters of `a-z0-9`), but ordered by
/// creation, as ULIDs and UUIDv7 are. The first eight characters are the milliseconds since 2020-01-01 in base
/// 36 (enough until 2109), the last seven a random number that successive ids in one millisecond step up from.
///
/// Why ordered: the store keys records by `(collection, id)`, so uniformly random ids put every new record on
/// its own page of that key — a group commit of a few creates wrote 15–40 pages to SQLite's WAL and checkpoint
/// (Benchmarks/analysis.md, "Records creates"). Ordered ids append to the key's last page. They also never
/// collide within a process, where random ids could (a collision refused the create).
///
/// The digits sort as the bytes do (`0-9` before `a-z`), so ids compare as their times and counters; ids given
/// by clients keep any shape the collection allows.
final class RecordIDGenerator: Sendable {
    /// 36^7: the counter's range.
    static let counterRange: UInt64 = 78_364_164_096
    /// 2020-01-01T00:00:00Z in Unix milliseconds.
    static let epochMilliseconds: UInt64 = 1_577_836_800_000
    static let digits: StaticString = "0123456789abcdefghijklmnopqrstuvwxyz"

    private struct State {
        var milliseconds: UInt64 = 0
        var counter: UInt64 = 0
        var random = SystemRandomNumberGenerator()
    }

    private let state = NIOLockedValueBox(State())
    private let clock: @Sendable () -> UInt64

    /// `clock` answers Unix milliseconds (the wall clock by default); tests step it.
    init(clock: (@Sendable () -> UInt64)? = nil) {
        self.clock = clock ?? RecordIDGenerator.wallClockMilliseconds
    }

    func next() -> String {
        let now = clock()
        let (milliseconds, counter) = state.withLockedValue { state -> (UInt64, UInt64) in
            let time = now > Self.epochMilliseconds ? now - Self.epochMilliseconds : 0
            if time > state.milliseconds {
                // A new millisecond: a random start in the lower half, so the steps below have room.
                state.milliseconds = time
                state.counter = state.random.next(upperBound: Self.counterRange / 2)
            } else {
                // The same millisecond, or the clock went back: keep counting from the last id.
                state.counter += 1 + state.random.next(upperBound: 1_024)
                if state.counter >= Self.counterRange {
                    state.milliseconds += 1
                    state.counter = state.random.next(upperBound: Self.counterRange / 2)
                }
            }
            return (state.milliseconds, state.counter)
        }
        return Self.id(milliseconds: milliseconds, counter: counter)
    }

    /// Eight base-36 digits of `milliseconds` and seven of `counter`.
    static func id(milliseconds: UInt64, counter: UInt64) -> String {
        String(unsafeUninitializedCapacity: 15) { id in
            var value = counter
            for index in stride(from: 14, through: 8, by: -1) {
                id[index] = digits.utf8Start[Int(value % 36)]
                value /= 36
            }
            value = milliseconds
            for index in stride(from: 7, through: 0, by: -1) {
                id[index] = digits.utf8Start[Int(value % 36)]
                value /= 36
            }
            return 15
        }
    }

    @Sendable static func wallClockMilliseconds() -> UInt64 {
        var time = timespec()
        clock_gettime(CLOCK_REALTIME, &time)
        return UInt64(time.tv_sec) * 1_000 + UInt64(time.tv_nsec) / 1_000_000
    }
}
