import NIOCore
import NIOPosix
import ServerApp
import Testing

/// When the server gives free memory back (`MemoryReturnPolicy`): after the open connections fell to three
/// quarters of their peak since the last time, and by at least the minimum drop — never while they grow or
/// breathe a little.
@Suite struct MemoryReturnPolicyTests {
    /// The policy's answer to each count in turn.
    func answers(_ counts: [Int], minimumDrop: Int = 1_000) -> [Bool] {
        var policy = MemoryReturnPolicy(minimumDrop: minimumDrop)
        return counts.map { policy.observe(connections: $0) }
    }

    @Test func aCrowdThatLeavesIsTrimmedOnceItIsAQuarterSmaller() {
        // 14,000 is below the peak but above three quarters of it; 13,000 is not. The peak then counts from
        // 13,000: 12,000 is not three quarters of it, 30 is; and nothing has left since.
        #expect(
            answers([18_000, 14_000, 13_000, 12_000, 30, 30]) == [false, false, true, false, true, false])
    }

    @Test func aSmallServerIsNeverTrimmed() {
        #expect(answers([0, 800, 0, 900, 10, 999, 0]).allSatisfy { !$0 }, "never 1,000 connections gone")
    }

    @Test func growingOrBreathingIsNotTrimmed() {
        let growing = Array(stride(from: 0, through: 100_000, by: 5_000))
        #expect(answers(growing + [80_000, 75_000]) == Array(repeating: false, count: growing.count + 1) + [true])
    }

    /// The trim is looked up at run time: on glibc it must be found, or the server would never give
    /// memory back and nothing else would say so.
    @Test func glibcsTrimIsFoundAndScheduled() throws {
        #if canImport(Glibc)
            let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
            defer { try? group.syncShutdownGracefully() }
            let task = MemoryReturn.start(on: group.next()) { 0 }
            #expect(task != nil, "malloc_trim not found through dlsym")
            task?.cancel()
        #endif
    }
}
