import BusCore
import BusRuntime
import NIOConcurrencyHelpers
import NIOCore

extension JetStreamService {
    // MARK: - Durable consumers made or deleted on another instance sharing the store

    /// The notification a durable consumer created or deleted on one instance sends to the others
    /// sharing the store (docs/storage.md, "JetStream durable consumers"). Payload: the sending instance's
    /// slot, the stream, the consumer's name, one line each, then the consumer's record as
    /// `_jetstream_consumers` keeps it (configuration, ack floor, creation time), or nothing: deleted.
    static let consumerChannel = "switchboard_jetstream_consumer"

    /// PostgreSQL refuses a NOTIFY payload of 8000 bytes or more: a consumer whose record does not fit
    /// (hundreds of filter subjects) is not announced, and the others know of it after their next start.
    static let maximumNoticePayload = 7_900

    /// Tells the other instances sharing the store that durable `consumer` was created here, or deleted
    /// (nothing when this instance is the store's only user). Submitted right after the consumer's record
    /// (`drainAppends`), so it commits with it or after it; it carries the record, so the others need not
    /// read it.
    func announce(_ consumer: JetStreamConsumer, deleted: Bool) {
        guard let claims = bus.instanceClaims, consumer.config.durableName != nil else { return }
        var payload = "\(claims.instanceSlot)\n\(consumer.stream)\n\(consumer.name)\n"
        if !deleted {
            payload += String(buffer: consumer.storedRecord(ackFloor: consumer.withState { $0.ackFloorStreamSequence }))
        }
        guard payload.utf8.count < Self.maximumNoticePayload else { return }
        claims.announce(Self.consumerChannel, payload)
    }

    /// Listens for consumers other instances create or delete (call once, at start).
    func watchConsumerNotices() {
        guard let claims = bus.instanceClaims else { return }
        let slot = "\(claims.instanceSlot)"
        claims.listen(Self.consumerChannel) { [self] payload in
            let lines = payload.split(separator: "\n", maxSplits: 3, omittingEmptySubsequences: false)
            // Stream and consumer names hold no white space (nats-server's rule, `isValidName`).
            guard lines.count == 4, lines[0] != slot else { return }
            consumerAnnounced(stream: String(lines[1]), name: String(lines[2]), record: lines[3])
        }
        // Creations and deletions announced while the listening connection was down were missed: the
        // store's records say what they were.
        claims.onListenResumed { [self] in
            claims.loadRecords(ofStream: JetStreamStreamConfig.consumerStoreName) { [self] result in
                guard case .success(let records?) = result else { return }
                catchUp(records)
            }
        }
    }

    /// Takes the durable consumers' records as the store holds them (the newest of each consumer's subject
    /// counts): a consumer created elsewhere is taken up, one made again elsewhere replaces the copy here,
    /// and one deleted elsewhere (an empty record) goes — unless the copy here was created after that
    /// deletion was stored (made here since; its own record is on its way).
    func catchUp(_ records: [BusMessage]) {
        var newest: [String: BusMessage] = [:]
        for record in records where record.topic.name.hasPrefix(Self.consumerPrefix) {
            newest[record.topic.name] = record
        }
        for (subject, record) in newest {
            let path = subject.dropFirst(Self.consumerPrefix.count)
            guard let slash = path.firstIndex(of: "/") else { continue }
            let stream = String(path[..<slash])
            let name = String(path[path.index(after: slash)...])
            if record.payload.readableBytes > 0 {
                consumerAnnounced(stream: stream, name: name, record: Substring(String(buffer: record.payload)))
                continue
            }
            drop(stream: stream, name: name) { $0.created < record.timestamp }
        }
    }

    /// The subject prefix of the durable consumers' records in `_jetstream_consumers`.
    static let consumerPrefix = "$JS/consumers/"

    /// A consumer another instance created (`record`) or deleted (empty `record`). A copy here of
    /// another consumer of that name (one deleted there and made again) goes first; one made here under
    /// the same creation time is the same consumer and stays as it is (its state here is newer).
    private func consumerAnnounced(stream: String, name: String, record: Substring) {
        if record.isEmpty {
            drop(stream: stream, name: name) { _ in true }
            return
        }
        let message = BusMessage(
            topic: Topic(trusted: "$JS/consumers/\(stream)/\(name)"), payload: ByteBuffer(string: String(record)),
            timestamp: bus.clock())
        let created = (try? JetStreamJSON.object(message.payload)).flatMap { JetStreamJSON.int($0, "created") }
        let announced = created.map { UInt64(max(0, $0)) }
        drop(stream: stream, name: name) { $0.created != announced }
        _ = restoreConsumer(message)
    }

    /// Forgets this instance's copy of a consumer another instance deleted or made again, when `goes`
    /// says so of it. Nothing is written: the other instance stored the change. A claim held on it goes,
    /// so pulls here get 10014 as for any consumer not there.
    private func drop(stream: String, name: String, when goes: (JetStreamConsumer) -> Bool) {
        let removed = state.withLockedValue { state -> JetStreamConsumer? in
            guard let existing = state.consumers[stream]?[name], goes(existing) else { return nil }
            state.consumers[stream]?[name] = nil
            return existing
        }
        guard let removed else { return }
        releaseClaim(of: removed)
    }
}
