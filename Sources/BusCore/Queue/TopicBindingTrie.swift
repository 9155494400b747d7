/// The bindings of one topic exchange as a trie of words, so a routing key is matched in time that grows
/// with its words rather than with the number of bindings (nats-server's sublist, AMQP's rules). Words are
/// separated by `.` and may be empty (`a..b` has three); the empty key has none. In a binding key `*` is
/// exactly one word and `#` zero or more. The MQTT-style `SubscriptionIndex` does not fit: AMQP allows `#`
/// anywhere (`a.#.b`), not only last.
package struct TopicBindingTrie: Sendable, Equatable {
    struct Node: Sendable, Equatable {
        var children: [Substring: Int] = [:]
        var star: Int?
        var hash: Int?
        /// One entry per binding ending here (the same destination twice when bound twice).
        var destinations: [ExchangeDestination] = []

        var isEmpty: Bool { children.isEmpty && star == nil && hash == nil && destinations.isEmpty }
    }

    /// Node 0 is the root; freed slots are reused.
    private var nodes = [Node()]
    private var free: [Int] = []

    package init() {}

    /// The words of a routing or binding key (none for the empty key, as RabbitMQ splits it).
    package static func words(_ key: String) -> [Substring] {
        key.isEmpty ? [] : key.split(separator: ".", omittingEmptySubsequences: false)
    }

    /// Adds one binding of `key` to `destination`.
    package mutating func insert(_ key: String, _ destination: ExchangeDestination) {
        var node = 0
        for word in Self.pathWords(key) {
            let next: Int
            switch word {
            case "*": next = nodes[node].star ?? allocate()
            case "#": next = nodes[node].hash ?? allocate()
            default: next = nodes[node].children[word] ?? allocate()
            }
            switch word {
            case "*": nodes[node].star = next
            case "#": nodes[node].hash = next
            default: nodes[node].children[word] = next
            }
            node = next
        }
        nodes[node].destinations.append(destination)
    }

    /// Removes one binding of `key` to `destination`, pruning nodes left empty; false when there was none.
    @discardableResult
    package mutating func remove(_ key: String, _ destination: ExchangeDestination) -> Bool {
        var path: [(node: Int, word: Substring)] = []
        var node = 0
        for word in Self.pathWords(key) {
            let next: Int?
            switch word {
            case "*": next = nodes[node].star
            case "#": next = nodes[node].hash
            default: next = nodes[node].children[word]
            }
            guard let next else { return false }
            path.append((node, word))
            node = next
        }
        guard let index = nodes[node].destinations.firstIndex(of: destination) else { return false }
        nodes[node].destinations.remove(at: index)
        while let (parent, word) = path.last, nodes[node].isEmpty {
            switch word {
            case "*": nodes[parent].star = nil
            case "#": nodes[parent].hash = nil
            default: nodes[parent].children[word] = nil
            }
            free.append(node)
            path.removeLast()
            node = parent
        }
        return true
    }

    /// Appends the destinations of every binding matching `routingKey` (a destination bound by several
    /// matching keys appears several times; the caller deduplicates).
    package func match(_ routingKey: String, into destinations: inout [ExchangeDestination]) {
        let words = Self.words(routingKey)
        visit(0, words, 0, &destinations)
    }

    /// Whether no binding is left.
    package var isEmpty: Bool { nodes[0].isEmpty }

    // MARK: - Internals

    private func visit(_ node: Int, _ words: [Substring], _ position: Int, _ out: inout [ExchangeDestination]) {
        let current = nodes[node]
        if let hash = current.hash {
            // `#` takes zero or more words: try every split.
            for next in position...words.count { visit(hash, words, next, &out) }
        }
        guard position < words.count else {
            out.append(contentsOf: current.destinations)
            return
        }
        if let child = current.children[words[position]] { visit(child, words, position + 1, &out) }
        if let star = current.star { visit(star, words, position + 1, &out) }
    }

    /// The trie path of a binding key: `#.#` matches what `#` does, so runs of `#` are one (which also keeps
    /// the matching of such keys polynomial).
    private static func pathWords(_ key: String) -> [Substring] {
        var result: [Substring] = []
        for word in words(key) where !(word == "#" && result.last == "#") { result.append(word) }
        return result
    }

    private mutating func allocate() -> Int {
        if let slot = free.popLast() {
            nodes[slot] = Node()
            return slot
        }
        nodes.append(Node())
        return nodes.count - 1
    }
}
