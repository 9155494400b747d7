import BusCore
import BusRuntime
import Logging
import NIOCore
import RedisEngine
import RedisWire

/// The newest position of a shared log this instance was told of, and when.
struct SeenLogPosition {
    var position: LogPosition
    var at: NIODeadline
}

/// A shared log that lost its newest entries gets a new epoch (docs/redis.md, "What a failover can lose").
///
/// Redis replication is asynchronous: a master that fails over (Sentinel promoting a replica) or restarts
/// from an older snapshot may come back without the newest entries of a log, while its hash still holds the
/// same epoch. Its next append would then give again an offset that a client already received for a lost
/// message, and that client, resuming from it, would skip the new one. What proves the loss is a position
/// an instance was told of: every position comes from Redis (an append's answer, or a positioned message
/// heard), so an instance that saw offset N in epoch E while Redis's log is at M < N in the same epoch
/// knows the log lost N − M entries. After each reconnect, before anything is appended, the engine asks
/// `switchboard_check` for each log it saw: it replaces the epoch only when the log is still in that
/// epoch and behind the position (so the instances checking the same log change it once). Clients then
/// resume into a log of another epoch and are told they were not recovered, as after any lost log.
///
/// What this does not see: entries no instance still running was told of (an instance that died with the
/// master). Positions untouched for `seenLogRetention` are forgotten: a lost write is among the newest a
/// master took, and one seen ten minutes before a failover was long since replicated.
extension RedisBusEngine {
    static let seenLogRetention: TimeAmount = .minutes(10)

    /// Notes that `topic`'s shared log reached `position` (on the engine's loop).
    func saw(_ position: LogPosition, of topic: String) {
        let now = NIODeadline.now()
        if let seen = seenLogPositions[topic], seen.position.epoch == position.epoch,
            seen.position.offset >= position.offset
        {
            seenLogPositions[topic]?.at = now
            return
        }
        seenLogPositions[topic] = SeenLogPosition(position: position, at: now)
    }

    /// Asks Redis, for each log seen, whether it is still at least where it was seen; one that is behind in
    /// the same epoch gets a new one. Pipelined on the one connection, ahead of anything sent after it.
    func checkSeenLogPositions() {
        for (topic, seen) in seenLogPositions {
            let command = RESPCommand([
                "FCALL", "switchboard_check", "1", historyMetaKey(topic), seen.position.epoch,
                String(seen.position.offset), bus.history.newEpoch(),
            ])
            keyed(command, key: historyMetaKey(topic)).whenComplete { [logger] result in
                switch result {
                case .success(.integer(1)):
                    logger.warning(
                        """
                        redis engine: a shared log lost entries this instance had seen (a failover or restart \
                        lost unreplicated writes); it continues in a new epoch, so clients resuming from the \
                        lost entries are told they were not recovered
                        """,
                        metadata: ["topic": "\(topic)", "seen": "\(seen.position.offset)"])
                case .success: break
                case .failure(let error):
                    logger.warning(
                        "redis engine: checking a shared log after reconnecting failed",
                        metadata: ["topic": "\(topic)", "error": "\(error)"])
                }
            }
        }
    }

    /// Drops the positions not seen for `seenLogRetention` (on the engine's loop, each heartbeat).
    func forgetOldSeenLogPositions() {
        let horizon = NIODeadline.now() - Self.seenLogRetention
        seenLogPositions = seenLogPositions.filter { $0.value.at >= horizon }
    }
}
