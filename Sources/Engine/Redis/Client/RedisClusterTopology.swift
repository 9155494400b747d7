public import RedisWire

/// Which primary serves each of a Redis Cluster's 16,384 hash slots, as `CLUSTER SLOTS` gives it (Redis
/// Cluster specification, "Redirection and resharding"; `CLUSTER SLOTS` reply: one entry per slot range,
/// `[start, end, [host, port, id, …], replica…]`, the first node being the range's primary).
public struct RedisClusterTopology: Sendable, Equatable {
    /// The primaries, in the order first seen.
    public private(set) var primaries: [RedisAddress] = []
    /// The replicas `CLUSTER SLOTS` listed, in the order first seen (nodes to ask for the map, or to carry
    /// classic pub/sub, when primaries are down).
    public private(set) var replicas: [RedisAddress] = []
    /// Slot → index into `primaries`, or -1 for a slot no primary serves.
    private var owners = [Int16](repeating: -1, count: RedisKeySlot.count)

    public init() {}

    /// The primary serving `slot`, if any.
    public func primary(of slot: Int) -> RedisAddress? {
        let index = owners[slot]
        return index < 0 ? nil : primaries[Int(index)]
    }

    /// How many slots some primary serves (16,384 in a healthy cluster).
    public var coveredSlots: Int { owners.count(where: { $0 >= 0 }) }

    /// Records that `address` now serves `slot` (a `MOVED` redirect says so before the next refresh).
    public mutating func assign(_ slot: Int, to address: RedisAddress) {
        guard (0..<RedisKeySlot.count).contains(slot) else { return }
        if let index = primaries.firstIndex(of: address) {
            owners[slot] = Int16(index)
        } else {
            primaries.append(address)
            owners[slot] = Int16(primaries.count - 1)
        }
    }

    /// Parses a `CLUSTER SLOTS` reply. A node announced with an empty host (`cluster-announce-hostname`
    /// unset behind some setups) or `?` is at `askedHost`, the host the question went to.
    public static func parse(slotsReply reply: RESPValue, askedHost: String) throws -> RedisClusterTopology {
        guard let ranges = reply.elements else {
            throw RedisClientError.server("CLUSTER SLOTS answered \(reply), not an array")
        }
        var topology = RedisClusterTopology()
        for range in ranges {
            guard let fields = range.elements, fields.count >= 3, case .integer(let start) = fields[0],
                case .integer(let end) = fields[1], 0 <= start, start <= end, end < RedisKeySlot.count,
                let node = fields[2].elements, node.count >= 2, let host = node[0].string,
                case .integer(let port) = node[1], (1...65535).contains(port)
            else { throw RedisClientError.server("a CLUSTER SLOTS entry that does not parse: \(range)") }
            let address = RedisAddress(host: host.isEmpty || host == "?" ? askedHost : host, port: Int(port))
            for slot in Int(start)...Int(end) { topology.assign(slot, to: address) }
            for replica in fields.dropFirst(3) {
                guard let node = replica.elements, node.count >= 2, let host = node[0].string,
                    case .integer(let port) = node[1], (1...65535).contains(port)
                else { continue }
                let address = RedisAddress(host: host.isEmpty || host == "?" ? askedHost : host, port: Int(port))
                if !topology.replicas.contains(address) { topology.replicas.append(address) }
            }
        }
        return topology
    }

    /// A `MOVED <slot> <host:port>` or `ASK <slot> <host:port>` error reply's slot and address (cluster
    /// spec, "MOVED Redirection", "ASK redirection"); an empty host means the node that answered.
    public static func redirect(in message: String, answeredBy: RedisAddress)
        -> (kind: Substring, slot: Int, address: RedisAddress)?
    {
        let parts = message.split(separator: " ")
        guard parts.count == 3, parts[0] == "MOVED" || parts[0] == "ASK", let slot = Int(parts[1]),
            (0..<RedisKeySlot.count).contains(slot), let colon = parts[2].lastIndex(of: ":"),
            let port = Int(parts[2][parts[2].index(after: colon)...]), (1...65535).contains(port)
        else { return nil }
        var host = String(parts[2][..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        return (parts[0], slot, RedisAddress(host: host.isEmpty ? answeredBy.host : host, port: port))
    }
}
