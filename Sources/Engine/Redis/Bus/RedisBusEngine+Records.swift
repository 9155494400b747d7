import Logging
package import NIOCore
import RedisEngine
import RedisWire

/// Records across instances (docs/redis.md): a TTL'd Redis string per record, written with `SET … PX`
/// (`XX` where a late writer must not bring a used record back) and taken with `GETDEL` (Redis 6.2+), so a
/// record is used once, by one instance.
extension RedisBusEngine {
    /// `switchboard.record:<key>` for the prefix `switchboard:`.
    func recordKey(_ key: String) -> String { String(prefix.dropLast()) + ".record:" + key }

    package func keepRecord(_ key: String, value: ByteBuffer, ttl: TimeAmount, onlyIfKept: Bool) {
        let milliseconds = max(1, ttl.nanoseconds / 1_000_000)
        var arguments = [
            ByteBuffer(string: "SET"), ByteBuffer(string: recordKey(key)), value, ByteBuffer(string: "PX"),
            ByteBuffer(string: String(milliseconds)),
        ]
        if onlyIfKept { arguments.append(ByteBuffer(string: "XX")) }
        let command = RESPCommand(arguments)
        keyed(command, key: recordKey(key)).whenFailure { [logger] error in
            logger.warning("redis engine: keeping a record failed", metadata: ["error": "\(error)"])
        }
    }

    package func takeRecord(_ key: String) -> EventLoopFuture<ByteBuffer?> {
        value(RESPCommand("GETDEL", recordKey(key)), key: recordKey(key))
    }

    package func readRecord(_ key: String) -> EventLoopFuture<ByteBuffer?> {
        value(RESPCommand("GET", recordKey(key)), key: recordKey(key))
    }

    /// A bulk string reply's bytes; nil for a nil reply or a failure (logged).
    private func value(_ command: RESPCommand, key: String) -> EventLoopFuture<ByteBuffer?> {
        keyed(command, key: key).map { reply -> ByteBuffer? in
            if case .bulkString(let value?) = reply { return value }
            return nil
        }.recover { [logger] error in
            logger.warning("redis engine: reading a record failed", metadata: ["error": "\(error)"])
            return nil
        }
    }
}
