import BusCore
import BusRuntime
import NATSWire
import NIOConcurrencyHelpers
import NIOCore

extension JetStreamService {
    // MARK: - Consumer API

    /// `CONSUMER.CREATE.<stream>[.<name>[.<filter>]]`, `CONSUMER.DURABLE.CREATE.<stream>.<durable>`,
    /// `CONSUMER.INFO|DELETE.<stream>.<name>`, `CONSUMER.NAMES|LIST.<stream>`,
    /// `CONSUMER.MSG.NEXT.<stream>.<name>`.
    func consumerRequest(
        _ words: [String], payload: ByteBuffer, client: any JetStreamClient, reply: String?, respond: @escaping Respond
    ) {
        removeInactiveConsumers(now: bus.clock())
        switch (words[1], words.count) {
        case ("CREATE", 3...):
            let filter = words.count > 4 ? words[4...].joined(separator: ".") : nil
            return respond(
                createConsumer(
                    stream: words[2], name: words.count > 3 ? words[3] : nil, filter: filter, payload: payload))
        case ("DURABLE", 5) where words[2] == "CREATE":
            return respond(
                createConsumer(stream: words[3], name: words[4], filter: nil, payload: payload, legacyDurable: true))
        case ("INFO", 4):
            if let consumer = consumer(stream: words[2], name: words[3]), consumer.config.deliverSubject != nil {
                // A push consumer's deliveries leave from its pushing loop, and its `num_pending` stops
                // counting them as they are published there: the answer is made on that loop too, so it
                // leaves after every delivery it no longer counts (they are handed to the client's loop
                // first). Made on the client's loop, it could overtake them, and nats.py's KV watcher
                // (`keys()`, `watch`) took "nothing pending, nothing received" for an empty bucket.
                let (stream, name) = (words[2], words[3])
                return pushShard(for: consumer).eventLoop.execute {
                    respond(self.consumerInfoResponse(stream: stream, name: name))
                }
            }
            return respond(consumerInfoResponse(stream: words[2], name: words[3]))
        case ("DELETE", 4):
            return respond(deleteConsumer(stream: words[2], name: words[3]))
        case ("NAMES", 3):
            return respond(consumerNames(stream: words[2], payload: payload, infos: false))
        case ("LIST", 3):
            return respond(consumerNames(stream: words[2], payload: payload, infos: true))
        case ("MSG", 5) where words[2] == "NEXT":
            guard let reply else { return }
            return pull(stream: words[3], consumer: words[4], payload: payload, client: client, inbox: reply)
        default:
            respond(JetStreamJSON.error("error_response", .badRequest))
        }
    }

    /// Deletes consumers idle past their `inactive_threshold` (ephemeral ones: 5 s) with no pull waiting.
    /// Swept when consumer requests arrive rather than on a timer: an idle server keeps them a while longer.
    func removeInactiveConsumers(now: UInt64) {
        let all = state.withLockedValue { state in state.consumers.values.flatMap(\.values) }
        let idle = all.filter { consumer in
            guard let threshold = consumer.config.removalThreshold, consumer.waiting == 0 else { return false }
            let lastActive = consumer.withState { $0.lastActive }
            return lastActive + threshold < now
        }
        guard !idle.isEmpty else { return }
        let removed = state.withLockedValue { state in
            idle.filter { consumer in
                guard state.consumers[consumer.stream]?[consumer.name] === consumer else { return false }
                state.consumers[consumer.stream]?[consumer.name] = nil
                return true
            }
        }
        for consumer in removed {
            // Idle here says nothing of another instance serving it: only its holder tells the others.
            persist(consumer, deleted: true, announce: isServedHere(consumer))
            adviseConsumer(.delete, stream: consumer.stream, consumer: consumer.name)
        }
        for stream in Set(removed.map(\.stream)) { sweepInterest(stream, full: true) }
    }

    func consumer(stream: String, name: String) -> JetStreamConsumer? {
        state.withLockedValue { $0.consumers[stream]?[name] }
    }

    func createConsumer(
        stream: String, name: String?, filter: String?, payload: ByteBuffer, legacyDurable: Bool = false
    ) -> ByteBuffer {
        let kind = "consumer_create_response"
        guard JetStreamStreamConfig.isValidName(stream), bus.streams.stream(named: stream) != nil else {
            return JetStreamJSON.error(kind, .streamNotFound)
        }
        let request: [String: Any]
        do { request = try JetStreamJSON.object(payload) } catch { return JetStreamJSON.error(kind, error) }
        guard let json = request["config"] as? [String: Any] else {
            return JetStreamJSON.error(kind, .consumerConfigRequired)
        }
        if let named = JetStreamJSON.string(request, "stream_name"), !named.isEmpty, named != stream {
            return JetStreamJSON.error(kind, .streamMismatch)
        }
        let durable = JetStreamJSON.string(json, "durable_name").flatMap { $0.isEmpty ? nil : $0 }
        let configName = JetStreamJSON.string(json, "name").flatMap { $0.isEmpty ? nil : $0 }
        // nats-server checks the subject's name first: a durable name that differs is 10017.
        if let name, let given = durable ?? configName, given != name {
            return JetStreamJSON.error(kind, .durableNameNotMatchSubject)
        }
        if let durable, let configName, durable != configName {
            return JetStreamJSON.error(kind, .durableAndNameMismatch)
        }
        let consumerName = name ?? configName ?? durable ?? bus.makeIdentifier() + bus.makeIdentifier()
        guard JetStreamConsumerConfig.isValidName(consumerName) else {
            return JetStreamJSON.error(kind, .badDurableName)
        }
        var config: JetStreamConsumerConfig
        do { config = try JetStreamConsumerConfig(json: json, name: consumerName) } catch {
            return JetStreamJSON.error(kind, error)
        }
        if legacyDurable { config.durableName = consumerName }
        if let filter {
            guard config.filterSubjects == [filter] else { return JetStreamJSON.error(kind, .filterSubjectMismatch) }
        }
        guard let box = bus.streams.stream(named: stream) else { return JetStreamJSON.error(kind, .streamNotFound) }
        // The stream's consumer_limits: defaults for what the consumer leaves out, and a most.
        let limits = self.config(of: box)
        // The stream's consumer_limits and the account's max_ack_pending: the smaller bounds it.
        let accountMost = self.limits.maxAckPending > 0 ? self.limits.maxAckPending : nil
        let mostAckPending = [limits.consumerMaxAckPending, accountMost].compactMap { $0 }.min()
        if let most = mostAckPending, config.ackPolicy != .none {
            if (JetStreamJSON.int(json, "max_ack_pending") ?? 0) == 0 {
                config.maxAckPending = most
            } else if config.maxAckPending < 0 || config.maxAckPending > most {
                return JetStreamJSON.error(
                    kind,
                    JetStreamAPIError(
                        code: 400, errCode: 10121,
                        description: "consumer max ack pending exceeds system limit of \(most)"))
            }
        }
        if let threshold = limits.consumerInactiveThreshold, config.inactiveThreshold == 0 {
            config.inactiveThreshold = threshold
        }
        let filters: [TopicFilter]
        do { filters = try config.filters() } catch { return JetStreamJSON.error(kind, error) }
        // A filter must be able to match something the stream captures (a mirror's or a source's copies
        // have their origins' subjects: not checked then).
        let copies = limits.mirror != nil || !limits.sources.isEmpty
        for filter in filters
        where !copies && !box.configuration.filters.contains(where: { JetStreamStreamConfig.overlap($0, filter) }) {
            return JetStreamJSON.error(kind, .filterNotSubset)
        }
        if let refusal = workQueueRefusal(config, filters: filters, stream: stream) {
            return JetStreamJSON.error(kind, refusal)
        }
        if let existing = consumer(stream: stream, name: consumerName) {
            // nats-server: creating what exists, identically, answers its info; a different start is refused.
            if existing.config == config
                || request["action"] as? String != "create"
                    && existing.config.filterSubjects
                        == config.filterSubjects
                    && existing.config.deliverPolicy == config.deliverPolicy
            {
                return JetStreamJSON.response(kind, consumerInfo(existing))
            }
            return JetStreamJSON.error(
                kind, JetStreamAPIError(code: 400, errCode: 10148, description: "consumer already exists"))
        }
        let start = startSequence(config, filters: filters, stream: stream)
        let now = bus.clock()
        var initial = JetStreamConsumerState(
            config: config, filters: filters, cursor: start,
            lastPerSubject: config.deliverPolicy == .lastPerSubject
                ? lastPerSubject(stream: stream, filters: filters) : [])
        initial.lastActive = now
        if config.replayPolicy == "original" { initial.replayThrough = box.partitions[0].info.lastOffset }
        let made = JetStreamConsumer(stream: stream, state: initial, created: now)
        let maxConsumers = self.limits.maxConsumers
        let registered = state.withLockedValue { state -> JetStreamConsumer? in
            if let raced = state.consumers[stream]?[consumerName] { return raced }
            if maxConsumers > 0, state.consumers.values.reduce(0, { $0 + $1.count }) >= maxConsumers { return nil }
            state.consumers[stream, default: [:]][consumerName] = made
            return made
        }
        guard let registered else { return JetStreamJSON.error(kind, .maximumConsumers) }
        if registered === made {
            persist(made, announce: true)
            adviseConsumer(.create, stream: stream, consumer: consumerName)
            if config.deliverSubject != nil { startPushing(made) }
        }
        return JetStreamJSON.response(kind, consumerInfo(registered))
    }

    /// The first stream sequence a new consumer looks at, by its deliver policy.
    func startSequence(_ config: JetStreamConsumerConfig, filters: [TopicFilter], stream: String) -> UInt64 {
        guard let box = bus.streams.stream(named: stream) else { return 1 }
        let partition = box.partitions[0].info
        switch config.deliverPolicy {
        case .all:
            return partition.firstOffset
        case .lastPerSubject:
            // Each subject's last comes first (`lastPerSubject(stream:filters:)`), then what is new.
            return partition.lastOffset + 1
        case .new:
            return partition.lastOffset + 1
        case .byStartSequence:
            return config.optStartSequence ?? 1
        case .byStartTime:
            return (try? bus.streams.offset(stream, partition: 0, atOrAfter: config.optStartTime ?? 0))
                ?? partition.lastOffset + 1
        case .last:
            guard partition.lastOffset > 0 else { return 1 }
            guard !filters.isEmpty else { return partition.lastOffset }
            // The newest record the filters match (a scan: the streams index subjects, not filters).
            var last: UInt64?
            var from = partition.firstOffset
            while let records = try? bus.streams.readIndex(stream, partition: 0, from: from, limit: 1024).records,
                let tail = records.last
            {
                for record in records where filters.contains(where: { $0.matches(record.topic) }) {
                    last = record.offset
                }
                from = tail.offset + 1
            }
            return last ?? partition.lastOffset + 1
        }
    }

    /// Each matching subject's last sequence in the stream now (a scan: the streams index subjects, not filters).
    func lastPerSubject(stream: String, filters: [TopicFilter]) -> [UInt64] {
        var records: [(offset: UInt64, topic: Topic)] = []
        var from: UInt64 = 0
        while let read = try? bus.streams.readIndex(stream, partition: 0, from: from, limit: 1024).records,
            let tail = read.last
        {
            records += read.map { (offset: $0.offset, topic: $0.topic) }
            from = tail.offset + 1
        }
        return JetStreamConsumerState.lastPerSubject(records, filters: filters)
    }

    /// Records the consumer has not been given yet (`num_pending`).
    func unseenCount(_ consumer: JetStreamConsumer, cursor: UInt64, filters: [TopicFilter]) -> Int {
        guard let box = bus.streams.stream(named: consumer.stream) else { return 0 }
        let partition = box.partitions[0].info
        guard partition.lastOffset >= cursor else { return 0 }
        guard !filters.isEmpty else {
            return Int(partition.lastOffset - max(cursor, partition.firstOffset) + 1)
        }
        var count = 0
        var from = cursor
        while let records = try? bus.streams.readIndex(consumer.stream, partition: 0, from: from, limit: 1024).records,
            let tail = records.last
        {
            count += records.filter { record in filters.contains { $0.matches(record.topic) } }.count
            from = tail.offset + 1
        }
        return count
    }

    /// nats-server's `ConsumerInfo` members.
    func consumerInfo(_ consumer: JetStreamConsumer) -> [String: Any] {
        let snapshot = consumer.withState { $0 }
        var info: [String: Any] = [
            "stream_name": consumer.stream, "name": consumer.name, "created": JetStreamJSON.time(consumer.created),
            "config": snapshot.config.json,
            "delivered": [
                "consumer_seq": snapshot.deliveredConsumerSequence, "stream_seq": snapshot.deliveredStreamSequence,
            ],
            "ack_floor": [
                "consumer_seq": snapshot.ackFloorConsumerSequence, "stream_seq": snapshot.ackFloorStreamSequence,
            ],
            "num_ack_pending": snapshot.pending.count, "num_redelivered": snapshot.redeliveredCount,
            "num_waiting": consumer.waiting,
            "num_pending": unseenCount(consumer, cursor: snapshot.cursor, filters: snapshot.filters)
                + snapshot.lastPerSubject.count,
            "ts": JetStreamJSON.time(bus.clock()),
        ]
        // nats-server sends the member only when it is true.
        if consumer.isPushBound { info["push_bound"] = true }
        return info
    }

    func consumerInfoResponse(stream: String, name: String) -> ByteBuffer {
        let kind = "consumer_info_response"
        guard bus.streams.stream(named: stream) != nil else { return JetStreamJSON.error(kind, .streamNotFound) }
        guard let consumer = consumer(stream: stream, name: name) else {
            return JetStreamJSON.error(kind, .consumerNotFound)
        }
        return JetStreamJSON.response(kind, consumerInfo(consumer))
    }

    func deleteConsumer(stream: String, name: String) -> ByteBuffer {
        let kind = "consumer_delete_response"
        guard bus.streams.stream(named: stream) != nil else { return JetStreamJSON.error(kind, .streamNotFound) }
        let removed = state.withLockedValue { $0.consumers[stream]?.removeValue(forKey: name) }
        guard let removed else { return JetStreamJSON.error(kind, .consumerNotFound) }
        persist(removed, deleted: true, announce: true)
        adviseConsumer(.delete, stream: stream, consumer: name)
        sweepInterest(stream, full: true)
        return JetStreamJSON.response(kind, ["success": true])
    }

    func consumerNames(stream: String, payload: ByteBuffer, infos: Bool) -> ByteBuffer {
        let kind = infos ? "consumer_list_response" : "consumer_names_response"
        guard bus.streams.stream(named: stream) != nil else { return JetStreamJSON.error(kind, .streamNotFound) }
        let request: [String: Any]
        do { request = try JetStreamJSON.object(payload) } catch { return JetStreamJSON.error(kind, error) }
        let consumers = state.withLockedValue { state in
            (state.consumers[stream] ?? [:]).sorted { $0.key < $1.key }.map(\.value)
        }
        let limit = infos ? 256 : 1024
        let listed = page(of: consumers, request: request, limit: limit)
        var document: [String: Any] = ["total": listed.total, "offset": listed.offset, "limit": limit]
        if infos {
            document["consumers"] = listed.items.map(consumerInfo)
            document["missing"] = [String]()
        } else {
            document["consumers"] = listed.items.map(\.name)
        }
        return JetStreamJSON.response(kind, document)
    }
}
