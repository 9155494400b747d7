/// The pending deliveries of a consumer in the order of a number that only grows as they are made
/// (stream sequences as first delivered, consumer sequences as delivered), so the oldest one still
/// pending — the ack floor's next sequence — is found without scanning the pending map on every ack.
///
/// Entries are never removed where they stand: one that stopped being pending (acknowledged,
/// terminated, delivered again under a newer consumer sequence) is skipped once it reaches the front,
/// and the dead are dropped in bulk when they outnumber the live ones, so each entry costs O(1)
/// amortized and the order holds at most about twice what is pending. nats-server gets the same effect
/// by walking forward from the old floor (consumer.go `processAckMsg`).
struct JetStreamDeliveryOrder: Sendable {
    /// One delivery: the number it is ordered by and the stream sequence that says whether it is live.
    struct Entry: Sendable, Equatable {
        var key: UInt64
        var streamSequence: UInt64
    }

    /// Below this many entries nothing is compacted: the copy would cost more than the skipping.
    private static let compactionSlack = 1024

    private var entries: [Entry] = []
    /// The first entry not yet skipped.
    private var head = 0

    var isEmpty: Bool { head == entries.count }

    /// Adds a delivery. Keys come in ascending order; one that does not (not made by `next` today) is
    /// put in its place, so the order stays sorted whatever the caller does.
    mutating func append(key: UInt64, streamSequence: UInt64) {
        let entry = Entry(key: key, streamSequence: streamSequence)
        guard let last = entries.last, head < entries.count, last.key > key else {
            entries.append(entry)
            return
        }
        var low = head
        var high = entries.count
        while low < high {
            let middle = (low + high) / 2
            if entries[middle].key < key { low = middle + 1 } else { high = middle }
        }
        entries.insert(entry, at: low)
    }

    /// The oldest entry `isLive` accepts; the dead before it are skipped for good.
    mutating func oldest(isLive: (Entry) -> Bool) -> Entry? {
        while head < entries.count {
            let entry = entries[head]
            if isLive(entry) { return entry }
            head += 1
        }
        return nil
    }

    /// Takes the entries up to `key` off the front, in order, live or not (an `ack_policy: all`
    /// acknowledgement: the caller removes the live ones).
    mutating func removeThrough(_ key: UInt64) -> ArraySlice<Entry> {
        let start = head
        while head < entries.count, entries[head].key <= key { head += 1 }
        return entries[start..<head]
    }

    /// Drops the skipped entries, and the dead ones when they outnumber the `liveCount` live ones.
    mutating func compact(liveCount: Int, isLive: (Entry) -> Bool) {
        if head == entries.count {
            entries.removeAll(keepingCapacity: true)
            head = 0
            return
        }
        let held = entries.count - head
        if held > 2 * liveCount + Self.compactionSlack {
            entries = entries[head...].filter(isLive)
            head = 0
        } else if head > Self.compactionSlack && head * 2 > entries.count {
            entries.removeFirst(head)
            head = 0
        }
    }

    mutating func removeAll() {
        entries.removeAll(keepingCapacity: true)
        head = 0
    }

    /// How many entries are held (live or not yet dropped): what the bound above is about.
    var heldCount: Int { entries.count - head }
}
