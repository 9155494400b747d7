import DequeModule

/// One partition of a stream: an append-only sequence of messages, each with its offset (1, 2, … within
/// the partition's epoch, never reused), subject, size and time, bounded by `StreamLimits`; single
/// messages can be deleted (a hole the offsets keep), and the partition purged whole, by subject, up to an
/// offset or down to the newest few. Pure value: the caller supplies the clock and guards concurrent use
/// (STYLE.md habit 4). Kafka topics and JetStream streams are made of these (DESIGN.md §1, stream).
///
/// Every kept message has its index entry (offset, subject, sizes, time): the limits, the duplicate
/// window, deletes, purges and reads by offset, time or subject work from these alone. Its element (a
/// stream's record: payload, headers) is kept for the offsets from `tailStart` on; `evict(over:before:)`
/// lets the oldest elements go (a `file` stream keeps only its newest records' bodies in memory and reads
/// the older ones from the store; docs/storage.md, "Streams").
///
/// The entry points the running bus calls are `@_specialize`d for `StreamRecord`: called from another
/// module, a generic method runs unspecialized — every `Deque`, dictionary and entry copy through
/// generic metadata, ~5 % of a Kafka produce's server CPU — where the specialized body is plain code.
package struct StreamPartition<Element> {
    /// A kept message.
    package struct Entry {
        package var offset: UInt64
        package var subject: String
        /// nil once evicted (below `tailStart`): only the index entry is kept.
        package var element: Element?
        package var bytes: Int
        /// Its size as a stored record (subject, headers and payload; `recordBytes` of the append).
        package var recordBytes: Int
        /// When it was appended (ns), as the caller's clock said.
        package var time: UInt64
    }

    /// What an append did.
    package enum AppendResult: Equatable {
        /// Stored at this offset.
        case appended(offset: UInt64)
        /// The message id was seen within the duplicate window: nothing stored; the first one's offset.
        case duplicate(offset: UInt64)
        /// Refused; nothing stored.
        case refused(StreamAppendRefusal)
    }

    /// The log's identity: an offset means something only within its epoch (DESIGN.md §1, log).
    package let epoch: String
    package private(set) var limits: StreamLimits
    /// The newest offset ever assigned (0 before the first message).
    package private(set) var lastOffset: UInt64
    /// Messages kept (holes of deleted messages not counted).
    package private(set) var count = 0
    /// Payload bytes kept.
    package private(set) var totalBytes = 0
    /// The kept messages' record sizes (what JetStream reports as a stream's bytes, before its per-message
    /// overhead).
    package private(set) var totalRecordBytes = 0
    /// `entries[i]` holds offset `baseOffset + i`, or nil when that message was deleted; never starts with
    /// nil (`compact()` after every removal), which `firstOffset` relies on.
    private var entries = StreamPartitionSlots<Entry>()
    private var baseOffset: UInt64
    /// Kept offsets per subject, oldest first (per-subject limits, last-by-subject reads); nil until one of
    /// them needs it (`indexSubjects()`), kept up to date from then on. A partition whose every message has
    /// its own subject — a records feed, one topic per record — never needs it: keeping it cost a dictionary
    /// insert and delete of the subject, and a `Deque` allocated, per append.
    private var bySubject: [String: Deque<UInt64>]?
    /// Message ids within the duplicate window, with their offsets, and their arrival order for expiry.
    private var recentIDs: [String: UInt64] = [:]
    private var idOrder = Deque<(id: String, time: UInt64)>()
    /// The newest append time: times never go backwards inside a partition (time reads rely on it).
    private var lastTime: UInt64 = 0
    /// Kept messages at or after this offset have their element; those below only their index entry.
    package private(set) var tailStart: UInt64 = 0
    /// The record sizes (`recordBytes`) of the kept messages from `tailStart` on: what the elements weigh.
    package private(set) var tailBytes = 0

    /// An empty partition; `lastOffset` > 0 resumes a stored one whose messages were all removed.
    package init(epoch: String, limits: StreamLimits, lastOffset: UInt64 = 0) {
        self.epoch = epoch
        self.limits = limits
        self.lastOffset = lastOffset
        self.baseOffset = lastOffset + 1
    }

    /// The oldest offset still kept; `lastOffset + 1` when the partition is empty. Every change ends with
    /// `compact()`, so a kept message is at the front when there is one: no scan (this is read per append,
    /// and the partition's code runs unspecialized in the modules that use it, where a scan cost ~4 % of a
    /// JetStream publish).
    package var firstOffset: UInt64 {
        // `count == 0` exactly when `entries` is empty (holes never stay at the front), and a stored count
        // is all an unspecialized caller reads.
        count == 0 ? lastOffset + 1 : baseOffset
    }

    /// Subjects with at least one kept message, and how many each has.
    package var subjectCounts: [String: Int] {
        if let bySubject { return bySubject.mapValues(\.count) }
        var counts: [String: Int] = [:]
        for index in 0..<entries.count {
            if let entry = entries[index] { counts[entry.subject, default: 0] += 1 }
        }
        return counts
    }

    /// Builds the per-subject index unless it exists (it is kept from then on): before a read by subject
    /// that should not scan every kept message. The per-subject limits build it themselves.
    @_specialize(where Element == StreamRecord)
    package mutating func indexSubjects() {
        guard bySubject == nil else { return }
        var index: [String: Deque<UInt64>] = [:]
        for slot in 0..<entries.count {
            if let entry = entries[slot] { index[entry.subject, default: []].append(entry.offset) }
        }
        bySubject = index
    }

    // MARK: - Appending

    /// Appends a message of `bytes` payload bytes on `subject` at `now`; `messageID` (JetStream's
    /// `Nats-Msg-Id`) deduplicates within the window. `make` builds the element from its offset. Expired
    /// messages go first; then the limits hold after the append (or the append is refused).
    @discardableResult
    @_specialize(where Element == StreamRecord)
    package mutating func append(
        subject: String, bytes: Int, recordBytes: Int? = nil, now: UInt64, messageID: String? = nil,
        _ make: (UInt64) -> Element
    ) -> AppendResult {
        appendEntry(subject: subject, bytes: bytes, recordBytes: recordBytes, now: now, messageID: messageID) {
            make($0)
        }
    }

    private mutating func appendEntry(
        subject: String, bytes: Int, recordBytes: Int?, now: UInt64, messageID: String?,
        _ make: (UInt64) -> Element?
    ) -> AppendResult {
        let time = Swift.max(now, lastTime)
        if limits.maxMessagesPerSubject != nil { indexSubjects() }
        trim(now: time)
        if limits.sealed { return .refused(.sealed) }
        if let maximum = limits.maxMessageSize, bytes > maximum { return .refused(.messageTooLarge) }
        if let messageID, limits.duplicateWindowNanoseconds > 0, let offset = recentIDs[messageID] {
            return .duplicate(offset: offset)
        }
        if limits.discard != .old {
            if limits.discard == .newPerSubject, let maximum = limits.maxMessagesPerSubject,
                bySubject?[subject]?.count ?? 0 >= maximum
            {
                return .refused(.maxMessagesPerSubject)
            }
            // The subject's own oldest message would make room, so the per-subject bound refuses nothing.
            let freed = limits.discard == .new && subjectWouldDropOldest(subject) ? 1 : 0
            if let maximum = limits.maxMessages, count + 1 - freed > maximum { return .refused(.maxMessages) }
            if let maximum = limits.maxBytes,
                boundedBytes + measured(bytes, record: recordBytes ?? bytes)
                    - (freed == 1 ? oldestBytes(of: subject) : 0) > maximum
            {
                return .refused(.maxBytes)
            }
        }
        lastOffset += 1
        lastTime = time
        if entries.isEmpty { baseOffset = lastOffset }
        let record = recordBytes ?? bytes
        entries.append(
            Entry(
                offset: lastOffset, subject: subject, element: make(lastOffset), bytes: bytes, recordBytes: record,
                time: time))
        bySubject?[subject, default: []].append(lastOffset)
        count += 1
        totalBytes += bytes
        totalRecordBytes += record
        tailBytes += record
        if let messageID, limits.duplicateWindowNanoseconds > 0 {
            recentIDs[messageID] = lastOffset
            idOrder.append((messageID, time))
        }
        enforceLimits(newSubject: subject)
        return .appended(offset: lastOffset)
    }

    /// Puts back a message the store kept at `offset` (after `lastOffset`; the offsets between were
    /// deleted and stay holes), with its original time. Restoring replays the stored messages through
    /// this, so the limits (count, bytes, per subject) drop what they dropped before the restart. `make`
    /// may give nil: the message comes back as its index entry alone (its body stays in the store), and
    /// every older one too (`tailStart` moves past it).
    @discardableResult
    @_specialize(where Element == StreamRecord)
    package mutating func resume(
        at offset: UInt64, subject: String, bytes: Int, recordBytes: Int? = nil, time: UInt64,
        _ make: (UInt64) -> Element?
    ) -> AppendResult {
        precondition(offset > lastOffset, "stored messages are restored in offset order")
        let element = make(offset)
        if element == nil {
            // Index only: the older elements go too, so the ones kept are always the newest.
            evict(over: -1, before: offset)
        }
        if !entries.isEmpty {
            for _ in 0..<(offset - lastOffset - 1) { entries.append(nil) }
        }
        lastOffset = offset - 1
        var kept = limits
        kept.maxMessageSize = nil
        kept.discard = .old
        kept.sealed = false
        let current = limits
        limits = kept
        defer { limits = current }
        let result = appendEntry(subject: subject, bytes: bytes, recordBytes: recordBytes, now: time, messageID: nil) {
            _ in element
        }
        if element == nil, case .appended(let appended) = result {
            // Its own entry is index only as well.
            if let slot = slot(of: appended), let entry = entries[slot] { tailBytes -= entry.recordBytes }
            tailStart = Swift.max(tailStart, appended + 1)
        }
        return result
    }

    /// Moves the newest offset up to `offset` without a message (a restored partition whose newest
    /// messages were deleted: the next append still continues after the offset the store recorded).
    @_specialize(where Element == StreamRecord)
    package mutating func resumeLastOffset(_ offset: UInt64) {
        guard offset > lastOffset else { return }
        if entries.isEmpty {
            baseOffset = offset + 1
        } else {
            for _ in 0..<(offset - lastOffset) { entries.append(nil) }
        }
        lastOffset = offset
    }

    /// Lets the oldest elements go — index entries stay — while the elements kept weigh more than `bound`
    /// record bytes, never at or after offset `end` (a `file` stream's records not yet stored stay whole).
    /// Returns whether anything went. Reads then give those entries without their element. A negative
    /// `bound` lets every element below `end` go.
    @discardableResult
    @_specialize(where Element == StreamRecord)
    package mutating func evict(over bound: Int, before end: UInt64) -> Bool {
        guard tailBytes > bound || (bound < 0 && tailStart < end) else { return false }
        var evicted = false
        if tailStart < baseOffset { tailStart = baseOffset }
        while tailBytes > bound || bound < 0, tailStart < end, tailStart <= lastOffset {
            let index = Int(tailStart - baseOffset)
            if index < entries.count, let bytes = Self.dropElement(&entries[index]) {
                tailBytes -= bytes
                evicted = true
            }
            tailStart += 1
        }
        return evicted
    }

    /// Drops a kept entry's element in place (reading the entry out would copy it: a retain and a release
    /// of an element whose memory is cold by the time it is evicted); the entry's record bytes, nil for a
    /// hole.
    private static func dropElement(_ slot: inout Entry?) -> Int? {
        slot?.element = nil
        return slot?.recordBytes
    }

    /// The offsets of the newest kept messages whose record bytes together stay within `bound` (the
    /// newest one always), oldest first: what a tail of `bound` holds. Nil `bound`: every kept offset.
    @_specialize(where Element == StreamRecord)
    package func newestOffsets(within bound: Int?) -> [UInt64] {
        var offsets: [UInt64] = []
        var bytes = 0
        for index in stride(from: entries.count - 1, through: 0, by: -1) {
            guard let entry = entries[index] else { continue }
            if let bound, !offsets.isEmpty, bytes + entry.recordBytes > bound { break }
            bytes += entry.recordBytes
            offsets.append(entry.offset)
        }
        return offsets.reversed()
    }

    /// Gives the newest kept messages at or after `offset` their elements back (a partition restored from
    /// its index alone): `element` for each, newest first, until it gives nil; the tail then starts at the
    /// oldest one given.
    @_specialize(where Element == StreamRecord)
    package mutating func restoreElements(from offset: UInt64, _ element: (UInt64) -> Element?) {
        for index in stride(from: entries.count - 1, through: 0, by: -1) {
            guard let entry = entries[index] else { continue }
            guard entry.offset >= offset else { break }
            if entry.element == nil {
                guard let value = element(entry.offset) else { break }
                entries[index]?.element = value
                tailBytes += entry.recordBytes
            }
            tailStart = Swift.min(tailStart, entry.offset)
        }
    }

    /// Drops what has aged out (messages past `maxAge`, message ids past the duplicate window).
    @_specialize(where Element == StreamRecord)
    package mutating func trim(now: UInt64) {
        if !limits.sealed, let age = limits.maxAgeNanoseconds, now > age {
            let horizon = now - age
            while let oldest = oldestEntry, oldest.time < horizon { removeOldest() }
        }
        if limits.duplicateWindowNanoseconds > 0 {
            while let first = idOrder.first, now >= first.time + limits.duplicateWindowNanoseconds {
                // An id is in the window once at most: a repeat inside it is a duplicate, never appended.
                idOrder.removeFirst()
                recentIDs[first.id] = nil
            }
        }
    }

    /// New limits (a stream update); what they no longer allow is dropped at once, oldest first.
    @_specialize(where Element == StreamRecord)
    package mutating func update(limits: StreamLimits, now: UInt64) {
        self.limits = limits
        trim(now: now)
        enforceLimits(newSubject: nil)
    }

    // MARK: - Reading

    /// The message at `offset`, unless it was deleted or is no longer kept.
    @_specialize(where Element == StreamRecord)
    package func entry(at offset: UInt64) -> Entry? {
        guard offset >= baseOffset, offset - baseOffset < UInt64(entries.count) else { return nil }
        return entries[Int(offset - baseOffset)]
    }

    /// Up to `limit` messages from `offset` on (holes skipped), stopping before `maxBytes` would be passed
    /// — though the first message is always returned, so a large one cannot stall a reader.
    @_specialize(where Element == StreamRecord)
    package func read(from offset: UInt64, limit: Int = .max, maxBytes: Int = .max) -> [Entry] {
        var result: [Entry] = []
        var bytes = 0
        let start = offset > baseOffset ? Int(Swift.min(offset - baseOffset, UInt64(entries.count))) : 0
        for index in start..<entries.count {
            if result.count >= limit { break }
            guard let entry = entries[index] else { continue }
            if !result.isEmpty && bytes + entry.bytes > maxBytes { break }
            bytes += entry.bytes
            result.append(entry)
        }
        return result
    }

    /// The first kept offset whose message was appended at or after `time` (Kafka's offsets-for-times,
    /// JetStream's `opt_start_time`); nil when every kept message is older.
    @_specialize(where Element == StreamRecord)
    package func offset(atOrAfter time: UInt64) -> UInt64? {
        // Times never decrease, so a binary search over the slots works; holes move the answer forward.
        var low = 0
        var high = entries.count
        while low < high {
            let middle = (low + high) / 2
            if let entry = entryAtOrAfter(index: middle), entry.time < time {
                low = Int(entry.offset - baseOffset) + 1
            } else {
                high = middle
            }
        }
        return entryAtOrAfter(index: low)?.offset
    }

    /// The offset of the oldest kept message on `subject` (a scan of the kept messages unless the subjects
    /// are indexed: `indexSubjects()`).
    @_specialize(where Element == StreamRecord)
    package func oldestOffset(subject: String) -> UInt64? {
        if let bySubject { return bySubject[subject]?.first }
        for index in 0..<entries.count {
            if let entry = entries[index], entry.subject == subject { return entry.offset }
        }
        return nil
    }

    /// The newest kept message on `subject` (JetStream `last_by_subj`; a scan of the kept messages unless
    /// the subjects are indexed: `indexSubjects()`).
    @_specialize(where Element == StreamRecord)
    package func last(subject: String) -> Entry? {
        if let bySubject { return bySubject[subject]?.last.flatMap { entry(at: $0) } }
        for index in stride(from: entries.count - 1, through: 0, by: -1) {
            if let entry = entries[index], entry.subject == subject { return entry }
        }
        return nil
    }

    // MARK: - Removing

    /// Deletes one message (JetStream `STREAM.MSG.DELETE`); its offset stays used. False when it is not kept.
    @discardableResult
    @_specialize(where Element == StreamRecord)
    package mutating func delete(offset: UInt64) -> Bool {
        guard let entry = entry(at: offset) else { return false }
        remove(at: Int(offset - baseOffset), entry)
        compact()
        return true
    }

    /// Removes the messages matching `subject` (all when nil) that are below offset `before`, or all but the
    /// newest `keep` of them (JetStream `STREAM.PURGE` with `filter`, `seq`, `keep`; Kafka's delete-records).
    /// Offsets are never reused: the next append continues after `lastOffset`. Returns how many went.
    @discardableResult
    @_specialize(where Element == StreamRecord)
    package mutating func purge(subject matches: ((String) -> Bool)? = nil, before: UInt64? = nil, keep: Int? = nil)
        -> Int
    {
        var candidates: [UInt64] = []
        for index in 0..<entries.count {
            guard let entry = entries[index], matches?(entry.subject) ?? true else { continue }
            if let before, entry.offset >= before { break }
            candidates.append(entry.offset)
        }
        if let keep { candidates = Array(candidates.dropLast(Swift.max(0, keep))) }
        for offset in candidates { delete(offset: offset) }
        compact()
        if entries.isEmpty { baseOffset = lastOffset + 1 }
        return candidates.count
    }

    // MARK: - Internals

    private func slot(of offset: UInt64) -> Int? {
        guard offset >= baseOffset, offset - baseOffset < UInt64(entries.count) else { return nil }
        return Int(offset - baseOffset)
    }

    /// The front of `entries` (`compact()` keeps a kept message there).
    private var oldestEntry: Entry? {
        entries.isEmpty ? nil : entries[0]
    }

    private func entryAtOrAfter(index: Int) -> Entry? {
        guard index < entries.count else { return nil }
        for position in index..<entries.count { if let entry = entries[position] { return entry } }
        return nil
    }

    private func subjectWouldDropOldest(_ subject: String) -> Bool {
        guard let maximum = limits.maxMessagesPerSubject else { return false }
        return (bySubject?[subject]?.count ?? 0) + 1 > maximum
    }

    private func oldestBytes(of subject: String) -> Int {
        oldestOffset(subject: subject).flatMap { entry(at: $0) }.map { measured($0.bytes, record: $0.recordBytes) } ?? 0
    }

    /// The bytes `limits.maxBytes` bounds: payload bytes, or record bytes with the per-message overhead.
    private var boundedBytes: Int {
        guard let overhead = limits.recordOverhead else { return totalBytes }
        return totalRecordBytes + count * overhead
    }

    /// One message's share of `boundedBytes`.
    private func measured(_ bytes: Int, record: Int) -> Int {
        guard let overhead = limits.recordOverhead else { return bytes }
        return record + overhead
    }

    private mutating func enforceLimits(newSubject: String?) {
        if let maximum = limits.maxMessagesPerSubject {
            indexSubjects()
            let subjects = newSubject.map { [$0] } ?? bySubject.map { Array($0.keys) } ?? []
            for subject in subjects {
                while let offsets = bySubject?[subject], offsets.count > maximum, let oldest = offsets.first {
                    delete(offset: oldest)
                }
            }
        }
        while let maximum = limits.maxMessages, count > maximum { removeOldest() }
        while let maximum = limits.maxBytes, boundedBytes > maximum, count > 0 { removeOldest() }
        // No trailing `compact()`: `delete` and `removeOldest` compact as they remove, so an append that
        // removed nothing does no work here.
    }

    private mutating func removeOldest() {
        guard let entry = oldestEntry else { return }
        remove(at: 0, entry)
        compact()
    }

    private mutating func remove(at index: Int, _ entry: Entry) {
        entries[index] = nil
        count -= 1
        totalBytes -= entry.bytes
        totalRecordBytes -= entry.recordBytes
        if entry.offset >= tailStart { tailBytes -= entry.recordBytes }
        if bySubject != nil { Self.unindex(entry, from: &bySubject!) }
    }

    /// Takes a removed message's offset out of the per-subject index.
    private static func unindex(_ entry: Entry, from bySubject: inout [String: Deque<UInt64>]) {
        // Changed in place: a copy taken out of the dictionary would be copied again on its first change
        // (the dictionary still holds it), once per message dropped.
        guard let slot = bySubject.index(forKey: entry.subject) else { return }
        if bySubject.values[slot].first == entry.offset {
            bySubject.values[slot].removeFirst()
        } else if let position = bySubject.values[slot].firstIndex(of: entry.offset) {
            bySubject.values[slot].remove(at: position)
        }
        if bySubject.values[slot].isEmpty { bySubject.remove(at: slot) }
    }

    /// Drops the holes at the front, so `entries` starts at the oldest kept message. (Indexing rather than
    /// `first`: the generic `Collection.first` copied each entry out through a heap buffer here.)
    private mutating func compact() {
        while !entries.isEmpty, entries[0] == nil {
            entries.removeFirst()
            baseOffset += 1
        }
    }
}

/// Why a stream refused a message (each protocol says it its own way: JetStream's error codes, Kafka's).
package enum StreamAppendRefusal: String, Sendable, Equatable {
    /// Larger than `maxMessageSize`.
    case messageTooLarge = "message_too_large"
    /// `discard: new` and the stream holds `maxMessages`.
    case maxMessages = "max_messages"
    /// `discard: new` and the message would pass `maxBytes`.
    case maxBytes = "max_bytes"
    /// The stream is sealed.
    case sealed
    /// `discard: new_per_subject` and the subject holds `maxMessagesPerSubject`.
    case maxMessagesPerSubject = "max_messages_per_subject"
    /// Several instances share the store and another one writes this partition now: this one has asked
    /// for it (docs/storage.md, "Several instances on one PostgreSQL database"); try again.
    case writtenElsewhere = "partition written by another instance sharing the database; try again"
}
