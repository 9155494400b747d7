import Testing

@testable import FrontendKit

@Suite struct ReadBudgetTests {
    @Test func isSpentOncePastItsSliceAndReadsTheClockEveryStrideOperations() {
        var now: UInt64 = 1_000
        var clockReads = 0
        let clock = {
            clockReads += 1
            return now
        }
        var budget = ReadBudget(now: now)
        for _ in 0..<(ReadBudget.stride * 4) {
            let spent = budget.spend(clock: clock)
            #expect(!spent)
        }
        #expect(clockReads == 4)
        now += ReadBudget.slice  // exactly the slice: not past it
        for _ in 0..<ReadBudget.stride {
            let spent = budget.spend(clock: clock)
            #expect(!spent)
        }
        now += 1
        for _ in 0..<(ReadBudget.stride - 1) {
            let spent = budget.spend(clock: clock)
            #expect(!spent)
        }
        let spent = budget.spend(clock: clock)
        #expect(spent)
        #expect(clockReads == 6)
    }
}
