import BusCore
import NIOConcurrencyHelpers
package import Storage

/// A queue broker among several instances sharing one PostgreSQL database (docs/storage.md, "AMQP
/// durable queues are served by one instance at a time"; the queues' side is QueueHost+Sharing.swift).
extension QueueBroker {
    /// The notification a publish to a durable queue another instance serves sends, with the queue's
    /// stored name: its owner reads the new rows (`QueueHost.pullForwarded`).
    package static let forwardedChannel = "switchboard_queue_forwarded"
    /// Messages stored for a queue by an instance that does not serve it have ids from here up; a queue
    /// hands out ids below it (counting from 1, or from the time in microseconds shifted by 8 bits after a
    /// claim: about 2^58 today).
    package static let forwardedIDBase: UInt64 = 1 << 62
    /// The notification a change of durable exchanges, queues or bindings sends, with the changing
    /// instance's slot: the others read the broker's tables again and take up what is new.
    package static let topologyChannel = "switchboard_amqp_topology"

    /// An id for a message stored for a queue another instance serves: `forwardedIDBase`, the time in
    /// microseconds shifted by 8 bits, and this instance's slot among those sharing the database in the low
    /// byte — so two instances never store the same id in one queue, and nothing the queue hands out itself.
    func forwardedID() -> UInt64 {
        let slot = UInt64(bus.store?.sessionOwnership?.instanceSlot ?? 0)
        let candidate = Self.forwardedIDBase | ((bus.clock() / 1_000) << 8) | slot
        return lastForwardedID.withLockedValue { last in
            // Same slot in the low byte, always increasing.
            last = max(candidate, last + 256)
            return last
        }
    }

    /// Another instance stored messages in queue `name` (of this virtual host): its owner here takes them.
    package func messagesForwarded(to name: String) {
        host(named: name)?.perform { $0.pullForwarded() }
    }

    /// Another instance deleted a durable exchange, queue or binding, and `state` is the store read since:
    /// this virtual host's copy of it goes too, unless the store holds it again (declared again since).
    /// Nothing is written: the deleting instance did.
    package func deletedElsewhere(_ deletion: QueueTopologyDeletion, stillStored state: StoredState) {
        func local(_ stored: String) -> String? {
            let (host, name) = StoredResourceName.split(stored)
            return host == virtualHost ? name : nil
        }
        guard !deletion.isStored(in: state) || deletion.isExchangeBinding else { return }
        switch deletion {
        case .exchange(let stored):
            guard let name = local(stored) else { return }
            lock.withLock {
                guard table.exchange(name)?.durable == true else { return }
                _ = try? table.delete(exchange: name)
                changed()
            }
        case .queue(let stored):
            guard let name = local(stored), let host = host(named: name), host.durable else { return }
            host.perform { $0.deletedElsewhere() }
        case .binding(let exchange, let queue, let routingKey):
            guard let exchange = local(exchange), let queue = local(queue) else { return }
            lock.withLock {
                for binding in table.bindings(to: .queue(queue))
                where binding.source == exchange && binding.routingKey == routingKey {
                    _ = try? table.unbind(binding)
                }
                changed()
            }
            if exchange == Self.busExchange, let host = host(named: queue) {
                host.perform { $0.removeBusBinding(routingKey) }
            }
        case .exchangeBinding(let source, let destination, let routingKey):
            // Bindings of one source, destination and key differ by their arguments: those the store
            // still holds stay.
            let kept = state.exchangeBindings.compactMap { row in
                row.source == source && row.destination == destination && row.routingKey == routingKey
                    ? StoredQueueCodec.decodeArguments(row.arguments) ?? [:] : nil
            }
            guard let source = local(source), let destination = local(destination) else { return }
            lock.withLock {
                for binding in table.bindings(to: .exchange(destination))
                where binding.source == source && binding.routingKey == routingKey && !kept.contains(binding.arguments)
                {
                    _ = try? table.unbind(binding)
                }
                changed()
            }
        }
    }

    /// What this virtual host holds that the store holds too, each as the deletion that would remove it (in
    /// stored names): its durable exchanges (not the predeclared ones), its durable queues that are not
    /// exclusive, the bindings of those queues to durable exchanges, and the bindings between durable
    /// exchanges. After the listening connection was lost, what of it the store no longer holds was
    /// deleted elsewhere meanwhile (`VirtualHosts`).
    package func storedTopology() -> [QueueTopologyDeletion] {
        let predeclared = Set(ExchangeTable.predeclared.map(\.name))
        return lock.withLock {
            var held: [QueueTopologyDeletion] = []
            for name in table.exchangeNames where table.exchange(name)?.durable == true {
                if !predeclared.contains(name) { held.append(.exchange(storedName(name))) }
                for binding in table.bindings(from: name) {
                    switch binding.destination {
                    case .queue(let queue):
                        guard let host = hosts[queue], host.durable, host.exclusiveOwner == nil else { continue }
                        held.append(
                            .binding(
                                exchange: storedName(name), queue: storedName(queue), routingKey: binding.routingKey))
                    case .exchange(let destination):
                        guard table.exchange(destination)?.durable == true else { continue }
                        held.append(
                            .exchangeBinding(
                                source: storedName(name), destination: storedName(destination),
                                routingKey: binding.routingKey))
                    }
                }
            }
            for host in hosts.values where host.durable && host.exclusiveOwner == nil {
                held.append(.queue(storedName(host.name)))
            }
            return held
        }
    }

    /// Another instance asks for durable queue `name`, or this instance lost its claim (`lost`).
    package func releaseRequested(_ name: String, lost: Bool) {
        host(named: name)?.perform { $0.releaseRequested(lost: lost) }
    }
}
