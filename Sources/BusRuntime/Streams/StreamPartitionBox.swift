package import BusCore
import DequeModule
import Dispatch
import NIOConcurrencyHelpers
package import NIOCore
package import Storage

/// One stream partition behind its own lock: appends come from any loop, reads from any loop. A `file`
/// stream's appends are in the partition at once (the offset is assigned, the limits applied) but not
/// readable until stored: readers stop before the oldest unstored offset (Kafka's high watermark), so no
/// reader sees a record that a crash could take back. A failed store deletes the record (its offset
/// stays a hole).
///
/// A `file` stream keeps every record's index entry in memory but the bodies (the records themselves)
/// only of its newest records, up to its memory tail's record bytes (`StreamConfiguration.memoryTail`;
/// records not yet stored always stay): a read below the tail gets the bodies from the store
/// (`read(from:limit:maxBytes:now:on:)`, completed from the store's reader thread), a read within it
/// answers at once, as every live reader's does (docs/storage.md, "Memory: the index and the tail").
package final class StreamPartitionBox: Sendable {
    package let stream: String
    package let index: Int
    /// Internal for `StreamPartitionBox+Sharing` only.
    let state: NIOLockedValueBox<State>
    /// Where the bodies below the tail are read from (nil: no store, every body stays).
    private let store: (any Store)?
    /// Called (outside the lock) when an append was refused because another instance sharing the store
    /// writes this partition: the registry claims it (`StreamRegistry+Sharing`). nil: never refused so.
    let writtenElsewhere: (@Sendable (StreamPartitionBox) -> Void)?

    struct State: @unchecked Sendable {  // only touched under the lock
        var partition: StreamPartition<StreamRecord>
        /// Most record bytes of bodies kept (the newest records'); nil: every body stays.
        var memoryTail: Int?
        /// Offsets appended and not yet stored, ascending.
        var unstored = Deque<UInt64>()
        var appends: UInt64 = 0
        /// Readers waiting for a record at or after an offset (long polls), by id.
        var waiters: [UInt64: Waiter] = [:]
        var nextWaiter: UInt64 = 0
        /// Whether this instance may append: always, unless several instances share the store and another
        /// may hold this partition's writer claim (docs/storage.md, "Several instances").
        var writable = true

        /// Removes and returns the waiters the readable records now answer.
        mutating func readyWaiters() -> [Waiter] {
            guard !waiters.isEmpty else { return [] }
            let end = readableEnd
            let ready = waiters.filter { $0.value.offset < end }
            for id in ready.keys { waiters[id] = nil }
            return Array(ready.values)
        }

        /// Readers see offsets below this.
        var readableEnd: UInt64 { unstored.first ?? partition.lastOffset + 1 }

        /// Lets the oldest stored bodies go past the tail's bound. Records not yet stored stay, and so does
        /// the newest readable one (a publish's expectations read it: `StreamRegistry.newest`).
        mutating func evict() {
            guard let bound = memoryTail, partition.tailBytes > bound else { return }
            partition.evict(over: bound, before: readableEnd - 1)
        }
    }

    /// A reader waiting for a record at or after `offset`.
    struct Waiter {
        let offset: UInt64
        let promise: EventLoopPromise<Bool>
    }

    /// `memoryTail`: most record bytes of bodies kept in memory, the newest records' (nil: every body);
    /// `store` is where the others are read from (without one, every body stays).
    init(
        stream: String, index: Int, partition: StreamPartition<StreamRecord>, memoryTail: Int? = nil,
        store: (any Store)? = nil, writtenElsewhere: (@Sendable (StreamPartitionBox) -> Void)? = nil
    ) {
        self.stream = stream
        self.index = index
        self.store = store
        self.writtenElsewhere = writtenElsewhere
        var state = State(partition: partition, memoryTail: store == nil ? nil : memoryTail)
        // Shared: appends wait for this instance to claim the partition.
        state.writable = writtenElsewhere == nil
        state.evict()
        self.state = NIOLockedValueBox(state)
    }

    /// A new bound for the bodies kept (a stream update); the bodies past it go at once.
    func setMemoryTail(_ bytes: Int?) {
        guard store != nil else { return }
        state.withLockedValue { state in
            state.memoryTail = bytes
            state.evict()
        }
    }

    /// What an append did: the outcome, and the epoch it happened in.
    struct Appended {
        var result: StreamPartition<StreamRecord>.AppendResult
        var epoch: String
        /// The partition's oldest kept offset after the append (the store drops rows below it).
        var firstOffset: UInt64
        /// Offsets above `firstOffset` the append removed: the subject's oldest, past its per-subject limit.
        var dropped: [UInt64] = []
    }

    /// Appends `record` at `now`; `awaitsStore`: the record stays unreadable until `stored(offset:)`.
    /// A message's size as a stored record, as nats-server's file store counts one before its fixed
    /// overhead: its subject, its headers as a NATS header block (`NATS/1.0` and a line per field,
    /// `Content-Type` included) with their 4-byte length, and its payload.
    package static func recordBytes(of message: BusMessage) -> Int { message.streamRecordBytes }

    /// `offset`: the record's own offset (`StreamPlacement.offset`), not the next one; at or below the
    /// newest it is a duplicate of what is there.
    func append(_ record: StreamRecord, messageID: String?, now: UInt64, awaitsStore: Bool, offset: UInt64? = nil)
        -> Appended
    {
        var ready: [Waiter] = []
        defer { for waiter in ready { waiter.promise.succeed(true) } }
        let appended = state.withLockedValue { state in
            let appended = Self.append(
                record, messageID: messageID, now: now, awaitsStore: awaitsStore, offset: offset, to: &state)
            if !awaitsStore, case .appended = appended.result { ready = state.readyWaiters() }
            state.evict()
            return appended
        }
        if case .refused(.writtenElsewhere) = appended.result { writtenElsewhere?(self) }
        return appended
    }

    /// One record of a batch append (`append(batch:awaitsStore:_:)`).
    struct BatchRecord {
        var record: StreamRecord
        var messageID: String?
        var now: UInt64
        var offset: UInt64?
    }

    /// Appends `records` in order under one lock, each exactly as `append(_:messageID:now:awaitsStore:offset:)`
    /// would one after another (same offsets, limits, duplicate window and refusals); `result` gets each
    /// record's index and outcome as it goes. Returns the oldest kept offset after the last appended record
    /// and the offsets the per-subject limit removed (what the single appends' `firstOffset` and `dropped`
    /// give the store). A Kafka
    /// REST produce of hundreds of records takes one lock and one pass here instead of one of each per record.
    func append(
        batch records: [BatchRecord], awaitsStore: Bool,
        _ result: (Int, StreamPartition<StreamRecord>.AppendResult, _ epoch: String) -> Void
    ) -> (firstOffset: UInt64, dropped: [UInt64]) {
        var ready: [Waiter] = []
        defer { for waiter in ready { waiter.promise.succeed(true) } }
        var refusedHere = false
        defer { if refusedHere { writtenElsewhere?(self) } }
        return state.withLockedValue { state in
            refusedHere = !state.writable
            var dropped: [UInt64] = []
            var firstOffset = state.partition.firstOffset
            var anyAppended = false
            for (index, item) in records.enumerated() {
                let appended = Self.append(
                    item.record, messageID: item.messageID, now: item.now, awaitsStore: awaitsStore,
                    offset: item.offset, to: &state)
                if case .appended = appended.result {
                    // As the single appends' writes: only an appended record's trim and drops reach the store.
                    anyAppended = true
                    firstOffset = appended.firstOffset
                    dropped += appended.dropped
                }
                result(index, appended.result, appended.epoch)
            }
            if !awaitsStore && anyAppended { ready = state.readyWaiters() }
            state.evict()
            return (firstOffset, dropped)
        }
    }

    /// The append itself, under the lock (waiters are the caller's to wake).
    private static func append(
        _ record: StreamRecord, messageID: String?, now: UInt64, awaitsStore: Bool, offset: UInt64?,
        to state: inout State
    ) -> Appended {
        guard state.writable else {
            return Appended(
                result: .refused(.writtenElsewhere), epoch: state.partition.epoch,
                firstOffset: state.partition.firstOffset)
        }
        let bytes = record.message.payload.readableBytes
        let subject = record.message.topic.name
        if let offset {
            guard offset > state.partition.lastOffset else {
                return Appended(
                    result: .duplicate(offset: offset), epoch: state.partition.epoch,
                    firstOffset: state.partition.firstOffset)
            }
            state.partition.resumeLastOffset(offset - 1)
        }
        // A per-subject limit removes that subject's oldest record from the middle of the partition:
        // the store must remove it too (KV-like streams keep one per subject and would grow forever).
        let oldest =
            state.partition.limits.maxMessagesPerSubject == nil
            ? nil : state.partition.oldestOffset(subject: subject)
        let result = state.partition.append(
            subject: subject, bytes: bytes, recordBytes: Self.recordBytes(of: record.message), now: now,
            messageID: messageID
        ) { _ in record }
        if case .appended(let offset) = result {
            state.appends += 1
            if awaitsStore { state.unstored.append(offset) }
        }
        var appended = Appended(
            result: result, epoch: state.partition.epoch, firstOffset: state.partition.firstOffset)
        if let oldest, oldest >= appended.firstOffset, state.partition.entry(at: oldest) == nil {
            appended.dropped = [oldest]
        }
        return appended
    }

    /// The record at `offset` is stored (readable once every older one is).
    func stored(offset: UInt64) {
        let ready = state.withLockedValue { state in
            Self.remove(offset, from: &state.unstored)
            state.evict()
            return state.readyWaiters()
        }
        for waiter in ready { waiter.promise.succeed(true) }
    }

    /// The records at `offsets` are stored (one lock for a batch append's records).
    func stored(offsets: [UInt64]) {
        let ready = state.withLockedValue { state in
            for offset in offsets { Self.remove(offset, from: &state.unstored) }
            state.evict()
            return state.readyWaiters()
        }
        for waiter in ready { waiter.promise.succeed(true) }
    }

    /// The records at `offsets` could not be stored: they go, leaving holes (one lock for a batch).
    func failed(offsets: [UInt64]) {
        let ready = state.withLockedValue { state in
            for offset in offsets {
                Self.remove(offset, from: &state.unstored)
                state.partition.delete(offset: offset)
            }
            state.evict()
            return state.readyWaiters()
        }
        for waiter in ready { waiter.promise.succeed(true) }
    }

    /// Completes with true once a record at or after `offset` is readable (at once when one is), or with
    /// false after `timeout` — a long poll (Kafka REST `GET records`, JetStream pull requests) without
    /// polling. On `loop`.
    package func waitForRecords(from offset: UInt64, timeout: TimeAmount, on loop: any EventLoop) -> EventLoopFuture<
        Bool
    > {
        let promise = loop.makePromise(of: Bool.self)
        let id: UInt64? = state.withLockedValue { state in
            guard offset >= state.readableEnd else { return nil }
            state.nextWaiter += 1
            state.waiters[state.nextWaiter] = Waiter(offset: offset, promise: promise)
            return state.nextWaiter
        }
        guard let id else {
            promise.succeed(true)
            return promise.futureResult
        }
        let timer = loop.scheduleTask(in: timeout) {
            let expired = self.state.withLockedValue { $0.waiters.removeValue(forKey: id) }
            expired?.promise.succeed(false)
        }
        promise.futureResult.whenComplete { _ in timer.cancel() }
        return promise.futureResult
    }

    /// The record at `offset` could not be stored: it goes, leaving a hole.
    func failed(offset: UInt64) {
        // Newer records stored meanwhile become readable once this one is out of the way.
        let ready = state.withLockedValue { state in
            Self.remove(offset, from: &state.unstored)
            state.partition.delete(offset: offset)
            state.evict()
            return state.readyWaiters()
        }
        for waiter in ready { waiter.promise.succeed(true) }
    }

    private static func remove(_ offset: UInt64, from unstored: inout Deque<UInt64>) {
        // Stores commit in submission order, so the oldest is nearly always the one stored.
        if unstored.first == offset {
            unstored.removeFirst()
        } else if let position = unstored.firstIndex(of: offset) {
            unstored.remove(at: position)
        }
    }

    package var info: StreamPartitionInfo {
        state.withLockedValue { Self.info(index, $0) }
    }

    private static func info(_ index: Int, _ state: State) -> StreamPartitionInfo {
        StreamPartitionInfo(
            partition: index, epoch: state.partition.epoch,
            firstOffset: min(state.partition.firstOffset, state.readableEnd), lastOffset: state.readableEnd - 1,
            messages: state.partition.count, bytes: state.partition.totalBytes,
            recordBytes: state.partition.totalRecordBytes, appends: state.appends,
            memoryBytes: state.partition.tailBytes)
    }

    /// Up to `limit` records from `offset` on, within `maxBytes` (the first always, so a large record
    /// cannot stall a reader), stopping before any unstored one — when their bodies are all in memory
    /// (the tail: every live reader's case); nil when some must be read from the store (`read(…on:)`).
    package func readNow(from offset: UInt64, limit: Int, maxBytes: Int, now: UInt64) -> StreamReadResult? {
        state.withLockedValue { state in
            state.partition.trim(now: now)
            if offset >= state.partition.tailStart { return Self.readKept(index, offset, limit, maxBytes, state) }
            // From below the tail's start: in memory only when no entry read lost its body.
            let planned = plan(offset, limit, maxBytes, state)
            return planned.missing.isEmpty ? planned.result : nil
        }
    }

    /// The same read, completed on `loop`: at once when the bodies are in memory, else once the store has
    /// read the ones below the tail (on its reader thread; never blocking a loop). A record deleted while
    /// the store read is left out.
    package func read(from offset: UInt64, limit: Int, maxBytes: Int, now: UInt64, on loop: any EventLoop)
        -> EventLoopFuture<StreamReadResult>
    {
        let planned = state.withLockedValue { state -> Planned in
            state.partition.trim(now: now)
            if offset >= state.partition.tailStart {
                return Planned(result: Self.readKept(index, offset, limit, maxBytes, state))
            }
            return plan(offset, limit, maxBytes, state)
        }
        guard !planned.missing.isEmpty, let store else { return loop.makeSucceededFuture(planned.result) }
        let promise = loop.makePromise(of: StreamReadResult.self)
        store.readStream(stream, partition: index, offsets: planned.missing) { result in
            switch result {
            case .success(let messages): promise.succeed(planned.filled(with: messages))
            case .failure(let error): promise.fail(BusError.notRead("\(error)"))
            }
        }
        return promise.futureResult
    }

    /// The same read, waiting for the store when it must (tests, start-up: never on an event loop).
    package func readWaiting(from offset: UInt64, limit: Int, maxBytes: Int, now: UInt64) throws(BusError)
        -> StreamReadResult
    {
        let planned = state.withLockedValue { state -> Planned in
            state.partition.trim(now: now)
            return plan(offset, limit, maxBytes, state)
        }
        guard !planned.missing.isEmpty, let store else { return planned.result }
        let done = DispatchSemaphore(value: 0)
        let outcome = NIOLockedValueBox<Result<[StoredStreamMessage], any Error>>(.success([]))
        store.readStream(stream, partition: index, offsets: planned.missing) { result in
            outcome.withLockedValue { $0 = result }
            done.signal()
        }
        done.wait()
        switch outcome.withLockedValue({ $0 }) {
        case .success(let messages): return planned.filled(with: messages)
        case .failure(let error): throw .notRead("\(error)")
        }
    }

    /// Up to `limit` index entries from `offset` on (offset, subject, sizes, time; no body), stopping
    /// before any unstored one: what scans by subject need (counts, interest, filters), never the store.
    package func readIndex(from offset: UInt64, limit: Int, now: UInt64) -> StreamIndexResult {
        state.withLockedValue { state in
            state.partition.trim(now: now)
            let end = state.readableEnd
            var records: [StreamIndexRecord] = []
            for entry in state.partition.read(from: offset, limit: limit) {
                guard entry.offset < end else { break }
                records.append(
                    StreamIndexRecord(
                        offset: entry.offset, subject: entry.subject, time: entry.time, bytes: entry.bytes,
                        recordBytes: entry.recordBytes))
            }
            return StreamIndexResult(partition: Self.info(index, state), records: records)
        }
    }

    /// A read whose bodies are all kept (from `offset` at or after the tail's start).
    private static func readKept(_ index: Int, _ offset: UInt64, _ limit: Int, _ maxBytes: Int, _ state: State)
        -> StreamReadResult
    {
        let end = state.readableEnd
        var records: [StreamReadRecord] = []
        for entry in state.partition.read(from: offset, limit: limit, maxBytes: maxBytes) {
            guard entry.offset < end, let element = entry.element else { break }
            records.append(StreamReadRecord(partition: index, offset: entry.offset, time: entry.time, record: element))
        }
        return StreamReadResult(partition: info(index, state), records: records)
    }

    /// A read planned from the index: the records in memory, and the offsets whose bodies the store has.
    private struct Planned: @unchecked Sendable {  // handed to one completion, never shared
        var info: StreamPartitionInfo
        var partition: Int
        /// In offset order; nil records are read from the store.
        var entries: [(offset: UInt64, time: UInt64, record: StreamRecord?)] = []
        var missing: [UInt64] = []
        private var kept: StreamReadResult?

        init(result: StreamReadResult) {
            self.info = result.partition
            self.partition = result.partition.partition
            self.kept = result
        }

        init(info: StreamPartitionInfo, partition: Int) {
            self.info = info
            self.partition = partition
        }

        mutating func add(offset: UInt64, time: UInt64, record: StreamRecord?) {
            entries.append((offset, time, record))
            if record == nil { missing.append(offset) }
        }

        /// Every record in memory (`missing` empty).
        var result: StreamReadResult {
            if let kept { return kept }
            return filled(with: [])
        }

        /// The read with the store's records (in offset order, as `Store.readStream` gives them) in place;
        /// a record the store no longer has is left out.
        func filled(with messages: [StoredStreamMessage]) -> StreamReadResult {
            var records: [StreamReadRecord] = []
            records.reserveCapacity(entries.count)
            var next = messages.startIndex
            for entry in entries {
                let record: StreamRecord
                if let kept = entry.record {
                    record = kept
                } else {
                    // Both in offset order: the store's record for this entry, if any, is the next one.
                    while next < messages.endIndex, messages[next].offset < entry.offset { next += 1 }
                    guard next < messages.endIndex, messages[next].offset == entry.offset else { continue }
                    record = StreamRecord(message: messages[next].message, key: messages[next].key)
                }
                records.append(
                    StreamReadRecord(partition: partition, offset: entry.offset, time: entry.time, record: record))
            }
            return StreamReadResult(partition: info, records: records)
        }
    }

    /// The read's entries from the index, each with its body when kept (under the lock).
    private func plan(_ offset: UInt64, _ limit: Int, _ maxBytes: Int, _ state: State) -> Planned {
        let end = state.readableEnd
        var planned = Planned(info: Self.info(index, state), partition: index)
        for entry in state.partition.read(from: offset, limit: limit, maxBytes: maxBytes) {
            guard entry.offset < end else { break }
            planned.add(offset: entry.offset, time: entry.time, record: entry.element)
        }
        return planned
    }

    /// The newest readable record on `subject` (a topic name), from the index: JetStream's `last_by_subj`
    /// (its body is read by offset).
    package func last(subject: String) -> StreamIndexRecord? {
        state.withLockedValue { state in
            // Indexed from the first such read on, so later ones do not scan the partition.
            state.partition.indexSubjects()
            guard let entry = state.partition.last(subject: subject), entry.offset < state.readableEnd else {
                return nil
            }
            return StreamIndexRecord(
                offset: entry.offset, subject: entry.subject, time: entry.time, bytes: entry.bytes,
                recordBytes: entry.recordBytes)
        }
    }

    /// How many records each subject (topic name) has (JetStream's `subjects_filter` in stream info).
    package var subjectCounts: [String: Int] {
        state.withLockedValue { $0.partition.subjectCounts }
    }

    /// Deletes one readable record (JetStream's `STREAM.MSG.DELETE`); false when it is not kept.
    func delete(offset: UInt64) -> Bool {
        state.withLockedValue { state in
            guard offset < state.readableEnd else { return false }
            return state.partition.delete(offset: offset)
        }
    }

    /// The first readable offset appended at or after `time`; nil when every one is older.
    package func offset(atOrAfter time: UInt64) -> UInt64? {
        state.withLockedValue { state in
            guard let offset = state.partition.offset(atOrAfter: time), offset < state.readableEnd else { return nil }
            return offset
        }
    }

    /// New limits; returns the oldest kept offset after them (the store drops rows below it).
    func update(limits: StreamLimits, now: UInt64) -> UInt64 {
        state.withLockedValue { state in
            state.partition.update(limits: limits, now: now)
            return state.partition.firstOffset
        }
    }

    /// Drops what aged out; returns the oldest kept offset when something went.
    func trim(now: UInt64) -> UInt64? {
        state.withLockedValue { state in
            let before = state.partition.firstOffset
            state.partition.trim(now: now)
            let after = state.partition.firstOffset
            return after > before ? after : nil
        }
    }

    /// What a purge removed: the oldest kept offset after it, and single offsets removed above the old
    /// oldest (a purge by subject leaves holes the store must drop one by one).
    struct Purged {
        var count: Int
        var firstOffset: UInt64
        var holes: [UInt64]
    }

    /// Removes records matching `subject` (all when nil) below `before`, or all but the newest `keep`.
    func purge(subject: TopicFilter?, before: UInt64?, keep: Int?) -> Purged {
        state.withLockedValue { state in
            let matches = subject.map { filter in { (name: String) in filter.matches(Topic(trusted: name)) } }
            let kept = Set(state.partition.read(from: 0).map(\.offset))
            let count = state.partition.purge(subject: matches, before: before, keep: keep)
            let firstOffset = state.partition.firstOffset
            let remaining = Set(state.partition.read(from: 0).map(\.offset))
            let holes = subject == nil ? [] : kept.subtracting(remaining).filter { $0 >= firstOffset }.sorted()
            return Purged(count: count, firstOffset: firstOffset, holes: holes)
        }
    }
}
