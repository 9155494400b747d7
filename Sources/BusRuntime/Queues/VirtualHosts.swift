package import BusCore
import NIOConcurrencyHelpers
import Storage

/// The queue brokers of the configured virtual hosts, one each, fixed at start. `/` always exists and is
/// the one STOMP uses.
package final class VirtualHosts: Sendable {
    private let brokers: [String: QueueBroker]
    /// The broker of `/`.
    package let root: QueueBroker
    /// A topology read is in flight, another was asked for meanwhile, and the deletions announced that the
    /// next read applies.
    private let reload = NIOLockedValueBox(
        (reading: false, again: false, deletions: [QueueTopologyDeletion]()))

    package init(bus: Bus, metricsSlot: ProtocolMetricsSlot, definitions: [VirtualHostDefinition] = [.root]) {
        var brokers: [String: QueueBroker] = [:]
        for definition in [VirtualHostDefinition.root] + definitions where brokers[definition.name] == nil {
            brokers[definition.name] = QueueBroker(
                bus: bus, metricsSlot: metricsSlot, virtualHost: definition.name, topicPrefix: definition.topicPrefix)
        }
        self.brokers = brokers
        self.root = brokers["/"]!
        if let store = bus.store, let sharing = store.sessionOwnership { listen(to: sharing, store: store) }
    }

    /// Several instances share the store: durable queues are owned by one of them at a time
    /// (`QueueHost+Sharing.swift`); the brokers hear when another instance stored messages for a queue
    /// served here, or asks for one.
    private func listen(to sharing: any StoreSessionOwnership, store: any Store) {
        let prefix = StoreOwnedResource.name(kind: "amqp-queue", "")
        sharing.onResourceReleaseRequested { [self] resource, lost in
            guard resource.hasPrefix(prefix) else { return }
            let (virtualHost, name) = StoredResourceName.split(String(resource.dropFirst(prefix.count)))
            broker(virtualHost)?.releaseRequested(name, lost: lost)
        }
        sharing.listen(QueueBroker.forwardedChannel) { [self] stored in
            let (virtualHost, name) = StoredResourceName.split(stored)
            broker(virtualHost)?.messagesForwarded(to: name)
        }
        // Changes announced while the listening connection was down: read again.
        sharing.onListenResumed { [self] in resynchronize(sharing, store: store) }
        sharing.listen(QueueBroker.topologyChannel) { [self] payload in
            let (slot, deletion) = QueueTopologyDeletion.parse(payload)
            guard slot != "\(sharing.instanceSlot)" else { return }
            if let deletion { reload.withLockedValue { $0.deletions.append(deletion) } }
            reloadTopology(sharing)
        }
    }

    /// The listening connection is back: declarations missed meanwhile are taken up by a read, and so are
    /// deletions — everything durable held here is a deletion candidate, which the read drops unless the
    /// store still holds it. The candidates are taken before two barrier commits: their own writes (a
    /// declaration here is stored right after the broker's table takes it) commit before the second, so
    /// the read after it never mistakes a declaration of this instance's for one deleted elsewhere.
    private func resynchronize(_ sharing: any StoreSessionOwnership, store: any Store) {
        let held = brokers.values.flatMap { $0.storedTopology() }
        let barrier = StoreWrite.notify(channel: "switchboard_barrier", payload: "")
        store.submit([barrier]) { [self] _ in
            store.submit([barrier]) { [self] _ in
                reload.withLockedValue { $0.deletions.append(contentsOf: held) }
                reloadTopology(sharing)
            }
        }
    }

    /// Reads the durable exchanges, queues and bindings again and takes up what another instance declared
    /// (as at start: `QueueBroker.restore`, which adds what is missing), then drops what it announced it
    /// deleted, unless the read shows it declared again. One read at a time; changes announced meanwhile
    /// are read by one more (a deletion waits for a read that began after it was announced).
    private func reloadTopology(_ sharing: any StoreSessionOwnership) {
        let deletions = reload.withLockedValue { state -> [QueueTopologyDeletion]? in
            if state.reading {
                state.again = true
                return nil
            }
            state.reading = true
            defer { state.deletions.removeAll() }
            return state.deletions
        }
        guard let deletions else { return }
        sharing.loadBrokerTopology { [self] result in
            if case .success(let state) = result {
                for broker in brokers.values {
                    _ = broker.restore(state)
                    for deletion in deletions { broker.deletedElsewhere(deletion, stillStored: state) }
                }
            } else if !deletions.isEmpty {
                // Not read: the next read applies them.
                reload.withLockedValue { $0.deletions.insert(contentsOf: deletions, at: 0) }
            }
            let again = reload.withLockedValue { state -> Bool in
                state.reading = false
                defer { state.again = false }
                return state.again
            }
            if again { reloadTopology(sharing) }
        }
    }

    /// The broker of `name`; nil when no such virtual host is configured.
    package func broker(_ name: String) -> QueueBroker? { brokers[name] }

    /// Every broker, `/` first, then by name.
    package var all: [QueueBroker] {
        [root] + brokers.values.filter { $0 !== root }.sorted { $0.virtualHost < $1.virtualHost }
    }
}

/// How a virtual host's exchanges and queues are named in the store, which predates virtual hosts: a
/// resource of `/` keeps its name, one of another virtual host is stored as U+001F (the unit separator),
/// the virtual host, U+001F, the name (a name of `/` that itself starts with U+001F is stored that way too,
/// so every stored name reads back one way). Not U+0000: SQLite's C strings and PostgreSQL's text cannot
/// hold it.
package enum StoredResourceName {
    static let separator: UInt8 = 0x1F

    package static func make(_ name: String, in virtualHost: String) -> String {
        if virtualHost == "/" && name.utf8.first != separator { return name }
        return "\u{1F}" + virtualHost + "\u{1F}" + name
    }

    /// The virtual host and name a stored name stands for.
    package static func split(_ stored: String) -> (virtualHost: String, name: String) {
        let bytes = stored.utf8
        guard bytes.first == separator else { return ("/", stored) }
        let rest = bytes.dropFirst()
        guard let separator = rest.firstIndex(of: separator) else { return ("/", stored) }
        return (
            String(decoding: rest[rest.startIndex..<separator], as: UTF8.self),
            String(decoding: rest[rest.index(after: separator)...], as: UTF8.self)
        )
    }
}
