package import BusCore
package import NIOCore
import Storage

/// Claims on named resources among instances sharing one store (PostgreSQL with `shared_instances=true`,
/// docs/storage.md "Several instances"), for frontends that do not deal with the store themselves: one
/// instance at a time holds a claim; claims count on the instance that holds them, the last release lets
/// go, and a dead instance's claims are let go of by the database.
package struct InstanceClaims: Sendable {
    let ownership: any StoreSessionOwnership
    let store: any Store

    /// This instance's number among those sharing the store (what its own notifications carry, to tell
    /// them from others').
    package var instanceSlot: Int { Int(ownership.instanceSlot) }

    /// Sends `payload` on notification channel `channel` to every instance sharing the store (this one
    /// too) once the writes submitted before it are durable: the store commits in submission order, so
    /// the notification goes out with or after them. At most 7,999 bytes (PostgreSQL's NOTIFY).
    package func announce(_ channel: String, _ payload: String) {
        store.submit([.notify(channel: channel, payload: payload)])
    }

    /// `handler` gets the payload of every notification on `channel` (on a thread of the store's).
    package func listen(_ channel: String, _ handler: @escaping @Sendable (String) -> Void) {
        ownership.listen(channel, handler)
    }

    /// `handler` runs (on a thread of the store's) each time the listening connection is back after it was
    /// lost: notifications sent meanwhile were missed.
    package func onListenResumed(_ handler: @escaping @Sendable () -> Void) {
        ownership.onListenResumed(handler)
    }

    /// Every record of stream `name` as the store holds it now, oldest first per partition (nil: there is
    /// no such stream). `completion` runs on a thread of the store's.
    package func loadRecords(
        ofStream name: String, completion: @escaping @Sendable (Result<[BusMessage]?, any Error>) -> Void
    ) {
        ownership.loadStream(name, after: [], epochs: [], kept: false) { result in
            completion(result.map { change in change.map { $0.partitions.flatMap { $0.records.map(\.message) } } })
        }
    }

    /// Claims `name` of `kind`; `completion` (on a thread of the store's) says whether it is held here.
    /// While another instance holds it, the claim waits up to `timeout` for it to be let go.
    package func claim(
        _ kind: String, _ name: String, timeout: TimeAmount, completion: @escaping @Sendable (Bool) -> Void
    ) {
        ownership.claim(StoreOwnedResource.name(kind: kind, name), timeout: timeout, completion: completion)
    }

    /// Gives one claim back.
    package func release(_ kind: String, _ name: String) {
        ownership.release(StoreOwnedResource.name(kind: kind, name))
    }

    /// `handler` gets the name of each claim of `kind` held here that was lost with the ownership
    /// connection (it is not held any more; another instance may take it). On a thread of the store's.
    package func onLost(_ kind: String, _ handler: @escaping @Sendable (String) -> Void) {
        let prefix = StoreOwnedResource.name(kind: kind, "")
        ownership.onResourceReleaseRequested { resource, lost in
            guard lost, resource.hasPrefix(prefix) else { return }
            handler(String(resource.dropFirst(prefix.count)))
        }
    }

    /// Reads `group`'s committed stream offsets fresh from the store and takes them into `streams` (they
    /// replace what this instance remembers: a commit made on another instance while it served the group
    /// counts here). `completion` (on a thread of the store's) gets the offsets read (each the next
    /// offset the group reads in that stream partition, in any epoch).
    package func refreshCommittedOffsets(
        group: String, in streams: StreamRegistry,
        completion: @escaping @Sendable (Result<[(stream: String, partition: Int, offset: UInt64)], any Error>) -> Void
    ) {
        ownership.loadStreamConsumerOffsets(group: group) { result in
            completion(
                result.map { offsets in
                    for offset in offsets { streams.setCommitted(offset) }
                    return offsets.map { ($0.stream, $0.partition, $0.offset) }
                })
        }
    }
}

extension Bus {
    /// Claims among the instances sharing this bus's store; nil when this instance is its only user.
    package var instanceClaims: InstanceClaims? {
        guard let store, let ownership = store.sessionOwnership else { return nil }
        return InstanceClaims(ownership: ownership, store: store)
    }
}
