import BusCore
import Testing

@Suite struct HistoryLogTests {
    @Test func boundedByCount() {
        var log = HistoryLog<UInt64>(epoch: "e1", limits: HistoryLimits(count: 3))
        for _ in 0..<5 { log.append(bytes: 1, now: 0) { $0.offset } }
        #expect(log.lastOffset == 5)
        #expect(log.firstOffset == 3)
        #expect(log.last(10) == [3, 4, 5])
        #expect(log.last(2) == [4, 5])
    }

    @Test func boundedByBytesAndAge() {
        var log = HistoryLog<UInt64>(epoch: "e", limits: HistoryLimits(count: 100, maxAgeSeconds: 10, maxBytes: 25))
        for i in 0..<5 { log.append(bytes: 10, now: UInt64(i) * 1_000_000_000) { $0.offset } }
        #expect(log.last(10) == [4, 5])  // 25 bytes hold two messages of 10
        log.trim(now: 14_500_000_000)  // message 5 was appended at t=4s; t=14.5 s is over 10 s
        #expect(log.count == 0)
        #expect(log.lastOffset == 5)  // offsets never go back within an epoch
    }

    @Test func readAfterPosition() {
        var log = HistoryLog<UInt64>(epoch: "e", limits: HistoryLimits(count: 3))
        for _ in 0..<5 { log.append(bytes: 1, now: 0) { $0.offset } }
        func read(_ offset: UInt64, _ epoch: String = "e") -> String {
            switch log.read(after: LogPosition(offset: offset, epoch: epoch)) {
            case .complete(let values): "\(values)"
            case .gap: "gap"
            case .epochChanged: "epoch"
            case .futureOffset: "future"
            }
        }
        #expect(read(5) == "[]")
        #expect(read(4) == "[5]")
        #expect(read(2) == "[3, 4, 5]")  // 3 is the oldest kept: nothing lost after 2
        #expect(read(1) == "gap")  // 2 is gone
        #expect(read(3, "other") == "epoch")
        #expect(read(6) == "future")
    }

    @Test func policyFirstRuleWins() throws {
        let policy = HistoryPolicy(rules: [
            .init(filter: try TopicFilter("chat/#"), limits: HistoryLimits(count: 100)),
            .init(filter: try TopicFilter("#"), limits: HistoryLimits(count: 1)),
        ])
        #expect(policy.limits(for: try Topic("chat/a"))?.count == 100)
        #expect(policy.limits(for: try Topic("x"))?.count == 1)
        #expect(HistoryPolicy().limits(for: try Topic("x")) == nil)
    }
}
