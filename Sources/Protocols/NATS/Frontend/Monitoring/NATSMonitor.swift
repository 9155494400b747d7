import BusRuntime
import Foundation
import FrontendKit
import NATSWire
import NIOConcurrencyHelpers
package import NIOCore

/// nats-server's monitoring documents (2.9's field names and shapes) for the NATS frontend:
/// `/varz`, `/connz`, `/subsz`, `/routez`, `/healthz`. Each is made from the frontend's connection
/// snapshots and totals, at a `now` the caller gives, so tests build them without a server.
/// docs/protocols/nats.md lists which fields are filled and which are always zero.
package final class NATSMonitor: Sendable {
    package let services: NATSServices
    /// `max_connections` (the server-wide `limits.max_connections`).
    private let maxConnections: Int
    /// Event loop threads (`gomaxprocs`).
    private let threads: Int
    private let monitorHost: String
    /// The client port and the monitoring port as bound (0 until they are).
    private let clientPort: @Sendable () -> Int
    private let monitorPort: @Sendable () -> Int
    /// Requests per path (`http_req_stats`).
    private let requestCounts = NIOLockedValueBox<[String: Int]>([:])

    package init(
        services: NATSServices, maxConnections: Int, threads: Int, monitorHost: String,
        clientPort: @escaping @Sendable () -> Int = { 0 }, monitorPort: @escaping @Sendable () -> Int = { 0 }
    ) {
        self.clientPort = clientPort
        self.services = services
        self.maxConnections = maxConnections
        self.threads = threads
        self.monitorHost = monitorHost
        self.monitorPort = monitorPort
    }

    /// The paths served, in nats-server's order.
    package static let paths = ["/varz", "/connz", "/routez", "/subsz", "/healthz"]

    package func countRequest(_ path: String) {
        requestCounts.withLockedValue { $0[path, default: 0] += 1 }
    }

    // MARK: - /varz

    package func varz(_ connections: [NATSConnectionSnapshot], now: UInt64) -> ByteBuffer {
        let configuration = services.configuration
        let limits = configuration.limits
        let directory = services.directory
        let traffic = connections.reduce(directory.endedTraffic) { $0 + $1.traffic }
        var json = NATSMonitorJSON()
        json.beginObject()
        json.field("server_id", services.serverID)
        json.field("server_name", configuration.serverName)
        json.field("version", configuration.protocolVersion)
        json.field("proto", 1)
        json.field("go", "switchboard")
        json.field("host", services.host)
        json.field("port", clientPort())
        if !services.authenticator.allowsAnonymous { json.field("auth_required", true) }
        if services.tls != nil {
            json.field("tls_required", true)
            if services.tlsVerify { json.field("tls_verify", true) }
        }
        json.field("max_connections", maxConnections)
        json.field("ping_interval", limits.pingIntervalSeconds * 1_000_000_000)
        json.field("ping_max", limits.maxPingsOut)
        json.field("http_host", monitorHost)
        json.field("http_port", monitorPort())
        json.field("http_base_path", "")
        json.field("https_port", 0)
        json.field("auth_timeout", limits.authTimeoutSeconds)
        json.field("max_control_line", limits.maxControlLine)
        json.field("max_payload", limits.maxPayload)
        json.field("max_pending", limits.maxPending)
        for section in ["cluster", "gateway", "leaf", "mqtt", "websocket", "jetstream"] { json.emptyObject(section) }
        json.field("tls_timeout", 0)
        json.field("write_deadline", configuration.writeDeadlineMilliseconds * 1_000_000)
        json.field("start", NATSMonitorFormat.time(services.startedAt))
        json.field("now", NATSMonitorFormat.time(now))
        json.field("uptime", NATSMonitorFormat.uptime(nanoseconds: now &- min(now, services.startedAt)))
        json.field("mem", Self.residentBytes())
        json.field("cores", System.coreCount)
        json.field("gomaxprocs", threads)
        json.field("cpu", 0)
        json.field("connections", connections.count)
        json.field("total_connections", directory.totalConnections)
        json.field("routes", 0)
        json.field("remotes", 0)
        json.field("leafnodes", 0)
        json.field("in_msgs", traffic.inMessages)
        json.field("out_msgs", traffic.outMessages)
        json.field("in_bytes", traffic.inBytes)
        json.field("out_bytes", traffic.outBytes)
        json.field("slow_consumers", directory.slowConsumers)
        json.field("subscriptions", connections.reduce(0) { $0 + $1.subscriptions.count })
        json.beginObject("http_req_stats")
        let counts = requestCounts.withLockedValue { $0 }
        for path in Self.paths + ["/"] { if let count = counts[path] { json.field(path, count) } }
        json.endObject()
        json.field("config_load_time", NATSMonitorFormat.time(services.startedAt))
        json.endObject()
        return json.buffer
    }

    // MARK: - /connz

    package func connz(_ connections: [NATSConnectionSnapshot], options: NATSConnzOptions, now: UInt64) -> ByteBuffer {
        let (page, total) = options.select(connections, now: now)
        var json = NATSMonitorJSON()
        json.beginObject()
        json.field("server_id", services.serverID)
        json.field("now", NATSMonitorFormat.time(now))
        json.field("num_connections", page.count)
        json.field("total", total)
        json.field("offset", options.offset)
        json.field("limit", options.limit)
        json.beginArray("connections")
        for connection in page { write(connection, options: options, now: now, into: &json) }
        json.endArray()
        json.endObject()
        return json.buffer
    }

    private func write(
        _ connection: NATSConnectionSnapshot, options: NATSConnzOptions, now: UInt64, into json: inout NATSMonitorJSON
    ) {
        json.beginObject()
        json.field("cid", connection.clientID)
        json.field("kind", "Client")
        json.field("type", connection.isWebSocket ? "websocket" : "nats")
        json.field("ip", connection.ip ?? "")
        json.field("port", connection.port ?? 0)
        json.field("start", NATSMonitorFormat.time(connection.startedAt))
        json.field("last_activity", NATSMonitorFormat.time(connection.lastActivityAt))
        json.field("uptime", NATSMonitorFormat.uptime(nanoseconds: now &- min(now, connection.startedAt)))
        json.field("idle", NATSMonitorFormat.uptime(nanoseconds: now &- min(now, connection.lastActivityAt)))
        json.field("pending_bytes", connection.pendingBytes)
        json.field("in_msgs", connection.traffic.inMessages)
        json.field("out_msgs", connection.traffic.outMessages)
        json.field("in_bytes", connection.traffic.inBytes)
        json.field("out_bytes", connection.traffic.outBytes)
        json.field("subscriptions", connection.subscriptions.count)
        json.field("name", omittingNil: connection.name)
        json.field("lang", omittingNil: connection.lang)
        json.field("version", omittingNil: connection.version)
        if options.authorizedUser { json.field("authorized_user", omittingNil: connection.user) }
        if !connection.subscriptions.isEmpty {
            switch options.subscriptions {
            case .none:
                break
            case .subjects:
                json.beginArray("subscriptions_list")
                for subscription in connection.subscriptions { json.field(nil, subscription.subject) }
                json.endArray()
            case .detail:
                json.beginArray("subscriptions_list_detail")
                for subscription in connection.subscriptions {
                    write(subscription, of: connection, account: false, into: &json)
                }
                json.endArray()
            }
        }
        json.endObject()
    }

    private func write(
        _ subscription: NATSConnectionSnapshot.Subscription, of connection: NATSConnectionSnapshot, account: Bool,
        into json: inout NATSMonitorJSON
    ) {
        json.beginObject()
        // One account: nats-server's global account.
        if account { json.field("account", "$G") }
        json.field("subject", subscription.subject)
        json.field("qgroup", omittingNil: subscription.queue)
        json.field("sid", subscription.sid)
        json.field("msgs", subscription.messages)
        json.field("cid", connection.clientID)
        json.endObject()
    }

    // MARK: - /subsz, /routez, /healthz

    package func subsz(_ connections: [NATSConnectionSnapshot], options: NATSConnzOptions, now: UInt64) -> ByteBuffer {
        let directory = services.directory
        let count = connections.reduce(0) { $0 + $1.subscriptions.count }
        var json = NATSMonitorJSON()
        json.beginObject()
        let listed = options.subscriptions != .none
        if listed {
            json.field("server_id", services.serverID)
            json.field("now", NATSMonitorFormat.time(now))
        }
        json.field("num_subscriptions", count)
        json.field("num_cache", 0)
        json.field("num_inserts", directory.subscriptionInserts)
        json.field("num_removes", directory.subscriptionRemoves)
        json.field("num_matches", 0)
        json.field("cache_hit_rate", 0)
        json.field("max_fanout", 0)
        json.field("avg_fanout", 0)
        if listed {
            let all = connections.sorted { $0.clientID < $1.clientID }.flatMap { connection in
                connection.subscriptions.map { (connection, $0) }
            }
            let page =
                options.offset < all.count ? all[options.offset..<min(all.count, options.offset + options.limit)] : []
            json.field("total", all.count)
            json.field("offset", options.offset)
            json.field("limit", options.limit)
            json.beginArray("subscriptions_list")
            for (connection, subscription) in page {
                write(subscription, of: connection, account: true, into: &json)
            }
            json.endArray()
        }
        json.endObject()
        return json.buffer
    }

    /// No routes: Switchboard scales out through Redis, not cluster routes.
    package func routez(now: UInt64) -> ByteBuffer {
        var json = NATSMonitorJSON()
        json.beginObject()
        json.field("server_id", services.serverID)
        json.field("now", NATSMonitorFormat.time(now))
        json.field("num_routes", 0)
        json.beginArray("routes")
        json.endArray()
        json.endObject()
        return json.buffer
    }

    package func healthz() -> ByteBuffer { ByteBuffer(string: #"{"status":"ok"}"#) }

    /// The process's resident memory (Linux `/proc/self/statm`); 0 where it cannot be read.
    static func residentBytes() -> Int {
        guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return 0 }
        let fields = text.split(separator: " ")
        guard fields.count > 1, let pages = Int(fields[1]) else { return 0 }
        return pages * Int(getpagesize())
    }
}
