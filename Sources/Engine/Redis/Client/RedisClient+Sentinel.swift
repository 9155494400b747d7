import Logging
import NIOCore
import RedisWire

/// Redis Sentinel, as its client guidelines describe
/// (https://redis.io/docs/latest/operate/oss_and_stack/management/sentinel-clients/):
/// - step 1–2: ask each sentinel in turn `SENTINEL GET-MASTER-ADDR-BY-NAME <name>`; the first that
///   answers gives the address and moves to the front of the list;
/// - step 3: connect, then `ROLE`: a server that is not (or no longer) the master fails the attempt, and
///   the reconnect asks the sentinels again;
/// - on a failover, Sentinel kills the demoted master's client connections, and publishes `+switch-master
///   <name> <old-ip> <old-port> <new-ip> <new-port>` on its pub/sub: either ends the connection, and the
///   reconnect (with its resubscribing and the owners' resynchronising, as after any drop) finds the new
///   master.
extension RedisClient {
    /// The master's address from the first sentinel that gives one.
    func askSentinels() -> EventLoopFuture<RedisAddress> {
        eventLoop.assertInEventLoop()
        guard let name = configuration.sentinel?.masterName else {
            return eventLoop.makeFailedFuture(RedisClientError.sentinel("no sentinel configured"))
        }
        return ask(sentinelOrder, index: 0, name: name, failures: [])
    }

    private func ask(
        _ sentinels: [RedisAddress], index: Int, name: String, failures: [String]
    ) -> EventLoopFuture<RedisAddress> {
        guard index < sentinels.count else {
            return eventLoop.makeFailedFuture(
                RedisClientError.sentinel(
                    "no sentinel gave master \(name)'s address (\(failures.joined(separator: "; ")))"))
        }
        let sentinel = sentinels[index]
        return masterAddress(from: sentinel, name: name).map { address in
            if let position = self.sentinelOrder.firstIndex(of: sentinel), position != 0 {
                self.sentinelOrder.remove(at: position)
                self.sentinelOrder.insert(sentinel, at: 0)
            }
            return address
        }.flatMapError { error in
            self.ask(sentinels, index: index + 1, name: name, failures: failures + ["\(sentinel): \(error)"])
        }
    }

    /// One sentinel's answer, over a short-lived connection.
    private func masterAddress(from sentinel: RedisAddress, name: String) -> EventLoopFuture<RedisAddress> {
        let client = RedisClient(
            configuration: sentinelConfiguration(sentinel), eventLoop: eventLoop, logger: logger)
        return client.connect().flatMap {
            client.send(["SENTINEL", "GET-MASTER-ADDR-BY-NAME", name])
        }.flatMapThrowing { reply in
            try Self.masterAddress(in: reply, name: name)
        }.always { _ in
            client.close().whenComplete { _ in }
        }
    }

    /// The address in a `GET-MASTER-ADDR-BY-NAME` reply: `[host, port]`, or null for a name the sentinel
    /// does not monitor.
    static func masterAddress(in reply: RESPValue, name: String) throws -> RedisAddress {
        guard let elements = reply.elements else {
            throw RedisClientError.sentinel("the sentinel does not know master \(name)")
        }
        guard elements.count == 2, let host = elements[0].string, !host.isEmpty,
            let portText = elements[1].string, let port = Int(portText), (1...65535).contains(port)
        else { throw RedisClientError.sentinel("an address reply that is not [host, port]: \(reply)") }
        return RedisAddress(host: host, port: port)
    }

    /// A sentinel is dialled with the master's TLS settings (`rediss-sentinel://`: TLS to both, with the same
    /// roots and client certificate), timeout and limits, and the sentinels' own credentials (AUTH only
    /// when `sentinel_password` is given; the master's password is not theirs).
    private func sentinelConfiguration(_ sentinel: RedisAddress) -> RedisClientConfiguration {
        RedisClientConfiguration(
            host: sentinel.host, port: sentinel.port, user: configuration.sentinel?.user,
            password: configuration.sentinel?.password, tls: configuration.tls,
            connectTimeout: configuration.connectTimeout, reconnectInitialDelay: configuration.reconnectInitialDelay,
            reconnectMaxDelay: configuration.reconnectMaxDelay, limits: configuration.limits)
    }

    /// Through Sentinel, `ROLE` must say `master` (a demoted master, or one a stale sentinel named, is
    /// refused). Without Sentinel nothing is asked.
    func checkIsMaster(_ handler: RedisConnectionHandler, _ address: RedisAddress) -> EventLoopFuture<Void> {
        guard configuration.sentinel != nil else { return eventLoop.makeSucceededVoidFuture() }
        return command(["ROLE"], on: handler).flatMapThrowing { reply in
            let role = reply.elements?.first?.string ?? "\(reply)"
            guard role == "master" else {
                throw RedisClientError.sentinel("\(address) is a \(role), not the master")
            }
        }
    }

    /// Keeps a subscription to `+switch-master` on the sentinel that answered last (its client reconnects
    /// by itself); a switch of this client's master ends the connection to the old one.
    func watchSentinel() {
        eventLoop.assertInEventLoop()
        guard sentinelWatcher == nil, let sentinel = sentinelOrder.first,
            let name = configuration.sentinel?.masterName
        else { return }
        let watcher = RedisClient(configuration: sentinelConfiguration(sentinel), eventLoop: eventLoop, logger: logger)
        sentinelWatcher = watcher
        watcher.connect().flatMap {
            watcher.subscribe(to: ["+switch-master"]) { [weak self] message in
                self?.masterSwitched(String(buffer: message.payload), name: name)
            }
        }.whenFailure { [weak self] error in
            // On `eventLoop` (the watcher's loop is this client's); the next connection tries again.
            watcher.close().whenComplete { _ in }
            guard let self else { return }
            self.logger.info(
                "Redis Sentinel: cannot watch for failovers",
                metadata: ["sentinel": "\(sentinel)", "error": "\(error)"])
            if self.sentinelWatcher === watcher { self.sentinelWatcher = nil }
        }
    }

    /// `+switch-master <name> <old-ip> <old-port> <new-ip> <new-port>`.
    private func masterSwitched(_ announcement: String, name: String) {
        let fields = announcement.split(separator: " ")
        guard fields.count == 5, fields[0] == name, let port = Int(fields[4]) else { return }
        let newMaster = RedisAddress(host: String(fields[3]), port: port)
        guard newMaster != master else { return }
        logger.warning(
            "Redis Sentinel: the master moved; reconnecting",
            metadata: ["from": "\(master.map(\.description) ?? "?")", "to": "\(newMaster)"])
        dropConnection()
    }
}
