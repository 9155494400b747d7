import DequeModule

/// A topic's history: an append-only window addressed by offset within an epoch, bounded by count,
/// bytes and age. Offsets start at 1 in each epoch; 0 means "before the first message".
/// Pure value: the caller supplies the clock and guards concurrent use.
package struct HistoryLog<Element> {
    struct Entry {
        var offset: UInt64
        var element: Element
        var bytes: Int
        var time: UInt64
    }

    package let epoch: String
    package private(set) var limits: HistoryLimits
    /// Offset of the newest message ever appended in this epoch (0 when none).
    package private(set) var lastOffset: UInt64 = 0
    package private(set) var totalBytes = 0
    private var entries = Deque<Entry>()

    /// Newest offset handed out by `reserve()` (durable logs: reserved, not yet committed).
    package private(set) var reservedOffset: UInt64 = 0

    package init(epoch: String, limits: HistoryLimits) {
        self.epoch = epoch
        self.limits = limits
    }

    /// A log resumed from storage: the next offset follows `lastOffset`.
    package init(epoch: String, limits: HistoryLimits, lastOffset: UInt64) {
        self.init(epoch: epoch, limits: limits)
        self.lastOffset = lastOffset
        self.reservedOffset = lastOffset
    }

    package var count: Int { entries.count }
    /// Offset of the oldest message still kept.
    package var firstOffset: UInt64? { entries.first?.offset }
    package var position: LogPosition { LogPosition(offset: lastOffset, epoch: epoch) }

    /// Appends; `make` receives the new offset and builds the element that carries it.
    @discardableResult
    package mutating func append(bytes: Int, now: UInt64, _ make: (LogPosition) -> Element) -> Element {
        lastOffset += 1
        reservedOffset = lastOffset
        let element = make(LogPosition(offset: lastOffset, epoch: epoch))
        entries.append(Entry(offset: lastOffset, element: element, bytes: bytes, time: now))
        totalBytes += bytes
        trim(now: now)
        return element
    }

    /// Hands out the next offset without appending (a durable log appends only once it is stored).
    package mutating func reserve() -> LogPosition {
        reservedOffset = Swift.max(reservedOffset, lastOffset) + 1
        return LogPosition(offset: reservedOffset, epoch: epoch)
    }

    /// Takes back the newest reservation, `offset`, whose element could not be stored: the next `reserve()`
    /// hands it out again, so the log has no hole. False (nothing changed) when `offset` is not the newest
    /// reservation still outstanding (a later one is in flight).
    package mutating func releaseReservation(_ offset: UInt64) -> Bool {
        guard offset == reservedOffset, offset > lastOffset else { return false }
        reservedOffset -= 1
        return true
    }

    /// Appends an element at a reserved offset, which must be the next one: false (and nothing appended)
    /// otherwise.
    @discardableResult
    package mutating func append(_ element: Element, at offset: UInt64, bytes: Int, time: UInt64, now: UInt64) -> Bool {
        guard offset == lastOffset + 1 else { return false }
        lastOffset = offset
        reservedOffset = Swift.max(reservedOffset, offset)
        entries.append(Entry(offset: offset, element: element, bytes: bytes, time: time))
        totalBytes += bytes
        trim(now: now)
        return true
    }

    /// Drops what the limits no longer allow.
    package mutating func trim(now: UInt64) {
        while entries.count > limits.count || (totalBytes > limits.maxBytes && !entries.isEmpty) {
            totalBytes -= entries.removeFirst().bytes
        }
        if let age = limits.maxAgeSeconds {
            let horizon = UInt64(age * 1e9)
            while let first = entries.first, now > first.time, now - first.time > horizon {
                totalBytes -= entries.removeFirst().bytes
            }
        }
    }

    /// The newest `limit` messages, oldest first.
    package func last(_ limit: Int) -> [Element] {
        entries.suffix(max(0, limit)).map(\.element)
    }

    /// What follows `position`: every kept message with a larger offset, oldest first, when nothing was
    /// lost in between; otherwise why not.
    package func read(after position: LogPosition, limit: Int = .max) -> HistoryRead<Element> {
        guard position.epoch == epoch else { return .epochChanged }
        if position.offset > lastOffset { return .futureOffset }
        if position.offset == lastOffset { return .complete([]) }
        guard let first = entries.first?.offset, position.offset + 1 >= first else { return .gap }
        let skip = Int(position.offset + 1 - first)
        return .complete(entries.dropFirst(skip).prefix(limit).map(\.element))
    }
}

/// The answer to a read from a position.
package enum HistoryRead<Element> {
    /// Everything after the position (possibly nothing).
    case complete([Element])
    /// Some messages after the position are no longer kept.
    case gap
    /// The position belongs to another epoch (the log was reset or lost).
    case epochChanged
    /// The position is beyond the newest message of this epoch.
    case futureOffset
}

extension HistoryLog: Sendable where Element: Sendable {}
extension HistoryLog.Entry: Sendable where Element: Sendable {}
