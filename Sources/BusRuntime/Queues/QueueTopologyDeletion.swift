package import Storage

/// A durable exchange, queue or binding one instance deleted, as the topology notification
/// (`QueueBroker.topologyChannel`) carries it to the other instances sharing the store (docs/storage.md,
/// "Declarations and deletions reach every instance"). Names are stored names (`StoredResourceName`).
/// A binding goes by its source, destination and routing key: the stored key of a queue binding, and
/// enough for an exchange binding (every binding of the three whose row is gone goes).
package enum QueueTopologyDeletion: Sendable, Hashable {
    /// `exchange.delete` (or an auto-delete exchange that lost its last binding).
    case exchange(String)
    /// `queue.delete`, or an auto-delete queue that lost its last consumer.
    case queue(String)
    /// `queue.unbind`.
    case binding(exchange: String, queue: String, routingKey: String)
    /// `exchange.unbind`.
    case exchangeBinding(source: String, destination: String, routingKey: String)

    /// PostgreSQL refuses a NOTIFY payload of 8000 bytes or more; a deletion that would not fit (names
    /// and routing keys are AMQP short strings, at most 255 bytes each, so only a pathological virtual host
    /// name gets there) goes as a plain change, which others take for additions only.
    static let maximumPayload = 7_900

    /// The deletion a store write makes, if it is one.
    package init?(_ write: StoreWrite) {
        switch write {
        case .deleteExchange(let name): self = .exchange(name)
        case .deleteQueue(let name): self = .queue(name)
        case .deleteBinding(let binding):
            self = .binding(exchange: binding.exchange, queue: binding.queue, routingKey: binding.routingKey)
        case .deleteExchangeBinding(let binding):
            self = .exchangeBinding(
                source: binding.source, destination: binding.destination, routingKey: binding.routingKey)
        default: return nil
        }
    }

    private var kind: String {
        switch self {
        case .exchange: "exchange"
        case .queue: "queue"
        case .binding: "binding"
        case .exchangeBinding: "exchange-binding"
        }
    }

    private var fields: [String] {
        switch self {
        case .exchange(let name), .queue(let name): [name]
        case .binding(let exchange, let queue, let routingKey): [exchange, queue, routingKey]
        case .exchangeBinding(let source, let destination, let routingKey): [source, destination, routingKey]
        }
    }

    /// The notification's payload: the sending instance's slot, a line feed, the kind, a line feed, then
    /// each field as its length in UTF-8 bytes, `:` and itself (names may hold any character but U+0000).
    /// Nil when it would not fit in a NOTIFY.
    package func payload(slot: String) -> String? {
        var payload = slot + "\n" + kind + "\n"
        for field in fields { payload += "\(field.utf8.count):" + field }
        return payload.utf8.count < Self.maximumPayload ? payload : nil
    }

    /// The sending slot and the deletion a topology payload carries (nil: declarations only, or a payload
    /// this version does not read).
    package static func parse(_ payload: String) -> (slot: Substring, deletion: QueueTopologyDeletion?) {
        let lines = payload.split(separator: "\n", maxSplits: 2, omittingEmptySubsequences: false)
        guard lines.count == 3 else { return (lines.first ?? "", nil) }
        var fields: [String] = []
        var rest = lines[2].utf8
        while !rest.isEmpty {
            guard let colon = rest.firstIndex(of: UInt8(ascii: ":")),
                let length = Int(String(decoding: rest[rest.startIndex..<colon], as: UTF8.self)), length >= 0
            else { return (lines[0], nil) }
            let start = rest.index(after: colon)
            guard let end = rest.index(start, offsetBy: length, limitedBy: rest.endIndex) else {
                return (lines[0], nil)
            }
            fields.append(String(decoding: rest[start..<end], as: UTF8.self))
            rest = rest[end...]
        }
        let deletion: QueueTopologyDeletion? =
            switch (String(lines[1]), fields.count) {
            case ("exchange", 1): .exchange(fields[0])
            case ("queue", 1): .queue(fields[0])
            case ("binding", 3): .binding(exchange: fields[0], queue: fields[1], routingKey: fields[2])
            case ("exchange-binding", 3):
                .exchangeBinding(source: fields[0], destination: fields[1], routingKey: fields[2])
            default: nil
            }
        return (lines[0], deletion)
    }

    var isExchangeBinding: Bool {
        if case .exchangeBinding = self { return true }
        return false
    }

    /// Whether the store, read after the deletion was announced, holds it again (declared again since):
    /// then it stays.
    package func isStored(in state: StoredState) -> Bool {
        switch self {
        case .exchange(let name): state.exchanges.contains { $0.name == name }
        case .queue(let name): state.queues.contains { $0.name == name }
        case .binding(let exchange, let queue, let routingKey):
            state.bindings.contains { $0.exchange == exchange && $0.queue == queue && $0.routingKey == routingKey }
        case .exchangeBinding(let source, let destination, let routingKey):
            state.exchangeBindings.contains {
                $0.source == source && $0.destination == destination && $0.routingKey == routingKey
            }
        }
    }
}
