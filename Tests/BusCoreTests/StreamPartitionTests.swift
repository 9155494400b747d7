import BusCore
import SwitchboardTestSupport
import Testing

/// A stream partition: offsets, limits with both discard policies, per-subject limits, the duplicate
/// window, deletes, purges and reads by offset, time and subject. Time is the test's (nanoseconds).
@Suite struct StreamPartitionTests {
    typealias Partition = StreamPartition<String>
    let second: UInt64 = 1_000_000_000

    func append(_ partition: inout Partition, _ subject: String, _ text: String, at time: UInt64 = 0, id: String? = nil)
        -> Partition.AppendResult
    {
        partition.append(subject: subject, bytes: text.utf8.count, now: time, messageID: id) { "\($0):\(text)" }
    }

    @Test func offsetsCountFromOneAndAreNeverReused() {
        var partition = Partition(epoch: "e", limits: StreamLimits())
        #expect(partition.firstOffset == 1 && partition.lastOffset == 0)
        #expect(append(&partition, "a", "x") == .appended(offset: 1))
        #expect(append(&partition, "b", "yy") == .appended(offset: 2))
        #expect(partition.count == 2 && partition.totalBytes == 3)
        #expect(partition.entry(at: 2)?.element == "2:yy")
        let result1 = partition.purge()
        #expect(result1 == 2)
        #expect(partition.count == 0 && partition.firstOffset == 3)
        #expect(append(&partition, "a", "z") == .appended(offset: 3))
        var resumed = Partition(epoch: "e", limits: StreamLimits(), lastOffset: 41)
        #expect(append(&resumed, "a", "z") == .appended(offset: 42))
    }

    @Test func discardOldDropsTheOldestToStayWithinCountAndBytes() {
        var partition = Partition(epoch: "e", limits: StreamLimits(maxMessages: 3, maxBytes: 10))
        for index in 1...5 { _ = append(&partition, "s", "\(index)") }
        #expect(partition.count == 3 && partition.firstOffset == 3)
        _ = append(&partition, "s", "123456789")  // 9 bytes: the oldest two go to fit 10
        #expect(partition.read(from: 0).map(\.offset) == [5, 6])
        #expect(partition.totalBytes == 10)
    }

    /// nats-server's test_account_limits: max_bytes 128, records of subject "limits" (6) + payload + 30.
    @Test func maxBytesCountsRecordsAndTheirOverheadWhenAsked() {
        var partition = Partition(epoch: "e", limits: StreamLimits(maxBytes: 128, recordOverhead: 30))
        func put(_ payload: Int) {
            partition.append(subject: "limits", bytes: payload, recordBytes: 6 + payload, now: 0) { "\($0)" }
        }
        put(55)
        for _ in 1...5 { put(1) }
        #expect(partition.count == 3 && partition.totalRecordBytes == 21 && partition.totalBytes == 3)
        var refusing = Partition(epoch: "e", limits: StreamLimits(maxBytes: 80, discard: .new, recordOverhead: 30))
        #expect(refusing.append(subject: "s", bytes: 4, recordBytes: 5, now: 0) { "\($0)" } == .appended(offset: 1))
        #expect(refusing.append(subject: "s", bytes: 4, recordBytes: 5, now: 0) { "\($0)" } == .appended(offset: 2))
        // Payload bytes (12) would fit; records (3 × 35) do not.
        #expect(refusing.append(subject: "s", bytes: 4, recordBytes: 5, now: 0) { "\($0)" } == .refused(.maxBytes))
    }

    @Test func discardNewRefusesWhenFull() {
        var partition = Partition(epoch: "e", limits: StreamLimits(maxMessages: 2, maxBytes: 5, discard: .new))
        #expect(append(&partition, "s", "a") == .appended(offset: 1))
        #expect(append(&partition, "s", "b") == .appended(offset: 2))
        #expect(append(&partition, "s", "c") == .refused(.maxMessages))
        var bytes = Partition(epoch: "e", limits: StreamLimits(maxBytes: 5, discard: .new))
        #expect(append(&bytes, "s", "abcd") == .appended(offset: 1))
        #expect(append(&bytes, "s", "ef") == .refused(.maxBytes))
        #expect(bytes.lastOffset == 1)  // a refusal assigns no offset
    }

    @Test func discardNewPerSubjectRefusesAFullSubject() {
        var partition = Partition(
            epoch: "e", limits: StreamLimits(maxMessages: 3, maxMessagesPerSubject: 2, discard: .newPerSubject))
        #expect(append(&partition, "a", "1") == .appended(offset: 1))
        #expect(append(&partition, "a", "2") == .appended(offset: 2))
        #expect(append(&partition, "a", "3") == .refused(.maxMessagesPerSubject))
        #expect(append(&partition, "b", "1") == .appended(offset: 3))
        // The stream's own bound still refuses as `new` does (no subject's oldest makes room).
        #expect(append(&partition, "c", "1") == .refused(.maxMessages))
        #expect(partition.read(from: 0).map(\.offset) == [1, 2, 3])
    }

    @Test func aSealedPartitionTakesAndDropsNothing() {
        var partition = Partition(epoch: "e", limits: StreamLimits(maxAgeNanoseconds: second))
        #expect(append(&partition, "s", "a", at: 0) == .appended(offset: 1))
        partition.update(limits: StreamLimits(maxAgeNanoseconds: second, sealed: true), now: 0)
        #expect(append(&partition, "s", "b", at: 5 * second) == .refused(.sealed))
        partition.trim(now: 10 * second)
        #expect(partition.read(from: 0).map(\.offset) == [1])  // past max_age, and kept
    }

    @Test func messageSizeIsCheckedFirst() {
        var partition = Partition(epoch: "e", limits: StreamLimits(maxMessageSize: 3))
        #expect(append(&partition, "s", "abcd") == .refused(.messageTooLarge))
        #expect(append(&partition, "s", "abc") == .appended(offset: 1))
    }

    @Test func perSubjectLimitDropsThatSubjectsOldestEvenWithDiscardNew() {
        var partition = Partition(
            epoch: "e", limits: StreamLimits(maxMessages: 10, maxMessagesPerSubject: 1, discard: .new))
        _ = append(&partition, "kv.a", "1")
        _ = append(&partition, "kv.b", "1")
        #expect(append(&partition, "kv.a", "2") == .appended(offset: 3))
        #expect(partition.read(from: 0).map(\.offset) == [2, 3])
        #expect(partition.last(subject: "kv.a")?.element == "3:2")
        #expect(partition.subjectCounts == ["kv.a": 1, "kv.b": 1])
    }

    @Test func duplicatesWithinTheWindowAreDroppedAndRememberTheFirstOffset() {
        var partition = Partition(epoch: "e", limits: StreamLimits(duplicateWindowNanoseconds: 2 * second))
        #expect(append(&partition, "s", "a", at: 0, id: "m1") == .appended(offset: 1))
        #expect(append(&partition, "s", "a", at: second, id: "m1") == .duplicate(offset: 1))
        #expect(append(&partition, "s", "b", at: second, id: "m2") == .appended(offset: 2))
        #expect(append(&partition, "s", "a", at: 2 * second, id: "m1") == .appended(offset: 3))  // window passed
        var off = Partition(epoch: "e", limits: StreamLimits())
        _ = append(&off, "s", "a", id: "m1")
        #expect(append(&off, "s", "a", id: "m1") == .appended(offset: 2))  // no window: no deduplication
    }

    @Test func ageRetentionOnAppendAndOnTrim() {
        var partition = Partition(epoch: "e", limits: StreamLimits(maxAgeNanoseconds: 10 * second))
        _ = append(&partition, "s", "old", at: 0)
        _ = append(&partition, "s", "new", at: 5 * second)
        partition.trim(now: 10 * second)
        #expect(partition.count == 2)  // exactly 10 s old is still kept
        partition.trim(now: 11 * second)
        #expect(partition.read(from: 0).map(\.offset) == [2])
        _ = append(&partition, "s", "later", at: 20 * second)
        #expect(partition.read(from: 0).map(\.offset) == [3])
    }

    @Test func deletesLeaveHolesThatReadsSkip() {
        var partition = Partition(epoch: "e", limits: StreamLimits())
        for text in ["a", "b", "c", "d"] { _ = append(&partition, "s", text) }
        let result2 = partition.delete(offset: 2)
        #expect(result2)
        let again = partition.delete(offset: 2)
        let unknown = partition.delete(offset: 9)
        #expect(!again && !unknown)
        #expect(partition.entry(at: 2) == nil)
        #expect(partition.read(from: 1).map(\.offset) == [1, 3, 4])
        #expect(partition.read(from: 2, limit: 1).map(\.offset) == [3])
        let result3 = partition.delete(offset: 1)
        #expect(result3)
        #expect(partition.firstOffset == 3 && partition.count == 2)
    }

    @Test func readsStopAtTheByteBudgetButAlwaysReturnOne() {
        var partition = Partition(epoch: "e", limits: StreamLimits())
        for text in ["aaaa", "bbbb", "cccc"] { _ = append(&partition, "s", text) }
        #expect(partition.read(from: 1, maxBytes: 9).map(\.offset) == [1, 2])
        #expect(partition.read(from: 1, maxBytes: 1).map(\.offset) == [1])
        #expect(partition.read(from: 4).isEmpty)
    }

    @Test func offsetForTimeFindsTheFirstMessageAtOrAfter() {
        var partition = Partition(epoch: "e", limits: StreamLimits())
        for (index, time) in [0, 10, 20, 30].enumerated() { _ = append(&partition, "s", "\(index)", at: UInt64(time)) }
        #expect(partition.offset(atOrAfter: 0) == 1)
        #expect(partition.offset(atOrAfter: 11) == 3)
        #expect(partition.offset(atOrAfter: 30) == 4)
        #expect(partition.offset(atOrAfter: 31) == nil)
        partition.delete(offset: 3)
        #expect(partition.offset(atOrAfter: 11) == 4)  // a hole moves the answer forward
        // A clock that goes back does not reorder the partition.
        _ = append(&partition, "s", "late", at: 5)
        #expect(partition.entry(at: 5)?.time == 30)
    }

    @Test func purgeBySubjectOffsetAndKeep() {
        var partition = Partition(epoch: "e", limits: StreamLimits())
        for subject in ["a", "b", "a", "b", "a"] { _ = append(&partition, subject, subject) }
        let result4 = partition.purge(subject: { $0 == "a" }, keep: 1)
        #expect(result4 == 2)
        #expect(partition.read(from: 0).map(\.offset) == [2, 4, 5])
        let result5 = partition.purge(before: 4)
        #expect(result5 == 1)
        #expect(partition.read(from: 0).map(\.offset) == [4, 5])
        let result6 = partition.purge(keep: 5)
        #expect(result6 == 0)
        #expect(partition.lastOffset == 5)
    }

    @Test func tighterLimitsApplyAtOnce() {
        var partition = Partition(epoch: "e", limits: StreamLimits())
        for text in ["a", "b", "c"] { _ = append(&partition, "s", text) }
        partition.update(limits: StreamLimits(maxMessages: 1), now: 0)
        #expect(partition.read(from: 0).map(\.offset) == [3])
    }

    /// The memory tail: the oldest elements go past a bound of record bytes, never at or after the end
    /// given; their index entries stay, so the limits, deletes and reads by subject see every message.
    @Test func evictionKeepsTheIndexAndTheNewestElements() {
        var partition = Partition(epoch: "e", limits: StreamLimits(maxMessagesPerSubject: 2))
        for (index, subject) in ["a", "b", "a", "c", "c"].enumerated() {
            partition.append(subject: subject, bytes: 1, recordBytes: 10, now: UInt64(index)) { "\($0)" }
        }
        #expect(partition.tailBytes == 50 && partition.tailStart <= 1)
        let evicted = partition.evict(over: 25, before: 5)
        #expect(evicted)
        #expect(partition.tailStart == 4 && partition.tailBytes == 20)
        #expect(partition.read(from: 0).map(\.element) == [nil, nil, nil, "4", "5"])
        // Never at or after `end`: offset 4 stays whatever the bound.
        partition.evict(over: 0, before: 4)
        #expect(partition.tailStart == 4 && partition.entry(at: 4)?.element == "4")
        // The index alone still drives the limits: a third "a" drops the first, evicted, one.
        partition.append(subject: "a", bytes: 1, recordBytes: 10, now: 9) { "\($0)" }
        #expect(partition.read(from: 0).map(\.offset) == [2, 3, 4, 5, 6] && partition.count == 5)
        #expect(partition.tailBytes == 30 && partition.last(subject: "a")?.element == "6")
        partition.delete(offset: 5)
        partition.purge(subject: { $0 == "b" })
        #expect(partition.tailBytes == 20 && partition.totalRecordBytes == 30)
        #expect(partition.read(from: 0).map(\.element) == [nil, "4", "6"])
    }

    /// A restore that gives back index entries alone: they and every older element go, so the elements
    /// kept are always the newest; the limits replay as with elements.
    @Test func resumingWithoutElementsKeepsTheIndex() {
        var partition = Partition(epoch: "e", limits: StreamLimits(maxMessages: 3))
        partition.resume(at: 2, subject: "a", bytes: 1, recordBytes: 5, time: 1) { "\($0)" }
        partition.resume(at: 3, subject: "a", bytes: 1, recordBytes: 5, time: 2) { _ in nil }
        #expect(partition.tailStart == 4 && partition.tailBytes == 0)
        #expect(partition.read(from: 0).map(\.element) == [nil, nil])
        for offset in UInt64(5)...6 {
            partition.resume(at: offset, subject: "b", bytes: 1, recordBytes: 5, time: offset) { "\($0)" }
        }
        #expect(partition.read(from: 0).map(\.offset) == [3, 5, 6] && partition.tailBytes == 10)
        #expect(partition.read(from: 0).map(\.element) == [nil, "5", "6"])
    }
}

/// The index's slots are kept in chunks of 1,024 (`StreamPartitionSlots`): a partition growing, shrinking
/// from the front and leaving holes across chunk boundaries reads exactly what a plain list would.
@Suite struct StreamPartitionChunkTests {
    @Test func theIndexSpansChunksAsItGrowsAndShrinks() {
        var partition = StreamPartition<Int>(epoch: "e", limits: StreamLimits(maxMessages: 2_500))
        var expected: [UInt64] = []
        for offset in 1...6_000 as ClosedRange<UInt64> {
            let appended = partition.append(subject: "s", bytes: 1, now: 0) { Int($0) }
            #expect(appended == .appended(offset: offset))
            expected.append(offset)
            if offset % 7 == 0 {
                // A hole a few records back, in whichever chunk it falls.
                let hole = offset - 3
                let deleted = partition.delete(offset: hole)
                #expect(deleted)
                expected.removeAll { $0 == hole }
            }
            if expected.count > 2_500 { expected.removeFirst(expected.count - 2_500) }
        }
        #expect(partition.count == 2_500)
        #expect(partition.read(from: 0).map(\.offset) == expected)
        #expect(partition.read(from: 0).allSatisfy { $0.element == Int($0.offset) })
        #expect(partition.firstOffset == expected[0])
        #expect(partition.entry(at: 5_000)?.element == 5_000 && partition.entry(at: 5_002) == nil)
        // Evicting crosses chunks too; the index stays.
        partition.evict(over: 100, before: partition.lastOffset + 1)
        #expect(partition.read(from: 0).filter { $0.element != nil }.count == 100)
        #expect(partition.read(from: 0).map(\.offset) == expected)
        // Purged down to a few, then grown again past a chunk: offsets go on.
        partition.purge(before: 5_990)
        #expect(partition.read(from: 0).map(\.offset) == expected.filter { $0 >= 5_990 })
        for offset in 6_001...7_100 as ClosedRange<UInt64> {
            let appended = partition.append(subject: "s", bytes: 1, now: 0) { Int($0) }
            #expect(appended == .appended(offset: offset))
        }
        #expect(partition.read(from: 7_000, limit: 3).map(\.offset) == [7_000, 7_001, 7_002])
        partition.purge()
        #expect(partition.count == 0 && partition.firstOffset == 7_101 && partition.read(from: 0).isEmpty)
        let last = partition.append(subject: "s", bytes: 1, now: 0) { Int($0) }
        #expect(last == .appended(offset: 7_101))
        #expect(partition.read(from: 0).map(\.offset) == [7_101])
    }
}

/// Random appends, deletes, purges, limit changes and evictions: the bytes of the elements kept always
/// agree with the entries that still have theirs, and those are exactly the ones from `tailStart` on.
@Suite struct StreamPartitionEvictionTests {
    @Test(arguments: [1, 2, 3, 4] as [UInt64])
    func theTailAccountsForWhatItKeeps(seed: UInt64) {
        var random = SplitMix(state: seed)
        let subjects = ["a", "b", "c"]
        var limits = StreamLimits(maxMessages: 30, maxAgeNanoseconds: 2_000, maxMessagesPerSubject: 12)
        var partition = StreamPartition<Int>(epoch: "e", limits: limits)
        var now: UInt64 = 0
        for step in 0..<2_000 {
            now += UInt64.random(in: 0...5, using: &random)
            let choice = Int.random(in: 0..<20, using: &random)
            if choice < 3 {
                randomMaintenance(
                    choice, of: &partition, limits: &limits, maxMessages: 1...40, subjects: subjects, now: now,
                    random: &random)
            } else if choice < 5 {
                let end = partition.lastOffset + 1 - UInt64.random(in: 0...min(3, partition.lastOffset), using: &random)
                partition.evict(over: Int.random(in: 0...200, using: &random), before: end)
            } else {
                partition.append(
                    subject: subjects.randomElement(using: &random)!, bytes: 1,
                    recordBytes: Int.random(in: 1...30, using: &random), now: now
                ) { Int($0) }
            }
            let kept = partition.read(from: 0)
            #expect(kept.count == partition.count, "step \(step)")
            #expect(
                kept.allSatisfy { ($0.element != nil) == ($0.offset >= partition.tailStart) }, "step \(step)")
            #expect(kept.allSatisfy { entry in entry.element.map { $0 == Int(entry.offset) } ?? true }, "step \(step)")
            #expect(
                kept.filter { $0.element != nil }.map(\.recordBytes).reduce(0, +) == partition.tailBytes,
                "step \(step)")
        }
    }
}

/// Random appends, deletes, purges and limit changes: the partition's own counts always agree with what
/// it returns, offsets only grow, and every bound holds after every step.
@Suite struct StreamPartitionInvariantTests {
    @Test(arguments: [1, 2, 3, 4, 5, 6, 7, 8] as [UInt64])
    func boundsAndCountsHoldWhateverTheSequence(seed: UInt64) {
        var random = SplitMix(state: seed)
        let subjects = ["a", "b", "c", "d"]
        var limits = StreamLimits(
            maxMessages: 20, maxBytes: 200, maxAgeNanoseconds: 1_000, maxMessageSize: 40, maxMessagesPerSubject: 8,
            discard: seed % 2 == 0 ? .old : .new, duplicateWindowNanoseconds: 50)
        var partition = StreamPartition<Int>(epoch: "e", limits: limits)
        var now: UInt64 = 0
        var lastAppended: UInt64 = 0
        for step in 0..<2_000 {
            now += UInt64.random(in: 0...5, using: &random)
            let choice = Int.random(in: 0..<20, using: &random)
            if choice < 3 {
                randomMaintenance(
                    choice, of: &partition, limits: &limits, maxMessages: 1...30, subjects: subjects, now: now,
                    random: &random)
            } else {
                let id = Bool.random(using: &random) ? "m\(Int.random(in: 0..<30, using: &random))" : nil
                let result = partition.append(
                    subject: subjects.randomElement(using: &random)!, bytes: Int.random(in: 0...45, using: &random),
                    now: now, messageID: id
                ) { Int($0) }
                if case .appended(let offset) = result {
                    #expect(offset > lastAppended, "step \(step)")
                    lastAppended = offset
                }
            }
            partition.trim(now: now)  // as the housekeeping does between appends
            let kept = partition.read(from: 0)
            #expect(kept.count == partition.count, "step \(step)")
            #expect(kept.map(\.bytes).reduce(0, +) == partition.totalBytes, "step \(step)")
            #expect(zip(kept, kept.dropFirst()).allSatisfy { $0.offset < $1.offset }, "step \(step)")
            #expect(kept.allSatisfy { $0.element == Int($0.offset) && $0.bytes <= 40 }, "step \(step)")
            #expect(partition.count <= limits.maxMessages! && partition.totalBytes <= 200, "step \(step)")
            #expect(partition.subjectCounts.values.allSatisfy { $0 <= 8 }, "step \(step)")
            #expect(kept.allSatisfy { now - $0.time <= 1_000 }, "step \(step)")
            #expect(partition.firstOffset == (kept.first?.offset ?? partition.lastOffset + 1), "step \(step)")
        }
    }
}

/// One of the random sequences' maintenance steps (`choice` 0, 1 or 2): a delete of any offset (kept,
/// gone or past the end), a purge of one subject keeping a few, or a new message-count limit.
private func randomMaintenance(
    _ choice: Int, of partition: inout StreamPartition<Int>, limits: inout StreamLimits,
    maxMessages: ClosedRange<Int>, subjects: [String], now: UInt64, random: inout SplitMix
) {
    switch choice {
    case 0:
        partition.delete(offset: UInt64.random(in: 0...partition.lastOffset + 1, using: &random))
    case 1:
        let subject = subjects.randomElement(using: &random)!
        partition.purge(subject: { $0 == subject }, keep: Int.random(in: 0...3, using: &random))
    default:
        limits.maxMessages = Int.random(in: maxMessages, using: &random)
        partition.update(limits: limits, now: now)
    }
}

/// The per-subject index is built only when something needs it (a per-subject limit, or
/// `indexSubjects()` before reads by subject); until then reads by subject scan. Random appends,
/// deletes, purges, limit changes and trims, fed to a partition that indexes from its first step and to
/// one that indexes half-way: both answer every read by subject as the kept messages say.
@Suite struct StreamPartitionSubjectIndexTests {
    @Test(arguments: [1, 2, 3, 4] as [UInt64])
    func readsBySubjectAgreeIndexedOrNot(seed: UInt64) {
        var random = SplitMix(state: seed)
        let subjects = ["a", "b", "c", "d", "e"]
        var limits = StreamLimits(maxMessages: 25, maxAgeNanoseconds: 3_000)
        var indexed = StreamPartition<Int>(epoch: "e", limits: limits)
        indexed.indexSubjects()
        var late = StreamPartition<Int>(epoch: "e", limits: limits)
        var now: UInt64 = 0
        for step in 0..<1_500 {
            now += UInt64.random(in: 0...5, using: &random)
            let choice = Int.random(in: 0..<20, using: &random)
            if choice < 3 {
                // The same maintenance on both: the draws are replayed from a copy of the generator.
                var replay = random
                var lateLimits = limits
                randomMaintenance(
                    choice, of: &indexed, limits: &limits, maxMessages: 5...30, subjects: subjects, now: now,
                    random: &random)
                randomMaintenance(
                    choice, of: &late, limits: &lateLimits, maxMessages: 5...30, subjects: subjects, now: now,
                    random: &replay)
            } else {
                let subject = subjects.randomElement(using: &random)!
                indexed.append(subject: subject, bytes: 1, now: now) { Int($0) }
                late.append(subject: subject, bytes: 1, now: now) { Int($0) }
            }
            if step == 700 { late.indexSubjects() }
            let kept = indexed.read(from: 0)
            #expect(late.read(from: 0).map(\.offset) == kept.map(\.offset), "step \(step)")
            var counts: [String: Int] = [:]
            for entry in kept { counts[entry.subject, default: 0] += 1 }
            for partition in [indexed, late] {
                #expect(partition.subjectCounts == counts, "step \(step)")
                for subject in subjects {
                    let offsets = kept.filter { $0.subject == subject }.map(\.offset)
                    #expect(partition.oldestOffset(subject: subject) == offsets.first, "step \(step)")
                    #expect(partition.last(subject: subject)?.offset == offsets.last, "step \(step)")
                }
            }
        }
    }

    /// A per-subject limit set on a partition that had no index builds it from what is kept, and applies.
    @Test func aPerSubjectLimitAddedLaterIndexesWhatIsKept() {
        var partition = StreamPartition<Int>(epoch: "e", limits: StreamLimits())
        for (index, subject) in ["a", "b", "a", "a", "b"].enumerated() {
            partition.append(subject: subject, bytes: 1, now: UInt64(index)) { Int($0) }
        }
        partition.update(limits: StreamLimits(maxMessagesPerSubject: 1), now: 5)
        #expect(partition.read(from: 0).map(\.offset) == [4, 5])
        partition.append(subject: "a", bytes: 1, now: 6) { Int($0) }
        #expect(partition.read(from: 0).map(\.offset) == [5, 6])
        #expect(partition.subjectCounts == ["a": 1, "b": 1] && partition.last(subject: "a")?.offset == 6)
    }
}
