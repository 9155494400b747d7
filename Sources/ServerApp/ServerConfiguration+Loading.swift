package import BusCore
import Foundation
package import FrontendKit
import Logging
import RedisEngine
import Storage

/// Why a configuration was refused; the message names the key or flag.
package struct ConfigurationError: Error, CustomStringConvertible {
    package var description: String
    init(_ description: String) { self.description = description }
}

/// Flags given on the command line (nil: not given).
package struct ConfigurationOverrides: Sendable {
    package var host: String?
    package var httpPort: Int?
    package var configFile: String?
    package var dataDirectory: String?
    package var apiKey: String?
    package var logLevel: String?
    package var threads: Int?
    package var webSocketEchoPath: String?
    /// `--port NAME=PORT|off`: a frontend's TCP port (or `http`'s).
    package var ports: [String] = []
    /// `--tls-port NAME=PORT|off`: a frontend's TLS listener.
    package var tlsPorts: [String] = []
    /// `--disable NAME` / `--enable NAME`.
    package var disabled: [String] = []
    package var enabled: [String] = []
    /// `--set NAME.KEY=VALUE`: any key of a frontend's section.
    package var settings: [String] = []
    package var history: [String] = []
    package var durableHistory: [String] = []
    package var storage: String?
    package var durability: String?
    package var presence: [String] = []
    /// `--engine redis://…`: join other instances through Redis.
    package var engine: String?
    /// `--engine-advertise HOST[:PORT]`: where the other instances reach this one.
    package var engineAdvertise: String?
    /// `--engine-max-backlog-bytes N`: what is kept while Redis is unreachable.
    package var engineMaxBacklogBytes: String?
    package init() {}
}

extension ServerConfiguration {
    /// Defaults, then the config file, then `SWITCHBOARD_*` variables, then flags.
    /// `frontends`: the protocols to configure (`FrontendList.all`; tests and embedders add their own).
    package static func load(
        overrides: ConfigurationOverrides, environment: [String: String] = ProcessInfo.processInfo.environment,
        frontends: [any Frontend.Type] = FrontendList.all
    ) throws -> ServerConfiguration {
        var configuration = ServerConfiguration(frontends: frontends)
        if let path = overrides.configFile ?? environment["SWITCHBOARD_CONFIG"] {
            let data: Data
            do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
                throw ConfigurationError("cannot read config file \(path): \(error.localizedDescription)")
            }
            try configuration.apply(file: data)
            try configuration.apply(securityFile: data)
            try configuration.apply(collectionsFile: data)
            try configuration.apply(
                payloadSchemasFile: data, directory: URL(fileURLWithPath: path).deletingLastPathComponent())
        }
        try configuration.apply(environment: environment)
        try configuration.apply(overrides)
        return configuration
    }

    mutating func apply(file data: Data) throws {
        let file: ConfigFile
        do { file = try JSONDecoder().decode(ConfigFile.self, from: data) } catch {
            throw ConfigurationError("config file is not valid: \(error)")
        }
        if let value = file.host { host = value }
        if let value = file.http_port { httpPort = value }
        if let value = file.data_dir { dataDirectory = value }
        if let value = file.storage { storage = try Self.storageKind(value, key: "storage") }
        if let value = file.engine { engine = try Self.engineURL(value, key: "engine") }
        if let value = file.engine_advertise {
            engineAdvertise = try Self.advertisedAddress(value, key: "engine_advertise")
        }
        if let value = file.engine_max_backlog_bytes {
            engineMaxBacklogBytes = try Self.backlogBytes(String(value), key: "engine_max_backlog_bytes")
        }
        if let value = file.durability { durability = try Self.parseDurability(value, key: "durability") }
        if let value = file.api_key { apiKey = value }
        if let value = file.anonymous { anonymous = value }
        if let value = file.tokens { tokens = value }
        if let value = file.allowed_origins { allowedOrigins = value }
        if let value = file.virtual_hosts { virtualHosts = try Self.virtualHosts(value) }
        if let value = file.log_level { logLevel = try Self.parseLevel(value) }
        if let value = file.threads { eventLoopThreads = value }
        // The legacy top-level key first, so the section's own `port` wins.
        if let value = file.mqtt_port { try setFrontend("mqtt", "port", text: String(value), source: "mqtt_port") }
        try apply(frontendSections: data)
        // The file's lists replace the default; `[]` keeps no history / no presence.
        if let rules = file.history {
            history = try rules.map { rule in
                HistoryPolicy.Rule(
                    filter: try Self.filter(rule.filter, key: "history.filter"),
                    limits: HistoryLimits(
                        count: rule.count, maxAgeSeconds: rule.age_seconds, maxBytes: rule.bytes ?? (1 << 20),
                        durable: rule.durable ?? false))
            }
        }
        if let filters = file.presence { presence = try filters.map { try Self.filter($0, key: "presence") } }
        if let specifications = file.streams {
            streams = try specifications.map { specification in
                do { return try specification.configuration() } catch {
                    throw ConfigurationError("streams: \(error)")
                }
            }
            let names = streams.map(\.name)
            guard Set(names).count == names.count else { throw ConfigurationError("streams: two streams share a name") }
        }
        if let l = file.limits {
            if let v = l.max_connections { limits.maxConnections = v }
            if let v = l.max_frame_bytes { limits.maxFrameBytes = v }
            if let v = l.max_outbound_bytes { limits.maxOutboundBytes = v }
            if let v = l.slow_consumer {
                guard let policy = SlowConsumerPolicy(rawValue: v) else {
                    throw ConfigurationError("limits.slow_consumer must be \"drop\" or \"disconnect\"")
                }
                limits.slowConsumer = policy
            }
            if let v = l.ping_interval_seconds { limits.pingIntervalSeconds = v }
            if let v = l.pong_timeout_seconds { limits.pongTimeoutSeconds = v }
            if let v = l.connect_timeout_seconds { limits.connectTimeoutSeconds = v }
            if let v = l.max_history_topics { limits.maxHistoryTopics = v }
            if let v = l.max_history_bytes { limits.maxHistoryBytes = v }
            if let v = l.stream_memory_tail_bytes {
                switch v.value {
                case .bytes(let bytes):
                    guard bytes >= 0 else {
                        throw ConfigurationError("limits.stream_memory_tail_bytes must not be negative")
                    }
                    limits.streamMemoryTailBytes = bytes
                case .all: limits.streamMemoryTailBytes = nil
                case .default: limits.streamMemoryTailBytes = StreamMemoryTail.defaultBytes
                }
            }
            if let v = l.max_records { limits.maxRecords = v }
            if let v = l.max_store_bytes {
                guard v >= 0 else { throw ConfigurationError("limits.max_store_bytes must be 0 (no bound) or more") }
                limits.maxStoreBytes = v
            }
            if let v = l.rpc_max_timeout_ms { limits.rpcMaxTimeoutMilliseconds = v }
            if let v = l.max_subscriptions_per_connection { limits.maxSubscriptionsPerConnection = v }
            if let v = l.max_body_bytes { limits.maxBodyBytes = v }
            if let v = l.http_request_timeout_seconds { limits.httpRequestTimeoutSeconds = v }
            if let v = l.http_keep_alive_seconds { limits.httpKeepAliveSeconds = v }
        }
        try validate()
    }

    mutating func apply(environment: [String: String]) throws {
        if let value = environment["SWITCHBOARD_HOST"] { host = value }
        if let value = environment["SWITCHBOARD_HTTP_PORT"] {
            httpPort = try Self.port(value, key: "SWITCHBOARD_HTTP_PORT")
        }
        if let value = environment["SWITCHBOARD_DATA_DIR"] { dataDirectory = value }
        if let value = environment["SWITCHBOARD_ENGINE"] {
            engine = try Self.engineURL(value, key: "SWITCHBOARD_ENGINE")
        }
        if let value = environment["SWITCHBOARD_ENGINE_ADVERTISE"] {
            engineAdvertise = try Self.advertisedAddress(value, key: "SWITCHBOARD_ENGINE_ADVERTISE")
        }
        if let value = environment["SWITCHBOARD_ENGINE_MAX_BACKLOG_BYTES"] {
            engineMaxBacklogBytes = try Self.backlogBytes(value, key: "SWITCHBOARD_ENGINE_MAX_BACKLOG_BYTES")
        }
        if let value = environment["SWITCHBOARD_STORAGE"] {
            storage = try Self.storageKind(value, key: "SWITCHBOARD_STORAGE")
        }
        if let value = environment["SWITCHBOARD_DURABILITY"] {
            durability = try Self.parseDurability(value, key: "SWITCHBOARD_DURABILITY")
        }
        if let value = environment["SWITCHBOARD_API_KEY"], !value.isEmpty { apiKey = value }
        if let value = environment["SWITCHBOARD_LOG_LEVEL"] { logLevel = try Self.parseLevel(value) }
        if let value = environment["SWITCHBOARD_THREADS"] {
            guard let threads = Int(value) else {
                throw ConfigurationError("SWITCHBOARD_THREADS: \"\(value)\" is not a number")
            }
            eventLoopThreads = threads
        }
        // First matching rule wins, so environment rules go before the file's.
        if let value = environment["SWITCHBOARD_HISTORY"] {
            history = try Self.layered(value.split(separator: ";").map(String.init), over: history) {
                try Self.parseHistoryRule($0)
            }
        }
        if let value = environment["SWITCHBOARD_DURABLE_HISTORY"] {
            history = try Self.layered(value.split(separator: ";").map(String.init), over: history) {
                try Self.parseHistoryRule($0, durable: true)
            }
        }
        if let value = environment["SWITCHBOARD_PRESENCE"] {
            presence = try Self.layered(value.split(separator: ";").map(String.init), over: presence) {
                try Self.filter($0, key: "SWITCHBOARD_PRESENCE")
            }
        }
        // SWITCHBOARD_<FRONTEND>_<KEY> for every key of every frontend's section.
        for frontend in frontends {
            for key in frontend.keys {
                let variable = "SWITCHBOARD_\(frontend.name.uppercased())_\(key.key.uppercased())"
                if let value = environment[variable] {
                    try setFrontend(frontend.name, key.key, text: value, source: variable)
                }
            }
        }
    }

    mutating func apply(_ overrides: ConfigurationOverrides) throws {
        if let value = overrides.host { host = value }
        if let value = overrides.httpPort { httpPort = value }
        if let value = overrides.dataDirectory { dataDirectory = value }
        if let value = overrides.storage { storage = try Self.storageKind(value, key: "--storage") }
        if let value = overrides.engine { engine = try Self.engineURL(value, key: "--engine") }
        if let value = overrides.engineAdvertise {
            engineAdvertise = try Self.advertisedAddress(value, key: "--engine-advertise")
        }
        if let value = overrides.engineMaxBacklogBytes {
            engineMaxBacklogBytes = try Self.backlogBytes(value, key: "--engine-max-backlog-bytes")
        }
        if let value = overrides.durability { durability = try Self.parseDurability(value, key: "--durability") }
        if let value = overrides.apiKey { apiKey = value }
        if let value = overrides.logLevel { logLevel = try Self.parseLevel(value) }
        if let value = overrides.threads { eventLoopThreads = value }
        if let value = overrides.webSocketEchoPath { webSocketEchoPath = value }
        try apply(frontendFlags: overrides)
        // Flag rules come first so they win over file rules for the same topics.
        history = try Self.layered(overrides.history, over: history) { try Self.parseHistoryRule($0) }
        history = try Self.layered(overrides.durableHistory, over: history) {
            try Self.parseHistoryRule($0, durable: true)
        }
        presence = try Self.layered(overrides.presence, over: presence) { try Self.filter($0, key: "--presence") }
        try validate()
    }

    func validate() throws {
        guard (0...65535).contains(httpPort) else { throw ConfigurationError("http port \(httpPort) is out of range") }
        for frontend in frontends {
            do { try frontend.validate() } catch { throw ConfigurationError("\(frontend.name): \(error)") }
        }
        guard (1...256).contains(eventLoopThreads) else {
            throw ConfigurationError("threads must be between 1 and 256")
        }
        guard limits.maxFrameBytes >= 125 else {
            throw ConfigurationError("limits.max_frame_bytes must be at least 125")
        }
        guard limits.httpRequestTimeoutSeconds > 0, limits.httpKeepAliveSeconds > 0 else {
            throw ConfigurationError("limits.http_request_timeout_seconds and http_keep_alive_seconds must be positive")
        }
        guard limits.pingIntervalSeconds > 0, limits.pongTimeoutSeconds > 0, limits.connectTimeoutSeconds > 0 else {
            throw ConfigurationError(
                "limits.ping_interval_seconds, pong_timeout_seconds and connect_timeout_seconds must be positive")
        }
        guard limits.maxHistoryTopics >= 0 else {
            throw ConfigurationError("limits.max_history_topics must not be negative")
        }
        guard limits.maxHistoryBytes >= 0 else {
            throw ConfigurationError("limits.max_history_bytes must not be negative")
        }
        guard limits.maxRecords >= 0 else { throw ConfigurationError("limits.max_records must not be negative") }
    }

    /// One source's history rules or presence filters over what the sources before it gave (nil: the
    /// default). Given ones go first (first match wins) and replace the default; `none` among them drops
    /// what the sources before gave, so `--history none` alone keeps no history at all.
    static func layered<Item>(_ texts: [String], over earlier: [Item]?, parse: (String) throws -> Item) throws
        -> [Item]?
    {
        guard !texts.isEmpty else { return earlier }
        let given = try texts.filter { $0.lowercased() != "none" }.map(parse)
        return texts.contains { $0.lowercased() == "none" } ? given : given + (earlier ?? [])
    }

    /// A Redis URL (`redis://`, `rediss://`, `redis-sentinel://` or `rediss-sentinel://`), checked as the
    /// client will read it (its password and key files read now, so a missing one stops `serve` at start).
    static func engineURL(_ text: String, key: String) throws -> String {
        let schemes = ["redis://", "rediss://", "redis-sentinel://", "rediss-sentinel://"]
        guard schemes.contains(where: { text.hasPrefix($0) }) else {
            throw ConfigurationError(
                "\(key): the engine is not a redis://, rediss://, redis-sentinel:// or rediss-sentinel:// URL")
        }
        do { _ = try RedisClientConfiguration(url: text) } catch {
            throw ConfigurationError("\(key): \(error)")
        }
        return text
    }

    /// What the engine keeps while Redis is unreachable: a number of bytes, 0 (keep nothing) or more.
    static func backlogBytes(_ text: String, key: String) throws -> Int {
        guard let bytes = Int(text), bytes >= 0 else {
            throw ConfigurationError("\(key): \"\(text)\" is not a number of bytes (0 or more)")
        }
        return bytes
    }

    /// `HOST`, `HOST:PORT`, `[IPv6]` or `[IPv6]:PORT` (a port from 1 to 65535), as the other instances
    /// will dial it (`SessionForwarder.parse`).
    static func advertisedAddress(_ text: String, key: String) throws -> String {
        let refusal = ConfigurationError(
            "\(key): \"\(text)\" is not HOST, HOST:PORT, [IPv6] or [IPv6]:PORT")
        var host = Substring(text)
        var port: Substring?
        if host.hasPrefix("[") {
            guard let close = host.firstIndex(of: "]") else { throw refusal }
            let rest = host[host.index(after: close)...]
            if !rest.isEmpty {
                guard rest.hasPrefix(":") else { throw refusal }
                port = rest.dropFirst()
            }
            host = host[host.index(after: host.startIndex)..<close]
        } else if let colon = host.firstIndex(of: ":") {
            port = host[host.index(after: colon)...]
            host = host[..<colon]
        }
        guard !host.isEmpty, !host.contains(where: { $0 == " " || $0 == "/" }) else { throw refusal }
        if let port {
            guard let number = Int(port), (1...65535).contains(number) else { throw refusal }
        }
        return text
    }

    static func storageKind(_ text: String, key: String) throws -> StorageKind {
        switch text.lowercased() {
        case "sqlite": return .sqlite
        case "memory": return .memory
        case let url where url.hasPrefix("postgres://") || url.hasPrefix("postgresql://"):
            do { return .postgres(try PostgresStoreConfiguration(url: text)) } catch {
                throw ConfigurationError("\(key): \(error)")
            }
        default:
            throw ConfigurationError("\(key): \"\(text)\" is not one of sqlite, memory, postgres://…")
        }
    }

    static func parseDurability(_ text: String, key: String) throws -> StoreDurability {
        guard let mode = StoreDurability(rawValue: text.lowercased()) else {
            throw ConfigurationError("\(key): \"\(text)\" is not one of fsync, no-fsync")
        }
        return mode
    }

    /// `FILTER=COUNT[,AGE][,BYTES]`, AGE as `600`, `600s`, `10m`, `1h`.
    package static func parseHistoryRule(_ text: String, durable: Bool = false) throws -> HistoryPolicy.Rule {
        guard let equals = text.lastIndex(of: "=") else {
            throw ConfigurationError("history rule \"\(text)\" is not FILTER=COUNT[,AGE][,BYTES]")
        }
        let filter = try filter(String(text[..<equals]), key: "--history")
        let parts = text[text.index(after: equals)...].split(separator: ",").map(String.init)
        guard let first = parts.first, let count = Int(first), count >= 0 else {
            throw ConfigurationError("history rule \"\(text)\": COUNT must be a non-negative integer")
        }
        var age: Double?
        if parts.count > 1 { age = try parseDuration(parts[1], key: "history rule \"\(text)\"") }
        var bytes = 1 << 20
        if parts.count > 2 {
            guard let value = Int(parts[2]), value > 0 else {
                throw ConfigurationError("history rule \"\(text)\": BYTES must be a positive integer")
            }
            bytes = value
        }
        return HistoryPolicy.Rule(
            filter: filter, limits: HistoryLimits(count: count, maxAgeSeconds: age, maxBytes: bytes, durable: durable))
    }

    static func parseDuration(_ text: String, key: String) throws -> Double {
        let units: [(String, Double)] = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600), ("d", 86400)]
        for (suffix, scale) in units where text.hasSuffix(suffix) {
            if let value = Double(text.dropLast(suffix.count)), value >= 0 { return value * scale }
        }
        if let value = Double(text), value >= 0 { return value }
        throw ConfigurationError("\(key): \"\(text)\" is not a duration (600, 600s, 10m, 1h)")
    }

    static func filter(_ text: String, key: String) throws -> TopicFilter {
        do { return try TopicFilter(text) } catch {
            throw ConfigurationError("\(key): \"\(text)\" is not a valid filter: \(error)")
        }
    }

    static func port(_ text: String, key: String) throws -> Int {
        guard let value = Int(text), (0...65535).contains(value) else {
            throw ConfigurationError("\(key): \"\(text)\" is not a port")
        }
        return value
    }

    static func parseLevel(_ text: String) throws -> Logger.Level {
        guard let level = Logger.Level(rawValue: text.lowercased()) else {
            throw ConfigurationError(
                "log level \"\(text)\" is not one of trace, debug, info, notice, warning, error, critical")
        }
        return level
    }
}

/// The config file's shape (JSON, snake_case keys as documented in README and docs/operations.md).
private struct ConfigFile: Decodable {
    struct History: Decodable {
        var filter: String
        var count: Int
        var age_seconds: Double?
        var bytes: Int?
        var durable: Bool?
    }
    struct Limits: Decodable {
        var max_connections: Int?
        var max_frame_bytes: Int?
        var max_outbound_bytes: Int?
        var slow_consumer: String?
        var ping_interval_seconds: Int?
        var pong_timeout_seconds: Int?
        var connect_timeout_seconds: Int?
        var max_history_topics: Int?
        var max_history_bytes: Int?
        /// A number of bytes, `"all"` or `"default"` (`StreamSpecification.MemoryTail`).
        var stream_memory_tail_bytes: StreamSpecification.MemoryTail?
        var max_records: Int?
        var max_store_bytes: Int?
        var rpc_max_timeout_ms: Int?
        var max_subscriptions_per_connection: Int?
        var max_body_bytes: Int?
        var http_request_timeout_seconds: Int?
        var http_keep_alive_seconds: Int?
    }
    var host: String?
    var http_port: Int?
    /// Legacy spelling of `mqtt.port`.
    var mqtt_port: Int?
    var data_dir: String?
    var storage: String?
    var engine: String?
    var engine_advertise: String?
    var engine_max_backlog_bytes: Int?
    var durability: String?
    var api_key: String?
    var anonymous: Bool?
    var tokens: [String: String]?
    var history: [History]?
    var presence: [String]?
    /// Streams created at startup (or, when the store has them, given these filters and limits).
    var streams: [StreamSpecification]?
    var allowed_origins: [String]?
    var virtual_hosts: [VirtualHostEntry]?
    var limits: Limits?
    var log_level: String?
    var threads: Int?
}

/// One entry of `virtual_hosts`: a name (its topic prefix is the name) or `{"name": …, "topic_prefix": …}`.
struct VirtualHostEntry: Decodable {
    var name: String
    var topic_prefix: String?

    private enum CodingKeys: String, CodingKey {
        case name
        case topic_prefix
    }

    init(from decoder: any Decoder) throws {
        if let name = try? decoder.singleValueContainer().decode(String.self) {
            self.name = name
            return
        }
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.name = try container.decode(String.self, forKey: .name)
        self.topic_prefix = try container.decodeIfPresent(String.self, forKey: .topic_prefix)
    }
}

extension ServerConfiguration {
    /// `virtual_hosts` checked: unique names, each (other than `/`) with a concrete topic prefix, by
    /// default its name.
    static func virtualHosts(_ entries: [VirtualHostEntry]) throws -> [VirtualHostDefinition] {
        var seen: Set<String> = []
        return try entries.map { entry in
            let definition = VirtualHostDefinition(
                name: entry.name, topicPrefix: entry.name == "/" ? entry.topic_prefix : entry.topic_prefix ?? entry.name
            )
            if let problem = definition.problem() { throw ConfigurationError("virtual_hosts: \(problem)") }
            guard seen.insert(entry.name).inserted else {
                throw ConfigurationError("virtual_hosts: \(entry.name) is listed twice")
            }
            return definition
        }
    }
}
