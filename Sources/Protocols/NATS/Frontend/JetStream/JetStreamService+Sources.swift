import BusCore
import BusRuntime
import NIOConcurrencyHelpers
import NIOCore

/// Where a stream's copying from one origin (its mirror or one of its sources) stands.
struct JetStreamSourceProgress {
    /// The next origin sequence to look at; nil until the origin is there to read the start options against.
    var next: UInt64?
    /// When a round last reached the origin (ns); nil: never (`active` -1).
    var lastActive: UInt64?
    /// A source nothing of which is found in its stream (never copied, or what was copied is gone: purged,
    /// expired) while the stream holds messages: the newest one's time. Without start options the copy
    /// starts there, not at the origin's first (nats-server's `si.start` fallback).
    var fallbackTime: UInt64?
}

extension JetStreamService {
    // MARK: - Mirrors and sources

    /// How long a copier waits for the origin's next record before it looks again (the origin may have
    /// gone, the settings changed), and before it tries again after a refusal or a missing origin.
    static let sourceRetry = TimeAmount.seconds(1)
    /// Records one round copies before it yields the loop.
    static let sourceBatch = 256

    /// Starts (or restarts, after an update) copying what `stream`'s `mirror` or `sources` name, one
    /// round at a time per origin on one loop: each round reads the origin from where the copying stands,
    /// appends what the origin's `filter_subject` lets through to this stream alone, then waits for the
    /// origin's next record (nats-server's internal source consumers, without a consumer). A mirror keeps
    /// the origin's sequences and times; a source appends as new messages with
    /// `Nats-Stream-Source: <origin> <sequence>`. Where each resumes after a restart is read from the
    /// stream itself, as nats-server does: a mirror's newest sequence, a source's newest such header.
    /// A delete, or an update, ends the rounds of the generation before.
    func startSourcing(_ stream: String) {
        let config = state.withLockedValue { state -> JetStreamStreamConfig? in
            state.sourceGeneration += 1
            guard let kept = state.kept[stream], kept.mirror != nil || !kept.sources.isEmpty else {
                state.sourcers[stream] = nil
                state.sourceProgress[stream] = nil
                return nil
            }
            state.sourcers[stream] = state.sourceGeneration
            return kept
        }
        guard let config, let box = bus.streams.stream(named: stream) else { return }
        let origins = config.mirror.map { [$0] } ?? config.sources
        let known = state.withLockedValue { $0.sourceProgress[stream] ?? [:] }
        let missing = config.mirror != nil ? [] : Set(origins.filter { known[$0.name] == nil }.map(\.name))
        let shards = bus.shards
        let shard = shards[Int(UInt(bitPattern: stream.hashValue) % UInt(shards.count))]
        if let resumed = resumePointsNow(in: box, of: missing) {
            return beginSourcing(stream, box: box, config: config, known: known, resumed: resumed, shard: shard)
        }
        // The stream is longer than it keeps in memory: its older records' headers come from the store.
        resumePoints(in: stream, of: missing, on: shard.eventLoop).whenComplete { result in
            let resumed = (try? result.get()) ?? [:]
            self.beginSourcing(stream, box: box, config: config, known: known, resumed: resumed, shard: shard)
        }
    }

    /// Sets where each origin's copying stands (`resumed`: the newest origin sequence found in the stream)
    /// and starts its rounds, unless a newer `startSourcing` came meanwhile.
    private func beginSourcing(
        _ stream: String, box: StreamBox, config: JetStreamStreamConfig, known: [String: JetStreamSourceProgress],
        resumed: [String: UInt64], shard: LoopShard
    ) {
        let origins = config.mirror.map { [$0] } ?? config.sources
        var progress: [String: JetStreamSourceProgress] = [:]
        for origin in origins {
            if let kept = known[origin.name] {
                progress[origin.name] = kept
            } else if config.mirror != nil {
                let last = box.partitions[0].info.lastOffset
                progress[origin.name] = JetStreamSourceProgress(next: last > 0 ? last + 1 : nil)
            } else if let sequence = resumed[origin.name] {
                progress[origin.name] = JetStreamSourceProgress(next: sequence + 1)
            } else {
                let newest = try? bus.streams.lastIndex(stream, partition: 0)
                progress[origin.name] = JetStreamSourceProgress(fallbackTime: newest?.time)
            }
        }
        let generation = state.withLockedValue { state -> UInt64? in
            guard let generation = state.sourcers[stream] else { return nil }
            state.sourceProgress[stream] = progress
            return generation
        }
        guard let generation else { return }
        for origin in origins {
            shard.eventLoop.execute {
                self.copy(into: stream, from: origin.name, generation: generation, shard: shard)
            }
        }
    }

    /// The newest origin sequence each of `origins` has in the stream's `Nats-Stream-Source` headers: the
    /// newest records first, then (for an origin not among them) the whole stream. Nil when that reaches
    /// records whose bodies the stream keeps in the store only (`resumePoints(in:of:on:)` then).
    private func resumePointsNow(in box: StreamBox, of origins: Set<String>) -> [String: UInt64]? {
        guard !origins.isEmpty else { return [:] }
        let partition = box.partitions[0]
        let info = partition.info
        let newestStart = max(
            info.firstOffset,
            info.lastOffset >= UInt64(Self.sourceBatch) ? info.lastOffset - UInt64(Self.sourceBatch) + 1 : 0)
        let now = bus.clock()
        guard let newest = partition.readNow(from: newestStart, limit: Self.sourceBatch, maxBytes: .max, now: now)
        else {
            return nil
        }
        var found = Self.sourcePoints(newest.records, of: origins, into: [:])
        guard found.count < origins.count else { return found }
        var from: UInt64 = 0
        while true {
            guard let read = partition.readNow(from: from, limit: 1024, maxBytes: .max, now: now) else { return nil }
            guard let last = read.records.last else { return found }
            found = Self.sourcePoints(read.records, of: origins, into: found)
            from = last.offset + 1
        }
    }

    /// `resumePointsNow`, reading from the store what the stream no longer keeps in memory; on `loop`.
    private func resumePoints(in stream: String, of origins: Set<String>, on loop: any EventLoop)
        -> EventLoopFuture<[String: UInt64]>
    {
        bus.streams.readLast(stream, partition: 0, count: Self.sourceBatch, on: loop)
            .map { Self.sourcePoints($0.records, of: origins, into: [:]) }
            .flatMap { found in
                guard found.count < origins.count else { return loop.makeSucceededFuture(found) }
                return self.bus.streams.scan(stream, partition: 0, from: 0, into: found, on: loop) { found, records in
                    found = Self.sourcePoints(records, of: origins, into: found)
                    return true
                }
            }
    }

    /// `found` with the origin sequences `records`' `Nats-Stream-Source` headers name, newest kept.
    private static func sourcePoints(
        _ records: [StreamReadRecord], of origins: Set<String>, into found: [String: UInt64]
    )
        -> [String: UInt64]
    {
        var found = found
        for record in records {
            guard
                let value = record.record.message.headers.userProperties.last(where: {
                    $0.name == JetStreamStreamSource.header
                })?.value,
                let origin = JetStreamStreamSource.origin(ofHeader: value), origins.contains(origin.stream)
            else { continue }
            found[origin.stream] = max(found[origin.stream] ?? 0, origin.sequence)
        }
        return found
    }

    /// The first origin sequence to copy when nothing of it is in the stream: `opt_start_seq`, the first
    /// record at or after `opt_start_time` (or the fallback time, if later; none yet: the next one), the
    /// first at or after the fallback time, or the origin's first (nats-server's `setSourceConsumer`).
    private static func start(_ source: JetStreamStreamSource, origin: StreamBox, fallbackTime: UInt64?) -> UInt64 {
        if let sequence = source.optStartSequence { return sequence }
        guard let time = [source.optStartTime, fallbackTime].compactMap({ $0 }).max() else { return 1 }
        return origin.partitions[0].offset(atOrAfter: time) ?? origin.partitions[0].info.lastOffset + 1
    }

    /// One round of copying `origin` into `stream`.
    private func copy(into stream: String, from originName: String, generation: UInt64, shard: LoopShard) {
        let current = state.withLockedValue { state -> (JetStreamStreamConfig, JetStreamSourceProgress)? in
            guard state.sourcers[stream] == generation, let kept = state.kept[stream],
                let progress = state.sourceProgress[stream]?[originName]
            else { return nil }
            return (kept, progress)
        }
        guard let (config, progress) = current,
            let source = config.mirror ?? config.sources.first(where: { $0.name == originName })
        else { return }
        let loop = shard.eventLoop
        let again = { (delay: TimeAmount) in
            loop.scheduleTask(in: delay) {
                self.copy(into: stream, from: originName, generation: generation, shard: shard)
            }
        }
        guard let origin = bus.streams.stream(named: originName), let target = bus.streams.stream(named: stream) else {
            // Not there (yet, or any more): nats-server keeps retrying its source consumer.
            again(Self.sourceRetry)
            return
        }
        let now = bus.clock()
        let start = progress.next ?? Self.start(source, origin: origin, fallbackTime: progress.fallbackTime)
        let mirroring = config.mirror != nil
        // The origin's records from where the copy stands: at once from its memory tail, else from the store.
        bus.streams.read(originName, partition: 0, from: start, limit: Self.sourceBatch, on: loop).whenComplete {
            result in
            self.copy(
                (try? result.get().records) ?? [], from: start, into: stream, origin: originName, source: source,
                mirroring: mirroring, target: target, generation: generation, shard: shard, now: now)
        }
    }

    /// The rest of a round: copies `records` (the origin's from `start` on), then schedules the next round.
    private func copy(
        _ records: [StreamReadRecord], from start: UInt64, into stream: String, origin originName: String,
        source: JetStreamStreamSource, mirroring: Bool, target: StreamBox, generation: UInt64, shard: LoopShard,
        now: UInt64
    ) {
        let loop = shard.eventLoop
        let again = { (delay: TimeAmount) in
            loop.scheduleTask(in: delay) {
                self.copy(into: stream, from: originName, generation: generation, shard: shard)
            }
        }
        var next = start
        let filter = source.filter
        var blocked = false
        for record in records {
            let message = record.record.message
            if let filter, !filter.matches(message.topic) {
                next = record.offset + 1
                continue
            }
            let copied: BusMessage
            let placement: StreamPlacement
            if mirroring {
                copied = BusMessage(
                    topic: message.topic, payload: message.payload, headers: message.headers,
                    publisherID: message.publisherID, timestamp: record.time)
                placement = StreamPlacement(stream: stream, offset: record.offset)
            } else {
                var headers = message.headers
                // Sourced again further down a chain: only the nearest origin is named (as nats-server).
                headers.userProperties.removeAll { $0.name == JetStreamStreamSource.header }
                headers.userProperties.append(
                    UserProperty(name: JetStreamStreamSource.header, value: source.headerValue(sequence: record.offset))
                )
                copied = BusMessage(
                    topic: message.topic, payload: message.payload, headers: headers,
                    publisherID: message.publisherID, timestamp: now)
                placement = StreamPlacement(stream: stream, messageID: Self.messageID(headers))
            }
            if accountLimitExceeded(by: copied, in: target) {
                blocked = true
                break
            }
            if case .refused = bus.streams.appendOnly(copied, placement: placement, completion: { _ in }).outcome {
                // A limit of this stream (`discard: new` …): nats-server retries from the refused message.
                blocked = true
                break
            }
            next = record.offset + 1
        }
        let stillCurrent = state.withLockedValue { state -> Bool in
            guard state.sourcers[stream] == generation, state.sourceProgress[stream]?[originName] != nil else {
                return false
            }
            state.sourceProgress[stream]?[originName] = JetStreamSourceProgress(next: next, lastActive: now)
            return true
        }
        guard stillCurrent else { return }
        if blocked {
            again(Self.sourceRetry)
        } else if records.count == Self.sourceBatch {
            loop.execute { self.copy(into: stream, from: originName, generation: generation, shard: shard) }
        } else {
            let from = next
            bus.streams.waitForRecords(originName, partition: 0, from: from, timeout: Self.sourceRetry, on: loop)
                .whenComplete { result in
                    if case .failure = result {
                        again(Self.sourceRetry)  // the origin went away: it may come back
                    } else {
                        self.copy(into: stream, from: originName, generation: generation, shard: shard)
                    }
                }
        }
    }

    /// nats-server's `StreamSourceInfo` of each origin `box` copies: `name`, `lag` (origin sequences not
    /// yet looked at), `active` (ns since a round last reached the origin; -1: never).
    func sourceInfo(_ box: StreamBox, config: JetStreamStreamConfig) -> [String: Any] {
        let origins = config.mirror.map { [$0] } ?? config.sources
        guard !origins.isEmpty else { return [:] }
        let progress = state.withLockedValue { $0.sourceProgress[box.name] ?? [:] }
        let now = bus.clock()
        let infos: [[String: Any]] = origins.map { origin in
            let known = progress[origin.name]
            var lag: UInt64 = 0
            if let originBox = bus.streams.stream(named: origin.name) {
                let last = originBox.partitions[0].info.lastOffset
                let next = known?.next ?? Self.start(origin, origin: originBox, fallbackTime: known?.fallbackTime)
                lag = last >= next ? last - next + 1 : 0
            }
            let active: Int64 = known?.lastActive.map { Int64(now >= $0 ? now - $0 : 0) } ?? -1
            return ["name": origin.name, "lag": lag, "active": active]
        }
        return config.mirror != nil ? ["mirror": infos[0]] : ["sources": infos]
    }

    /// Why `requested` may not mirror or source what it names: a cycle through other streams' origins,
    /// an origin whose messages may be larger than this stream takes, a filter no origin subject can
    /// match (nats-server's checks, made when the origin exists); a changed mirror on an update.
    func sourcesRefusal(_ requested: JetStreamStreamConfig, existing: JetStreamStreamConfig?) -> JetStreamAPIError? {
        if let existing, existing.mirror != requested.mirror { return .mirrorNotUpdatable }
        let origins = requested.mirror.map { [$0] } ?? requested.sources
        guard !origins.isEmpty else { return nil }
        let kept = state.withLockedValue { $0.kept }
        var visited: Set<String> = [requested.name]
        var toVisit = origins.map(\.name)
        while let name = toVisit.popLast() {
            if name == requested.name { return .invalidStreamConfig("detected cycle") }
            guard visited.insert(name).inserted else { continue }
            if let further = kept[name] {
                toVisit += (further.mirror.map { [$0] } ?? further.sources).map(\.name)
            }
        }
        for origin in origins {
            guard let box = bus.streams.stream(named: origin.name) else { continue }
            let originSize = box.configuration.limits.maxMessageSize ?? -1
            if requested.maxMessageSize > 0, originSize > 0, requested.maxMessageSize < originSize {
                return requested.mirror != nil ? .mirrorMaxMessageSizeTooBig : .sourceMaxMessageSizeTooBig
            }
            // An origin that is itself a mirror or a pure source has no subjects to compare with.
            if let filter = origin.filter, !box.configuration.filters.isEmpty,
                !box.configuration.filters.contains(where: { JetStreamStreamConfig.overlap($0, filter) })
            {
                let kind = requested.mirror != nil ? "mirror" : "source"
                return .invalidStreamConfig(
                    "\(kind) '\(origin.name)' filter subject '\(origin.filterSubject ?? "")' does not overlap with "
                        + "any origin stream subject")
            }
        }
        return nil
    }
}
