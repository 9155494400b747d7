package import BusCore
package import BusRuntime
import Logging
package import NIOCore
import RedisEngine
import RedisWire

/// A publication to a topic keeping history, on its way to the shared log: what the append needs, and
/// whom to tell once the message was published here with its position.
package struct SharedAppend: @unchecked Sendable {
    let message: BusMessage
    let limits: HistoryLimits
    /// The publisher's loop, where `routed` runs.
    let loop: any EventLoop
    /// Set when this instance keeps a window of the topic's shared log (its own copy waits for the position).
    var routed: (@Sendable (PublishResult) -> Void)?
    /// Set when the copy here was routed already and the publisher waits for the shared position.
    var answered: (@Sendable (LogPosition?) -> Void)?
}

/// History across instances (docs/redis.md): each topic's log is a Redis stream beside a hash holding its
/// epoch and newest offset, both changed only by the two functions below, so every instance agrees on
/// them. An entry's id is `<ms>-<offset>`: ids grow with the offset, and `MINID` trims by age.
extension RedisBusEngine {
    /// The library every instance loads (the same text: `REPLACE` is harmless).
    static let functions = #"""
        #!lua name=switchboard_history
        local function append(keys, args)
          local epoch = redis.call('HGET', keys[1], 'epoch')
          local publish = args[7] or 'PUBLISH'
          if not epoch then
            redis.call(publish, args[1], args[2])
            return false
          end
          local seq = tonumber(redis.call('HGET', keys[1], 'seq') or '0')
          if seq > 0 and redis.call('EXISTS', keys[2]) == 0 then
            epoch = args[6]
            seq = 0
            redis.call('HSET', keys[1], 'epoch', epoch, 'ms', 0)
          end
          seq = seq + 1
          local now = redis.call('TIME')
          local ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
          local last = tonumber(redis.call('HGET', keys[1], 'ms') or '0')
          if last > ms then ms = last end
          redis.call('HSET', keys[1], 'seq', seq, 'ms', ms)
          redis.call('XADD', keys[2], 'MAXLEN', '~', args[3], ms .. '-' .. seq, 'm', args[2])
          local age = tonumber(args[4])
          if age > 0 then redis.call('XTRIM', keys[2], 'MINID', '~', math.max(0, ms - age) .. '-0') end
          local ttl = tonumber(args[5])
          if ttl > 0 then
            redis.call('PEXPIRE', keys[1], ttl)
            redis.call('PEXPIRE', keys[2], ttl)
          end
          redis.call(publish, args[1], 'P' .. seq .. ' ' .. epoch .. '\n' .. args[2])
          return {epoch, seq}
        end
        local function demand(keys, args)
          local epoch = redis.call('HGET', keys[1], 'epoch')
          local seq = tonumber(redis.call('HGET', keys[1], 'seq') or '0')
          if (not epoch) or (seq > 0 and redis.call('EXISTS', keys[2]) == 0) then
            epoch = args[1]
            seq = 0
            redis.call('DEL', keys[2])
            redis.call('HSET', keys[1], 'epoch', epoch, 'seq', 0, 'ms', 0)
          end
          local ttl = tonumber(args[2])
          if ttl > 0 then
            redis.call('PEXPIRE', keys[1], ttl)
            redis.call('PEXPIRE', keys[2], ttl)
          end
          return {epoch, seq, redis.call('XREVRANGE', keys[2], '+', '-', 'COUNT', args[3])}
        end
        local function check(keys, args)
          if redis.call('HGET', keys[1], 'epoch') ~= args[1] then return 0 end
          if tonumber(redis.call('HGET', keys[1], 'seq') or '0') >= tonumber(args[2]) then return 0 end
          redis.call('HSET', keys[1], 'epoch', args[3])
          return 1
        end
        redis.register_function('switchboard_append', append)
        redis.register_function('switchboard_demand', demand)
        redis.register_function('switchboard_check', check)
        """#

    var loadFunctionsCommand: RESPCommand { RESPCommand(["FUNCTION", "LOAD", "REPLACE", Self.functions]) }

    /// The hash holding a topic's shared epoch, newest offset and newest entry time (on a cluster with the
    /// topic's hash tag, `clusterTag`).
    func historyMetaKey(_ topic: String) -> String {
        String(prefix.dropLast()) + ".logmeta:" + (cluster == nil ? topic : Self.clusterTag(topic))
    }
    /// The stream holding a topic's shared log.
    func historyStreamKey(_ topic: String) -> String {
        String(prefix.dropLast()) + ".log:" + (cluster == nil ? topic : Self.clusterTag(topic))
    }

    /// How long Redis keeps a log nobody appends to or reads: its age bound (an on-demand log is let go
    /// as an instance's is); none without one.
    static func keepMilliseconds(_ limits: HistoryLimits) -> Int {
        limits.maxAgeSeconds.map { max(1_000, Int($0 * 1_000)) } ?? 0
    }

    package func sequence(
        _ message: BusMessage, limits: HistoryLimits, from loop: any EventLoop,
        routed: (@Sendable (PublishResult) -> Void)?, answered: (@Sendable (LogPosition?) -> Void)?
    ) {
        if cluster != nil { holdReplyInbox(of: message) }
        send(
            RedisBusFrame.encode(message, instance: instanceID),
            append: SharedAppend(message: message, limits: limits, loop: loop, routed: routed, answered: answered))
    }

    /// `FCALL switchboard_append`: appended to the shared log when the instances keep one (and published
    /// with its position), else published as it is.
    func appendCommand(_ frame: ByteBuffer, _ append: SharedAppend) -> RESPCommand {
        let topic = append.message.topic.name
        let age = append.limits.maxAgeSeconds.map { Int($0 * 1_000) } ?? 0
        return RESPCommand([
            ByteBuffer(string: "FCALL"), ByteBuffer(string: "switchboard_append"), ByteBuffer(string: "2"),
            ByteBuffer(string: historyMetaKey(topic)), ByteBuffer(string: historyStreamKey(topic)),
            ByteBuffer(string: topicChannel(topic)), frame, ByteBuffer(string: String(max(1, append.limits.count))),
            ByteBuffer(string: String(age)), ByteBuffer(string: String(Self.keepMilliseconds(append.limits))),
            ByteBuffer(string: bus.history.newEpoch()), ByteBuffer(string: cluster == nil ? "PUBLISH" : "SPUBLISH"),
        ])
    }

    /// The append's answer: the message's shared position (or none), then its copy here is published.
    func appended(_ append: SharedAppend, reply: EventLoopFuture<RESPValue>) {
        guard append.routed != nil || append.answered != nil else { return }
        reply.whenComplete { result in
            var position: LogPosition?
            if case .success(.array(let items?)) = result, items.count == 2, let epoch = items[0].string,
                case .integer(let offset) = items[1], offset > 0
            {
                position = LogPosition(offset: UInt64(offset), epoch: epoch)
                self.saw(LogPosition(offset: UInt64(offset), epoch: epoch), of: append.message.topic.name)
            }
            if let answered = append.answered {
                append.loop.execute { answered(position) }
            }
            self.routeHere(append, at: position)
        }
    }

    /// A publication that cannot wait for Redis: published here without a shared position.
    func routeUnsequenced(_ append: SharedAppend) {
        if let answered = append.answered {
            append.loop.execute { answered(nil) }
        }
        routeHere(append, at: nil)
    }

    /// Publishes this instance's own copy from the engine's loop — in the order Redis sequenced it among
    /// the others' — and tells the publisher.
    private func routeHere(_ append: SharedAppend, at position: LogPosition?) {
        guard let routed = append.routed else { return }
        let loop = append.loop
        let result = bus.publishSequenced(append.message.fromRemoteInstance(at: position), on: eventLoop) { result in
            loop.execute { routed(result) }
        }
        if let result { loop.execute { routed(result) } }
    }

    package func refreshHistory(_ topic: Topic, limits: HistoryLimits) -> EventLoopFuture<SharedLogWindow?> {
        eventLoop.flatSubmit {
            // Subscribed before the read, on the one connection: whatever is appended after the read is heard.
            self.historyHolds[topic, default: 0] += 1
            if self.historyHolds[topic] == 1 { self.interestChanged(Self.filter(topic), delta: 1) }
            self.flush()
            guard self.degradedReason == nil else { return self.eventLoop.makeSucceededFuture(nil) }
            let command = RESPCommand([
                "FCALL", "switchboard_demand", "2", self.historyMetaKey(topic.name), self.historyStreamKey(topic.name),
                self.bus.history.newEpoch(), String(Self.keepMilliseconds(limits)), String(max(1, limits.count)),
            ])
            return self.keyed(command, key: self.historyMetaKey(topic.name)).map { Self.window(from: $0, topic: topic) }
                .recover { error in
                    self.logger.warning("redis engine: reading a shared log failed", metadata: ["error": "\(error)"])
                    return nil
                }
        }
    }

    package func releaseHistoryHold(_ topic: Topic) {
        eventLoop.execute {
            guard let holds = self.historyHolds[topic] else { return }
            if holds > 1 {
                self.historyHolds[topic] = holds - 1
            } else {
                self.historyHolds[topic] = nil
                self.interestChanged(Self.filter(topic), delta: -1)
            }
        }
    }

    static func filter(_ topic: Topic) -> TopicFilter {
        // A topic is a filter without wildcards.
        try! TopicFilter(topic.name)
    }

    /// `switchboard_demand`'s answer: epoch, newest offset, newest entries (newest first).
    static func window(from reply: RESPValue, topic: Topic) -> SharedLogWindow? {
        guard case .array(let items?) = reply, items.count == 3, let epoch = items[0].string,
            case .integer(let last) = items[1], last >= 0, case .array(let entries?) = items[2]
        else { return nil }
        var messages: [BusMessage] = []
        messages.reserveCapacity(entries.count)
        for entry in entries.reversed() {
            guard case .array(let parts?) = entry, parts.count == 2, let id = parts[0].string,
                let offset = id.split(separator: "-").last.flatMap({ UInt64($0) }),
                case .array(let fields?) = parts[1], fields.count == 2,
                case .bulkString(let frame?) = fields[1],
                case .message(let message)? = RedisBusFrame.decode(frame)?.event
            else { continue }
            messages.append(message.fromRemoteInstance(at: LogPosition(offset: offset, epoch: epoch)))
        }
        return SharedLogWindow(epoch: epoch, lastOffset: UInt64(last), messages: messages)
    }
}
