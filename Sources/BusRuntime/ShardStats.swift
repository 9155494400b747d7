/// Counters kept per loop without atomics and handed to swift-metrics once a second.
package struct ShardStats {
    /// Most protocols the counters distinguish; a new protocol takes one slot.
    package static let slotCount = 16
    /// Latency samples kept between two reports; more are not recorded, so the cost stays bounded.
    static let maxLatencySamples = 1024

    var delivered = [Int](repeating: 0, count: slotCount)
    var bytesOut = [Int](repeating: 0, count: slotCount)
    var dropped = [Int](repeating: 0, count: slotCount)
    var published = [Int](repeating: 0, count: slotCount)
    var bytesIn = [Int](repeating: 0, count: slotCount)
    var latencySamples: [Int64] = []

    @inline(__always)
    mutating func delivered(slot: ProtocolMetricsSlot, bytes: Int) {
        delivered[slot.index] &+= 1
        bytesOut[slot.index] &+= bytes
    }

    @inline(__always)
    mutating func dropped(slot: ProtocolMetricsSlot) {
        dropped[slot.index] &+= 1
    }

    /// Counts a message a client of this loop published.
    @inline(__always)
    package mutating func published(slot: ProtocolMetricsSlot, bytes: Int) {
        published[slot.index] &+= 1
        bytesIn[slot.index] &+= bytes
    }

    /// Counts `messages` publications at once (a frontend that counts a read's worth itself).
    package mutating func published(slot: ProtocolMetricsSlot, messages: Int, bytes: Int) {
        published[slot.index] &+= messages
        bytesIn[slot.index] &+= bytes
    }

    @inline(__always)
    mutating func recordLatency(now: UInt64, publishedAt: UInt64) {
        guard latencySamples.count < ShardStats.maxLatencySamples, now >= publishedAt else { return }
        latencySamples.append(Int64(now - publishedAt))
    }
}
