/// The bindings whose source is one exchange, indexed for its type: a dictionary by routing key for
/// direct, a list for fanout, a word trie for topic, parsed patterns for headers.
package struct ExchangeBindings: Sendable, Equatable {
    package let type: ExchangeType
    /// Every binding, for idempotent bind/unbind and listing.
    package private(set) var all: Set<ExchangeBinding> = []
    private var direct: [String: [ExchangeDestination]] = [:]
    private var fanout: [ExchangeDestination] = []
    private var topic = TopicBindingTrie()
    private var headers: [(binding: ExchangeBinding, pattern: HeadersBindingPattern)] = []

    package init(type: ExchangeType) {
        self.type = type
    }

    package var isEmpty: Bool { all.isEmpty }

    /// Adds a binding; false when it was already there (bind is idempotent). Headers patterns are parsed
    /// first, so a refused binding changes nothing.
    package mutating func insert(_ binding: ExchangeBinding) throws(BrokerRefusal) -> Bool {
        let pattern = type == .headers ? try HeadersBindingPattern(arguments: binding.arguments) : nil
        guard all.insert(binding).inserted else { return false }
        switch type {
        case .direct: direct[binding.routingKey, default: []].append(binding.destination)
        case .fanout: fanout.append(binding.destination)
        case .topic: topic.insert(binding.routingKey, binding.destination)
        case .headers: headers.append((binding, pattern!))
        }
        return true
    }

    /// Removes a binding; false when there was none.
    @discardableResult
    package mutating func remove(_ binding: ExchangeBinding) -> Bool {
        guard all.remove(binding) != nil else { return false }
        switch type {
        case .direct:
            if var destinations = direct[binding.routingKey],
                let index = destinations.firstIndex(of: binding.destination)
            {
                destinations.remove(at: index)
                direct[binding.routingKey] = destinations.isEmpty ? nil : destinations
            }
        case .fanout:
            if let index = fanout.firstIndex(of: binding.destination) { fanout.remove(at: index) }
        case .topic:
            topic.remove(binding.routingKey, binding.destination)
        case .headers:
            headers.removeAll { $0.binding == binding }
        }
        return true
    }

    /// Appends the destinations of the bindings matching a publish (duplicates possible). `messageHeaders`
    /// is asked only by a headers exchange.
    package func route(
        _ routingKeys: [String], messageHeaders: () -> [String: HeaderValue],
        into destinations: inout [ExchangeDestination]
    ) {
        switch type {
        case .direct:
            for key in routingKeys { if let bound = direct[key] { destinations.append(contentsOf: bound) } }
        case .fanout:
            destinations.append(contentsOf: fanout)
        case .topic:
            for key in routingKeys { topic.match(key, into: &destinations) }
        case .headers:
            guard !headers.isEmpty else { return }
            let values = messageHeaders()
            for (binding, pattern) in headers where pattern.matches(values) {
                destinations.append(binding.destination)
            }
        }
    }

    package static func == (left: Self, right: Self) -> Bool {
        // The indexes follow from the bindings.
        left.type == right.type && left.all == right.all
    }
}
