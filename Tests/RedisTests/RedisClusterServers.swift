import Foundation
import NIOCore
import NIOPosix
import RedisEngine
import RedisWire

/// A Redis Cluster of the tests' own: `count` cluster-enabled `redis-server`s (`RedisServer`) on drawn
/// loopback ports, their cluster bus on drawn ports too (the default, port + 10,000, may be taken or out of
/// range), joined with `CLUSTER MEET` and given the slots in equal ranges with `CLUSTER ADDSLOTSRANGE`
/// (Redis 7), no replicas. `moveSlot` reshards one slot as `redis-cli --cluster reshard` does.
final class RedisClusterServers: Sendable {
    let nodes: [RedisServer]
    let busPorts: [Int]
    /// Every node's `requirepass`, if any.
    let password: String?

    private init(nodes: [RedisServer], busPorts: [Int], password: String?) {
        self.nodes = nodes
        self.busPorts = busPorts
        self.password = password
    }

    static func start(count: Int = 3, password: String? = nil) throws -> RedisClusterServers {
        var nodes: [RedisServer] = []
        var busPorts: [Int] = []
        do {
            for index in 0..<count {
                // A drawn bus port can be taken (by a server of a test running beside) before the node binds
                // it: a few attempts, each with another.
                var lastError: (any Error)?
                for _ in 0..<5 where nodes.count == index {
                    let busPort = try RedisServer.freeLoopbackPort()
                    do {
                        nodes.append(
                            try RedisServer.start(
                                password: password,
                                extraArguments: [
                                    "--cluster-enabled", "yes", "--cluster-port", String(busPort),
                                    "--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "2000",
                                ]))
                        busPorts.append(busPort)
                    } catch {
                        lastError = error
                    }
                }
                guard nodes.count == index + 1 else {
                    throw lastError ?? RedisServer.Failure("a cluster node did not start")
                }
            }
            let cluster = RedisClusterServers(nodes: nodes, busPorts: busPorts, password: password)
            try cluster.form()
            return cluster
        } catch {
            for node in nodes { node.stop() }
            throw error
        }
    }

    func stop() {
        for node in nodes { node.stop() }
    }

    var ports: [Int] { nodes.map(\.port) }

    /// One command to the node at `index`, over a connection of its own.
    @discardableResult
    func command(_ index: Int, _ arguments: [String]) throws -> RESPValue {
        let client = try RedisClient.connect(
            configuration: RedisClientConfiguration(host: "127.0.0.1", port: nodes[index].port, password: password),
            eventLoop: MultiThreadedEventLoopGroup.singleton.next()
        ).wait()
        defer { try? client.close().wait() }
        return try client.send(arguments).wait()
    }

    func nodeID(_ index: Int) throws -> String {
        guard let id = try command(index, ["CLUSTER", "MYID"]).string else {
            throw RedisServer.Failure("CLUSTER MYID gave no id")
        }
        return id
    }

    /// The index of the node serving `slot` now.
    func owner(of slot: Int) throws -> Int {
        let topology = try RedisClusterTopology.parse(
            slotsReply: try command(0, ["CLUSTER", "SLOTS"]), askedHost: "127.0.0.1")
        guard let address = topology.primary(of: slot), let index = ports.firstIndex(of: address.port) else {
            throw RedisServer.Failure("no node serves slot \(slot)")
        }
        return index
    }

    private func form() throws {
        let count = nodes.count
        for index in 0..<count {
            // Distinct config epochs, as `redis-cli --cluster create` gives: left at 0, the nodes resolve the
            // collision by bumping epochs later, and a bump racing a test's `SETSLOT … NODE` can hand a moved
            // slot back to its old owner for a moment (MOVED answered both ways; CI saw it once).
            try command(index, ["CLUSTER", "SET-CONFIG-EPOCH", String(index + 1)])
            let first = RedisKeySlot.count * index / count
            let last = RedisKeySlot.count * (index + 1) / count - 1
            try command(index, ["CLUSTER", "ADDSLOTSRANGE", String(first), String(last)])
        }
        for index in 1..<count {
            try command(0, ["CLUSTER", "MEET", "127.0.0.1", String(nodes[index].port), String(busPorts[index])])
        }
        let deadline = Date().addingTimeInterval(20)
        while Date() < deadline {
            let ready = try (0..<count).allSatisfy { index in
                let info = try command(index, ["CLUSTER", "INFO"]).string ?? ""
                let slots = try RedisClusterTopology.parse(
                    slotsReply: try command(index, ["CLUSTER", "SLOTS"]), askedHost: "127.0.0.1")
                return info.contains("cluster_state:ok") && info.contains("cluster_known_nodes:\(count)")
                    && slots.coveredSlots == RedisKeySlot.count && slots.primaries.count == count
            }
            if ready { return }
            usleep(100_000)
        }
        throw RedisServer.Failure("the cluster did not form")
    }

    /// Moves `slot` from the node `from` to the node `to`: `IMPORTING` on the target, `MIGRATING` on the
    /// source, every key `MIGRATE`d; then, when `finish`, `SETSLOT … NODE` on every node (cluster spec,
    /// "Live reconfiguration"). Unfinished, the slot stays migrating (so `ASK` redirects).
    func moveSlot(_ slot: Int, from: Int, to: Int, finish: Bool = true, keys migrate: Bool = true) throws {
        let fromID = try nodeID(from)
        let toID = try nodeID(to)
        try command(to, ["CLUSTER", "SETSLOT", String(slot), "IMPORTING", fromID])
        try command(from, ["CLUSTER", "SETSLOT", String(slot), "MIGRATING", toID])
        while migrate {
            let keys = (try command(from, ["CLUSTER", "GETKEYSINSLOT", String(slot), "100"]).elements ?? [])
                .compactMap(\.string)
            if keys.isEmpty { break }
            try command(
                from, ["MIGRATE", "127.0.0.1", String(nodes[to].port), "", "0", "5000", "KEYS"] + keys)
        }
        guard finish else { return }
        try finishMove(slot, to: to, from: from)
    }

    /// `CLUSTER SETSLOT <slot> NODE <target>` on the target, the source, then the others.
    func finishMove(_ slot: Int, to: Int, from: Int) throws {
        let toID = try nodeID(to)
        let order = [to, from] + nodes.indices.filter { $0 != to && $0 != from }
        for index in order { try command(index, ["CLUSTER", "SETSLOT", String(slot), "NODE", toID]) }
        try waitUntilAgreed(slot, owner: to)
    }

    /// Waits until every node names `owner` as `slot`'s primary, so a test's next command meets one map.
    func waitUntilAgreed(_ slot: Int, owner: Int, timeout: TimeInterval = 10) throws {
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            let agreed = try nodes.indices.allSatisfy { index in
                let topology = try RedisClusterTopology.parse(
                    slotsReply: try command(index, ["CLUSTER", "SLOTS"]), askedHost: "127.0.0.1")
                return topology.primary(of: slot)?.port == nodes[owner].port
            }
            if agreed { return }
            guard Date() < deadline else { throw RedisServer.Failure("the nodes do not agree on slot \(slot)") }
            usleep(50_000)
        }
    }
}
