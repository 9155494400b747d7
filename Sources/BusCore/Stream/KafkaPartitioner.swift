/// Kafka's default partitioner for keyed records: murmur2 of the key bytes, made positive, modulo the
/// partition count — so a key lands on the partition a Kafka producer would choose (the Confluent REST
/// Proxy partitions the same way). Records without a key are the caller's to spread.
package enum KafkaPartitioner {
    /// The partition of `key` among `count` partitions (`count` ≥ 1).
    package static func partition(forKey key: some Collection<UInt8>, count: Int) -> Int {
        precondition(count > 0, "a stream has at least one partition")
        return Int(toPositive(murmur2(key))) % count
    }

    /// Kafka's `Utils.toPositive`: clears the sign bit (not `abs`, which fails on `Int32.min`).
    package static func toPositive(_ value: Int32) -> Int32 { value & 0x7fff_ffff }

    /// Kafka's `Utils.murmur2`: 32-bit MurmurHash2 with Kafka's seed, over the bytes as given.
    package static func murmur2(_ data: some Collection<UInt8>) -> Int32 {
        let bytes = Array(data)
        let length = bytes.count
        let seed: UInt32 = 0x9747_b28c
        let m: UInt32 = 0x5bd1_e995
        let r: UInt32 = 24
        var h = seed ^ UInt32(truncatingIfNeeded: length)
        let blocks = length / 4
        for block in 0..<blocks {
            let i = block * 4
            var k =
                UInt32(bytes[i]) | UInt32(bytes[i + 1]) << 8 | UInt32(bytes[i + 2]) << 16 | UInt32(bytes[i + 3]) << 24
            k = k &* m
            k ^= k >> r
            k = k &* m
            h = h &* m
            h ^= k
        }
        let tail = blocks * 4
        switch length % 4 {
        case 3:
            h ^= UInt32(bytes[tail + 2]) << 16
            fallthrough
        case 2:
            h ^= UInt32(bytes[tail + 1]) << 8
            fallthrough
        case 1:
            h ^= UInt32(bytes[tail])
            h = h &* m
        default:
            break
        }
        h ^= h >> 13
        h = h &* m
        h ^= h >> 15
        return Int32(bitPattern: h)
    }
}
