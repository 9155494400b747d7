import BusCore
import BusRuntime
import Foundation
import NATSWire
import NIOConcurrencyHelpers
import NIOCore

extension JetStreamService {
    // MARK: - Streams

    /// The streams JetStream can name (a Kafka topic `a.b` cannot be addressed in a `$JS.API` subject).
    func jetStreamStreams() -> [StreamBox] {
        bus.streams.list().filter { JetStreamStreamConfig.isValidName($0.name) }
    }

    /// How a stream's configuration looks to JetStream, with what this service keeps beside it.
    func config(of box: StreamBox) -> JetStreamStreamConfig {
        var config = JetStreamStreamConfig(box.configuration)
        if let kept = state.withLockedValue({ $0.kept[box.name] }) {
            config.description = kept.description
            config.denyDelete = kept.denyDelete
            config.denyPurge = kept.denyPurge
            config.allowDirect = kept.allowDirect
            config.allowRollup = kept.allowRollup
            config.allowMessageTTL = kept.allowMessageTTL
            config.republish = kept.republish
            config.consumerInactiveThreshold = kept.consumerInactiveThreshold
            config.consumerMaxAckPending = kept.consumerMaxAckPending
            config.mirror = kept.mirror
            config.sources = kept.sources
            config.mirrorDirect = kept.mirrorDirect
        }
        return config
    }

    /// nats-server's `StreamInfo` members (`config`, `created`, `state`, `ts`).
    func streamInfo(_ box: StreamBox) -> [String: Any] {
        let info = box.info
        let partition = info.partitions[0]
        let consumers = state.withLockedValue { $0.consumers[box.name]?.count ?? 0 }
        let created = state.withLockedValue { $0.created[box.name] } ?? startedAt
        var streamState: [String: Any] = [
            "messages": info.messages, "bytes": Self.storedBytes(info, storage: box.storage),
            "consumer_count": consumers,
            "first_seq": partition.lastOffset == 0 ? 0 : partition.firstOffset, "last_seq": partition.lastOffset,
            "first_ts": JetStreamJSON.time(0), "last_ts": JetStreamJSON.time(0),
        ]
        if let first = try? bus.streams.readIndex(box.name, partition: 0, from: 0, limit: 1).records.first {
            streamState["first_ts"] = JetStreamJSON.time(first.time)
        }
        if let last = try? bus.streams.lastIndex(box.name, partition: 0) {
            streamState["last_ts"] = JetStreamJSON.time(last.time)
        }
        if info.messages == 0, partition.lastOffset > 0 { streamState["first_seq"] = partition.lastOffset + 1 }
        let config = config(of: box)
        var document: [String: Any] = [
            "config": config.json, "created": JetStreamJSON.time(created), "state": streamState,
            "ts": JetStreamJSON.time(bus.clock()),
        ]
        document.merge(sourceInfo(box, config: config)) { _, new in new }
        return document
    }

    /// `{"subjects_filter": s}` adds `state.subjects`: the count of messages of each subject it matches.
    func streamInfoResponse(_ name: String, payload: ByteBuffer) -> ByteBuffer {
        let kind = "stream_info_response"
        guard let box = bus.streams.stream(named: name), JetStreamStreamConfig.isValidName(name) else {
            return JetStreamJSON.error(kind, .streamNotFound)
        }
        let request: [String: Any]
        do { request = try JetStreamJSON.object(payload) } catch { return JetStreamJSON.error(kind, error) }
        var info = streamInfo(box)
        if let subject = JetStreamJSON.string(request, "subjects_filter"), !subject.isEmpty {
            guard let text = try? NATSSubjectMapping.filterText(forSubject: subject),
                let filter = try? TopicFilter(text)
            else { return JetStreamJSON.error(kind, .badRequest) }
            var subjects: [String: Int] = [:]
            for (topic, count) in box.partitions[0].subjectCounts where count > 0 {
                if filter.matches(Topic(trusted: topic)) {
                    subjects[NATSSubjectMapping.subject(forTopic: topic)] = count
                }
            }
            // None matching: no `subjects` at all (nats-server omits the empty map).
            var state = info["state"] as? [String: Any] ?? [:]
            if !subjects.isEmpty { state["subjects"] = subjects }
            state["num_subjects"] = subjects.count
            info["state"] = state
        }
        return JetStreamJSON.response(kind, info)
    }

    /// The first stream other than `name` whose subjects overlap `filters`.
    func overlappingStream(_ filters: [TopicFilter], except name: String) -> String? {
        for box in bus.streams.list() where box.name != name {
            for existing in box.configuration.filters {
                if filters.contains(where: { JetStreamStreamConfig.overlap($0, existing) }) { return box.name }
            }
        }
        return nil
    }

    /// A create or update request's configuration, as JetStream's and as the bus's stream.
    private static func requestedConfiguration(_ name: String, _ payload: ByteBuffer, update: Bool = false)
        throws(JetStreamAPIError) -> (JetStreamStreamConfig, StreamConfiguration)
    {
        let requested = try JetStreamStreamConfig(
            json: try JetStreamJSON.object(payload), nameInSubject: name, update: update)
        return (requested, try requested.streamConfiguration())
    }

    func createStream(_ name: String, payload: ByteBuffer, respond: @escaping Respond) {
        let kind = "stream_create_response"
        let requested: JetStreamStreamConfig
        let configuration: StreamConfiguration
        do {
            (requested, configuration) = try Self.requestedConfiguration(name, payload)
        } catch {
            return respond(JetStreamJSON.error(kind, error))
        }
        if let existing = bus.streams.stream(named: name) {
            // nats-server: creating what exists, identically, is not an error.
            // A stream made before JetStream streams counted records (store v6) is the same stream.
            var made = existing.configuration
            if made.limits.recordOverhead == nil { made.limits.recordOverhead = configuration.limits.recordOverhead }
            guard made == configuration, config(of: existing) == requested else {
                return respond(JetStreamJSON.error(kind, .streamNameExists))
            }
            return respond(JetStreamJSON.response(kind, streamInfo(existing)))
        }
        if let refusal = limitsRefusal(configuration, creating: true) {
            return respond(JetStreamJSON.error(kind, refusal))
        }
        if overlappingStream(configuration.filters, except: name) != nil {
            return respond(JetStreamJSON.error(kind, .subjectOverlap))
        }
        if let refusal = sourcesRefusal(requested, existing: nil) { return respond(JetStreamJSON.error(kind, refusal)) }
        let now = bus.clock()
        bus.streams.create(configuration) { [self] result in
            switch result {
            case .success:
                state.withLockedValue {
                    $0.kept[name] = requested
                    $0.created[name] = now
                }
                persistSettings(of: name)
                startRepublishing(name)
                startSourcing(name)
                adviseStream(.create, name)
                guard let box = bus.streams.stream(named: name) else {
                    return respond(JetStreamJSON.error(kind, .streamNotFound))
                }
                var info = streamInfo(box)
                info["did_create"] = true
                respond(JetStreamJSON.response(kind, info))
            case .failure(.streamExists):
                respond(JetStreamJSON.error(kind, .streamNameExists))
            case .failure(.invalidStream(let problem)):
                respond(JetStreamJSON.error(kind, .invalidStreamConfig(problem)))
            case .failure(let error):
                respond(JetStreamJSON.error(kind, .streamCreate("\(error)")))
            }
        }
    }

    func updateStream(_ name: String, payload: ByteBuffer, respond: @escaping Respond) {
        let kind = "stream_update_response"
        let requested: JetStreamStreamConfig
        let configuration: StreamConfiguration
        do {
            (requested, configuration) = try Self.requestedConfiguration(name, payload, update: true)
        } catch {
            return respond(JetStreamJSON.error(kind, error))
        }
        guard let existing = bus.streams.stream(named: name), JetStreamStreamConfig.isValidName(name) else {
            return respond(JetStreamJSON.error(kind, .streamNotFound))
        }
        if let refusal = limitsRefusal(configuration, creating: false) {
            return respond(JetStreamJSON.error(kind, refusal))
        }
        guard !existing.configuration.limits.sealed || configuration.limits.sealed else {
            return respond(
                JetStreamJSON.error(
                    kind, .invalidStreamConfig("stream configuration update can not unseal a sealed stream")))
        }
        guard existing.configuration.retention == configuration.retention else {
            return respond(
                JetStreamJSON.error(
                    kind, .invalidStreamConfig("stream configuration update can not change retention policy")))
        }
        guard existing.storage == configuration.storage else {
            return respond(
                JetStreamJSON.error(
                    kind, .invalidStreamConfig("stream configuration update can not change storage type")))
        }
        if overlappingStream(configuration.filters, except: name) != nil {
            return respond(JetStreamJSON.error(kind, .subjectOverlap))
        }
        if let refusal = sourcesRefusal(requested, existing: config(of: existing)) {
            return respond(JetStreamJSON.error(kind, refusal))
        }
        bus.streams.update(name, limits: configuration.limits, filters: configuration.filters) { [self] result in
            switch result {
            case .success:
                state.withLockedValue { $0.kept[name] = requested }
                persistSettings(of: name)
                startRepublishing(name)
                startSourcing(name)
                adviseStream(.modify, name)
                guard let box = bus.streams.stream(named: name) else {
                    return respond(JetStreamJSON.error(kind, .streamNotFound))
                }
                respond(JetStreamJSON.response(kind, streamInfo(box)))
            case .failure(.streamNotFound):
                respond(JetStreamJSON.error(kind, .streamNotFound))
            case .failure(.invalidStream(let problem)):
                respond(JetStreamJSON.error(kind, .invalidStreamConfig(problem)))
            case .failure(let error):
                respond(JetStreamJSON.error(kind, .streamUpdate("\(error)")))
            }
        }
    }

    func deleteStream(_ name: String, respond: @escaping Respond) {
        let kind = "stream_delete_response"
        guard JetStreamStreamConfig.isValidName(name), bus.streams.stream(named: name) != nil else {
            return respond(JetStreamJSON.error(kind, .streamNotFound))
        }
        bus.streams.delete(name) { [self] result in
            switch result {
            case .success, .failure(.notStored):
                // Gone from memory either way: its consumers go too (and from the consumer store).
                let consumers = state.withLockedValue { state in
                    let consumers = state.consumers[name].map { Array($0.values) } ?? []
                    state.consumers[name] = nil
                    state.kept[name] = nil
                    state.created[name] = nil
                    state.interestSwept[name] = nil
                    return consumers
                }
                for consumer in consumers { persist(consumer, deleted: true, announce: true) }
                persistSettings(of: name)
                startRepublishing(name)
                startSourcing(name)
                adviseStream(.delete, name)
                if case .failure(let error) = result {
                    respond(JetStreamJSON.error(kind, .streamUpdate("\(error)")))
                } else {
                    respond(JetStreamJSON.response(kind, ["success": true]))
                }
            case .failure:
                respond(JetStreamJSON.error(kind, .streamNotFound))
            }
        }
    }

    /// `{"filter": subject, "seq": n, "keep": n}`: what goes is below `seq`, or all but the newest `keep`,
    /// on `filter`'s subjects (everything when absent).
    func purgeStream(_ name: String, payload: ByteBuffer, respond: @escaping Respond) {
        let kind = "stream_purge_response"
        guard JetStreamStreamConfig.isValidName(name), let box = bus.streams.stream(named: name) else {
            return respond(JetStreamJSON.error(kind, .streamNotFound))
        }
        let request: [String: Any]
        do { request = try JetStreamJSON.object(payload) } catch { return respond(JetStreamJSON.error(kind, error)) }
        if config(of: box).denyPurge {
            return respond(JetStreamJSON.error(kind, .purgeFailed("stream purge not permitted")))
        }
        if box.configuration.limits.sealed { return respond(JetStreamJSON.error(kind, .streamSealed)) }
        var filter: TopicFilter?
        if let subject = JetStreamJSON.string(request, "filter"), !subject.isEmpty, subject != ">" {
            guard let text = try? NATSSubjectMapping.filterText(forSubject: subject),
                let parsed = try? TopicFilter(text)
            else { return respond(JetStreamJSON.error(kind, .badRequest)) }
            filter = parsed
        }
        let sequence = JetStreamJSON.int(request, "seq").flatMap { $0 > 0 ? UInt64($0) : nil }
        let keep = JetStreamJSON.int(request, "keep").flatMap { $0 > 0 ? $0 : nil }
        if sequence != nil && keep != nil {
            return respond(JetStreamJSON.error(kind, .purgeFailed("sequence and keep cannot both be set")))
        }
        bus.streams.purge(name, subject: filter, before: sequence, keep: keep) { result in
            switch result {
            case .success(let count):
                respond(JetStreamJSON.response(kind, ["success": true, "purged": count]))
            case .failure(let error):
                respond(JetStreamJSON.error(kind, .purgeFailed("\(error)")))
            }
        }
    }

    /// `{"offset": n, "subject": s}`: the names of the streams (whose subjects overlap `subject`).
    func streamNames(_ payload: ByteBuffer) -> ByteBuffer {
        let kind = "stream_names_response"
        let request: [String: Any]
        do { request = try JetStreamJSON.object(payload) } catch { return JetStreamJSON.error(kind, error) }
        let listed = page(of: matchingStreams(request), request: request, limit: 1024)
        return JetStreamJSON.response(
            kind, ["total": listed.total, "offset": listed.offset, "limit": 1024, "streams": listed.items.map(\.name)])
    }

    func streamList(_ payload: ByteBuffer) -> ByteBuffer {
        let kind = "stream_list_response"
        let request: [String: Any]
        do { request = try JetStreamJSON.object(payload) } catch { return JetStreamJSON.error(kind, error) }
        let listed = page(of: matchingStreams(request), request: request, limit: 256)
        return JetStreamJSON.response(
            kind,
            [
                "total": listed.total, "offset": listed.offset, "limit": 256, "streams": listed.items.map(streamInfo),
                "missing": [String](),
            ])
    }

    private func matchingStreams(_ request: [String: Any]) -> [StreamBox] {
        let streams = jetStreamStreams()
        guard let subject = JetStreamJSON.string(request, "subject"), !subject.isEmpty,
            let text = try? NATSSubjectMapping.filterText(forSubject: subject), let filter = try? TopicFilter(text)
        else { return streams }
        return streams.filter { box in box.configuration.filters.contains { JetStreamStreamConfig.overlap($0, filter) }
        }
    }

    func page<T>(of items: [T], request: [String: Any], limit: Int) -> (total: Int, offset: Int, items: [T]) {
        let offset = min(max(0, JetStreamJSON.int(request, "offset") ?? 0), items.count)
        return (items.count, offset, Array(items[offset..<min(items.count, offset + limit)]))
    }

    // MARK: - Messages

    /// `{"seq": n}`, `{"last_by_subj": s}` or `{"next_by_subj": s, "seq": n}`; answered on `loop` (at once,
    /// or once the store has read a record older than the stream keeps in memory).
    func getMessage(_ name: String, payload: ByteBuffer, on loop: any EventLoop, respond: @escaping Respond) {
        let kind = "stream_msg_get_response"
        guard JetStreamStreamConfig.isValidName(name), bus.streams.stream(named: name) != nil else {
            return respond(JetStreamJSON.error(kind, .streamNotFound))
        }
        let request: [String: Any]
        do { request = try JetStreamJSON.object(payload) } catch { return respond(JetStreamJSON.error(kind, error)) }
        let found: StreamIndexRecord
        do { found = try findMessage(name, request: request) } catch {
            return respond(JetStreamJSON.error(kind, error))
        }
        record(name, found, on: loop).whenComplete { result in
            switch result {
            case .success(let record?): respond(Self.messageResponse(kind, record))
            case .success(nil): respond(JetStreamJSON.error(kind, .noMessageFound))
            case .failure(let error): respond(JetStreamJSON.error(kind, JetStreamAPIError.storeFailed("\(error)")))
            }
        }
    }

    /// The body of the record `found` names (read from the store when the stream no longer keeps it in
    /// memory); nil when it went meanwhile.
    func record(_ name: String, _ found: StreamIndexRecord, on loop: any EventLoop)
        -> EventLoopFuture<StreamReadRecord?>
    {
        bus.streams.read(name, partition: 0, from: found.offset, limit: 1, on: loop).map { result in
            result.records.first.flatMap { $0.offset == found.offset ? $0 : nil }
        }
    }

    /// A `STREAM.MSG.GET` answer.
    private static func messageResponse(_ kind: String, _ found: StreamReadRecord) -> ByteBuffer {
        let message = found.record.message
        var document: [String: Any] = [
            "subject": NATSSubjectMapping.subject(forTopic: message.topic.name), "seq": found.offset,
            "time": JetStreamJSON.time(found.time),
        ]
        if message.payload.readableBytes > 0 {
            document["data"] = Data(message.payload.readableBytesView).base64EncodedString()
        }
        if let block = NATSHeaderBlock(message.headers) {
            var bytes = ByteBuffer()
            block.write(to: &bytes)
            document["hdrs"] = Data(bytes.readableBytesView).base64EncodedString()
        }
        return JetStreamJSON.response(kind, ["message": document])
    }

    /// The record a `MSG.GET` or `DIRECT.GET` request names, from the stream's index: `{"seq": n}`,
    /// `{"last_by_subj": s}` or `{"next_by_subj": s, "seq": n}`.
    func findMessage(_ name: String, request: [String: Any]) throws(JetStreamAPIError) -> StreamIndexRecord {
        var found: StreamIndexRecord?
        if let subject = JetStreamJSON.string(request, "last_by_subj") {
            if let topic = try? NATSSubjectMapping.topicName(forSubject: subject) {
                found = try? bus.streams.last(name, partition: 0, subject: topic)
            } else {
                // A filter (`$O.bucket.M.>`, an object store's listing): the newest of the subjects it matches.
                // A subject no message can have (`$O.b.M.`, an object store's empty name): nothing found,
                // as nats-server answers.
                guard let text = try? NATSSubjectMapping.filterText(forSubject: subject),
                    let filter = try? TopicFilter(text), let box = bus.streams.stream(named: name)
                else { throw .noMessageFound }
                for (topic, count) in box.partitions[0].subjectCounts
                where count > 0 && filter.matches(Topic(trusted: topic)) {
                    if let last = try? bus.streams.last(name, partition: 0, subject: topic),
                        last.offset > found?.offset ?? 0
                    {
                        found = last
                    }
                }
            }
        } else if let subject = JetStreamJSON.string(request, "next_by_subj") {
            guard let text = try? NATSSubjectMapping.filterText(forSubject: subject),
                let filter = try? TopicFilter(text)
            else { throw .badRequest }
            var from = UInt64(max(0, JetStreamJSON.int(request, "seq") ?? 0))
            while found == nil,
                let records = try? bus.streams.readIndex(name, partition: 0, from: from, limit: 256).records,
                let last = records.last
            {
                found = records.first { filter.matches($0.topic) }
                from = last.offset + 1
            }
        } else if let sequence = JetStreamJSON.int(request, "seq"), sequence > 0 {
            let record = try? bus.streams.readIndex(name, partition: 0, from: UInt64(sequence), limit: 1).records.first
            if let record, record.offset == UInt64(sequence) { found = record }
        } else {
            throw .badRequest
        }
        guard let found else { throw .noMessageFound }
        return found
    }

    /// `{"seq": n, "no_erase": bool}` (erasing is deleting here: the record is gone from the store).
    func deleteMessage(_ name: String, payload: ByteBuffer, respond: @escaping Respond) {
        let kind = "stream_msg_delete_response"
        guard JetStreamStreamConfig.isValidName(name), let box = bus.streams.stream(named: name) else {
            return respond(JetStreamJSON.error(kind, .streamNotFound))
        }
        let request: [String: Any]
        do { request = try JetStreamJSON.object(payload) } catch { return respond(JetStreamJSON.error(kind, error)) }
        guard let sequence = JetStreamJSON.int(request, "seq"), sequence > 0 else {
            return respond(JetStreamJSON.error(kind, .badRequest))
        }
        if config(of: box).denyDelete {
            return respond(JetStreamJSON.error(kind, .messageDeleteFailed("message delete not permitted")))
        }
        if box.configuration.limits.sealed { return respond(JetStreamJSON.error(kind, .streamSealed)) }
        bus.streams.deleteRecord(name, partition: 0, offset: UInt64(sequence)) { result in
            switch result {
            case .success(true):
                respond(JetStreamJSON.response(kind, ["success": true]))
            case .success(false):
                respond(JetStreamJSON.error(kind, .messageDeleteFailed("no message found")))
            case .failure(let error):
                respond(JetStreamJSON.error(kind, .messageDeleteFailed("\(error)")))
            }
        }
    }
}
