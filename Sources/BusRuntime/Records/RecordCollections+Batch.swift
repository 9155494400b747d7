package import BusCore
import NIOConcurrencyHelpers
import NIOCore

extension RecordCollections {
    /// One change of a batch (PocketBase's `POST /api/batch`).
    package enum BatchChange: Sendable {
        case create(collection: String, body: JSONValue)
        case update(collection: String, id: String, body: JSONValue, ifMatch: UInt64?)
        case delete(collection: String, id: String, ifMatch: UInt64?)
        /// PocketBase's upsert (`PUT`): an update when the body's `id` names a record, else a create.
        case upsert(collection: String, body: JSONValue)

        var collection: String {
            switch self {
            case .create(let name, _), .update(let name, _, _, _), .delete(let name, _, _), .upsert(let name, _):
                name
            }
        }
    }

    /// Why a batch stored nothing: the change refused (its index) and why, or (no index) the batch as a
    /// whole (several instances share the store, or the commit failed).
    package struct BatchRefusal: Error, Sendable {
        package var index: Int?
        package var error: RecordError
    }

    /// Most changes in one batch.
    package static let maxBatchChanges = 100

    /// PocketBase's batch: `changes` decided in order, each on the state the ones before it leave (a record
    /// created early in a batch may be updated or deleted later in it), then stored in one commit — all or
    /// none. Once stored, each change is applied and its event published as a single change's would be, in
    /// the batch's order. A refused change refuses the batch and leaves nothing behind. Answers with each
    /// change's record (a deleted record as it was).
    package func batch(
        _ changes: [BatchChange], caller: RecordCaller, now: UInt64,
        completion: @escaping @Sendable (Result<[Record], BatchRefusal>) -> Void
    ) {
        guard sharing == nil else {
            // Each change of a shared store is decided by the instance holding its collection's claim; a batch
            // across claims would need them all at once (docs/records.md, "Batch").
            return completion(
                .failure(
                    BatchRefusal(
                        error: .badRequest(
                            "Batch requests are not supported while several instances share the store."))))
        }
        guard !changes.isEmpty, changes.count <= Self.maxBatchChanges else {
            return completion(
                .failure(
                    BatchRefusal(
                        error: .badRequest(
                            "Invalid batch request data: 1 to \(Self.maxBatchChanges) requests are allowed."))))
        }
        let refusal: BatchRefusal? = core.withLockedValue { core in
            var accepted: [Accepted] = []
            for (index, change) in changes.enumerated() {
                let decide = decision(change, caller, now, core)
                do throws(RecordError) {
                    accepted.append(try accept(change.collection, decide, in: &core))
                } catch {
                    for change in accepted.reversed() { withdraw(change, in: &core) }
                    return BatchRefusal(index: index, error: error)
                }
            }
            let decided = accepted
            let prepared = decided.map { prepare($0, changedBy: caller.changedBy, in: &core) }
            // One commit for the batch, submitted under the lock as a single change's is (`decide`).
            commit(prepared.flatMap(\.writes)) { error in
                let finished = zip(decided, prepared).map { change, prepared in
                    let loop = self.homeLoop(change.name)
                    return loop.submit { self.finish(change, prepared, failure: error, on: loop) }
                }
                EventLoopFuture.andAllComplete(finished, on: finished[0].eventLoop).whenComplete { _ in
                    completion(error.map { .failure(BatchRefusal(error: $0)) } ?? .success(decided.map(\.record)))
                }
            }
            return nil
        }
        if let refusal { completion(.failure(refusal)) }
    }

    /// How one change of a batch is decided (an upsert becomes an update or a create on the newest accepted
    /// state, which includes the batch's earlier changes). Under the lock.
    private func decision(_ change: BatchChange, _ caller: RecordCaller, _ now: UInt64, _ core: Core) -> Decision {
        switch change {
        case .create(let name, let body):
            return creation(name, body, caller, now)
        case .update(let name, let id, let body, let ifMatch):
            return updating(name, id: id, body, ifMatch: ifMatch, caller, now)
        case .delete(let name, let id, let ifMatch):
            return deletion(name, id: id, ifMatch: ifMatch, caller, now)
        case .upsert(let name, let body):
            if case .string(let id)? = body["id"], core.collections[name]?.latest(id) != nil {
                return updating(name, id: id, body, ifMatch: nil, caller, now)
            }
            return creation(name, body, caller, now)
        }
    }
}
