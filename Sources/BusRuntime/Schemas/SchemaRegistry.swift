import BusCore
import DequeModule
import NIOConcurrencyHelpers
import NIOCore
import SchemaKit

/// Confluent's Schema Registry on SchemaKit (issue 18, docs/protocols/schema-registry.md): subjects with
/// versions, global ids, references, compatibility levels, soft and permanent deletes. Its log is the
/// internal stream `_schemas` (one partition, stored, no limits), as Confluent's is the Kafka topic
/// `_schemas`: every change is one record, acknowledged once the store has it, and `start` replays the
/// stream to rebuild the registry after a restart (SQLite and PostgreSQL alike, no table of its own).
///
/// Reads take the lock for a snapshot; changes run one at a time (decided on the state every earlier
/// change left, applied once stored), so two registrations of one subject cannot both become version 2.
package final class SchemaRegistry: Sendable {
    /// The internal stream holding the registry's log.
    package static let streamName = "_schemas"

    private struct Core: Sendable {
        var state = SchemaRegistryState()
        /// A change is deciding or being stored; the others wait in `waiting`.
        var busy = false
        var waiting: Deque<Change> = []
    }

    /// One queued change: runs, then calls its argument once it is answered.
    typealias Change = @Sendable (_ done: @escaping @Sendable () -> Void) -> Void

    private let core = NIOLockedValueBox(Core())
    let streams: StreamRegistry
    private let clock: @Sendable () -> UInt64

    init(streams: StreamRegistry, clock: @escaping @Sendable () -> UInt64) {
        self.streams = streams
        self.clock = clock
    }

    var state: SchemaRegistryState { core.withLockedValue { $0.state } }

    // MARK: - Starting

    /// Replays the `_schemas` stream, when the store has one (after the stored streams are restored:
    /// ServerApp's startup). The stream is created by the first change, so a server whose registry is never
    /// written has no `_schemas` among its streams. Completes with the number of records replayed.
    package func start(completion: @escaping @Sendable (Result<Int, BusError>) -> Void) {
        completion(.success(replay()))
    }

    /// `start`, awaited.
    package func start() async throws(BusError) -> Int {
        let result = await withCheckedContinuation { continuation in
            start { continuation.resume(returning: $0) }
        }
        return try result.get()
    }

    /// Rebuilds the state from the stream's records.
    private func replay() -> Int {
        var state = SchemaRegistryState()
        var count = 0
        if let result = try? streams.read(Self.streamName, partition: 0, from: 0) {
            for stored in result.records {
                let payload = stored.record.message.payload
                guard let record = SchemaRegistryRecord.decode(Array(payload.readableBytesView)) else { continue }
                if state.apply(record) { count += 1 }
            }
        }
        core.withLockedValue { $0.state = state }
        return count
    }

    // MARK: - Changing, one at a time

    /// What a change decided: an answer without a write, or a record to store first.
    enum Decision<Value: Sendable>: Sendable {
        case answer(Value)
        case write(SchemaRegistryRecord, parsed: ParsedSchema?, answer: Value)
    }

    /// Queues a change: `decide` runs on the state every earlier change left; a record it returns is stored
    /// in `_schemas` and applied before `completion` runs (on the store's thread, or at once).
    func change<Value: Sendable>(
        _ decide: @escaping @Sendable (SchemaRegistryState) throws(SchemaRegistryError) -> Decision<Value>,
        completion: @escaping @Sendable (Result<Value, SchemaRegistryError>) -> Void
    ) {
        enqueue { done in
            let decision: Decision<Value>
            do throws(SchemaRegistryError) {
                decision = try decide(self.state)
            } catch {
                completion(.failure(error))
                return done()
            }
            switch decision {
            case .answer(let value):
                completion(.success(value))
                done()
            case .write(let record, let parsed, let value):
                self.store(record) { error in
                    if let error {
                        completion(.failure(error))
                    } else {
                        self.core.withLockedValue { _ = $0.state.apply(record, parsed: parsed) }
                        completion(.success(value))
                    }
                    done()
                }
            }
        }
    }

    /// `change`, awaited.
    func change<Value: Sendable>(
        _ decide: @escaping @Sendable (SchemaRegistryState) throws(SchemaRegistryError) -> Decision<Value>
    ) async throws(SchemaRegistryError) -> Value {
        let result = await withCheckedContinuation { continuation in
            change(decide) { continuation.resume(returning: $0) }
        }
        return try result.get()
    }

    private func enqueue(_ change: @escaping Change) {
        let runNow = core.withLockedValue { core in
            if core.busy {
                core.waiting.append(change)
                return false
            }
            core.busy = true
            return true
        }
        if runNow { run(change) }
    }

    /// Runs `first` and every change queued meanwhile. A change answered at once (no store) returns into
    /// this loop rather than recursing, so a long queue does not deepen the stack.
    private func run(_ first: @escaping Change) {
        var next: Change? = first
        while let change = next {
            let finishedInline = NIOLockedValueBox<Bool?>(nil)
            change {
                // Answered inside `change(...)`: the loop picks the next; answered later: start it from here.
                let inline = finishedInline.withLockedValue { value -> Bool in
                    if value == nil {
                        value = true
                        return true
                    }
                    return false
                }
                if !inline { self.continueQueue() }
            }
            let ranInline = finishedInline.withLockedValue { value -> Bool in
                if value == true { return true }
                value = false
                return false
            }
            guard ranInline else { return }
            next = dequeue()
        }
    }

    private func continueQueue() {
        if let change = dequeue() { run(change) }
    }

    /// The next queued change, or nil (and not busy any more).
    private func dequeue() -> Change? {
        core.withLockedValue { core in
            guard let change = core.waiting.popFirst() else {
                core.busy = false
                return nil
            }
            return change
        }
    }

    /// Appends `record` to `_schemas` alone (never to a user stream, whatever it captures); `completion` gets
    /// nil once stored, or why not.
    private func store(_ record: SchemaRegistryRecord, completion: @escaping @Sendable (SchemaRegistryError?) -> Void) {
        guard let box = streams.stream(named: Self.streamName) else {
            let configuration = StreamConfiguration(
                name: Self.streamName, filters: [], partitions: 1, limits: StreamLimits(), retention: .limits,
                storage: .file)
            streams.create(configuration) { result in
                if case .failure(let error) = result, error != .streamExists(Self.streamName) {
                    return completion(.store("\(Self.streamName) could not be created: \(error)"))
                }
                self.store(record, completion: completion)
            }
            return
        }
        var payload = ByteBuffer()
        payload.writeBytes(record.encoded())
        let message = BusMessage(
            topic: Topic(trusted: Self.streamName), payload: payload,
            headers: MessageHeaders(contentType: "application/json"), timestamp: clock())
        let prepared = streams.prepareAppends(message, streams: [box], placement: nil)
        let handover = PreparedHandover(value: prepared)
        streams.submit(StreamRegistry.writes(for: prepared)) { error in
            let acks = StreamRegistry.finish(handover.value, failure: error)
            for ack in acks {
                if case .refused(let reason) = ack.outcome { return completion(.store(reason)) }
            }
            completion(nil)
        }
    }
}
