/// Redis Cluster's key → hash slot function (Redis Cluster specification, "Key distribution model" and
/// "Hash tags"; https://redis.io/docs/latest/operate/oss_and_stack/reference/cluster-spec/): `HASH_SLOT =
/// CRC16(key) mod 16384`, CRC16 being the XMODEM variant (polynomial 0x1021, initial value 0, no
/// reflection). When the key holds a `{` followed later by a `}` with at least one byte between them, only
/// those bytes (the hash tag, up to the first `}` after the first `{`) are hashed, so `a{user}` and
/// `b{user}` share a slot. Shard channels (`SPUBLISH`/`SSUBSCRIBE`) are placed by the same function.
public enum RedisKeySlot {
    /// The number of hash slots in a Redis Cluster.
    public static let count = 16384

    /// The slot of `key`'s bytes (a key or a shard channel name).
    public static func slot(of key: some Collection<UInt8>) -> Int {
        let bytes = Array(key)
        // Cluster spec, "Hash tags": the first `{`, then the first `}` after it; an empty tag hashes the key.
        if let open = bytes.firstIndex(of: UInt8(ascii: "{")),
            let close = bytes[(open + 1)...].firstIndex(of: UInt8(ascii: "}")), close > open + 1
        {
            return Int(crc16(bytes[(open + 1)..<close]) & 0x3FFF)
        }
        return Int(crc16(bytes) & 0x3FFF)
    }

    /// The slot of a key given as text (its UTF-8 bytes).
    public static func slot(of key: String) -> Int { slot(of: Array(key.utf8)) }

    /// CRC16-CCITT (XMODEM), the cluster spec's reference implementation bit by bit over a table.
    public static func crc16(_ bytes: some Collection<UInt8>) -> UInt16 {
        var crc: UInt16 = 0
        for byte in bytes {
            crc = (crc << 8) ^ table[Int(UInt8(truncatingIfNeeded: crc >> 8) ^ byte)]
        }
        return crc
    }

    private static let table: [UInt16] = (0..<256).map { index in
        var crc = UInt16(index) << 8
        for _ in 0..<8 { crc = crc & 0x8000 != 0 ? (crc << 1) ^ 0x1021 : crc << 1 }
        return crc
    }
}
