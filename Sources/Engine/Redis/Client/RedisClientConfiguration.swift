import Foundation
public import NIOCore
public import NIOSSL
public import RedisWire

/// Where and how a `RedisClient` connects. Build it from a URL (`redis://[user:pass@]host:port[/db]`,
/// `rediss://` for TLS, `redis-sentinel://` for a master found through Redis Sentinel) or field by field.
public struct RedisClientConfiguration: Sendable {
    public var host: String
    /// Default 6379, Redis's port.
    public var port: Int
    /// The ACL user for `HELLO 3 AUTH`; nil with a password means Redis's `default` user.
    public var user: String?
    /// The password (`requirepass` or the ACL user's); nil sends no AUTH.
    public var password: String?
    /// The logical database for `SELECT`; default 0, which sends no SELECT.
    public var database: Int
    /// TLS settings when the connection uses TLS (`rediss://`), nil for plain TCP.
    public var tls: TLSConfiguration?
    /// How long one connection attempt may take. Default 5 s.
    public var connectTimeout: TimeAmount
    /// The first reconnect delay after a drop. Default 50 ms: a restarted Redis is usually back quickly.
    public var reconnectInitialDelay: TimeAmount
    /// The cap on the doubling reconnect delay. Default 5 s: a long outage costs one attempt per 5 s.
    public var reconnectMaxDelay: TimeAmount
    /// The bounds on what the server may send (`RESPLimits`' defaults accept anything Redis stores).
    public var limits: RESPLimits
    /// When set, `host` and `port` are not dialled: each connection attempt asks these sentinels for the
    /// master's address first (`RedisSentinelConfiguration`).
    public var sentinel: RedisSentinelConfiguration?

    /// What the client connects to, for logs and health reports: `host:port`, or the master name and
    /// sentinels.
    public var endpointDescription: String {
        guard let sentinel else { return "\(host):\(port)" }
        let sentinels = sentinel.sentinels.map(\.description).joined(separator: ",")
        return "master \(sentinel.masterName) via sentinels \(sentinels)"
    }

    public init(
        host: String, port: Int = 6379, user: String? = nil, password: String? = nil, database: Int = 0,
        tls: TLSConfiguration? = nil, connectTimeout: TimeAmount = .seconds(5),
        reconnectInitialDelay: TimeAmount = .milliseconds(50), reconnectMaxDelay: TimeAmount = .seconds(5),
        limits: RESPLimits = RESPLimits()
    ) {
        self.host = host
        self.port = port
        self.user = user
        self.password = password
        self.database = database
        self.tls = tls
        self.connectTimeout = connectTimeout
        self.reconnectInitialDelay = reconnectInitialDelay
        self.reconnectMaxDelay = reconnectMaxDelay
        self.limits = limits
    }

    /// `url` with its passwords (the master's between `:` and `@`, `sentinel_password`) replaced by `***`,
    /// for logs and error messages.
    public static func redactedURL(_ url: String) -> String { RedisURLParameters.redacted(url) }

    /// Parses `redis://[user:password@]host[:port][/database][?parameters]` or `rediss://…` (TLS with the
    /// system's trust roots, or `ssl_ca_certs`; set `tls` afterwards for anything else), or a Sentinel
    /// URL (`RedisSentinelConfiguration.parse`, `rediss-sentinel://` for TLS to the sentinels and the
    /// master alike). User and password are percent-decoded; the parameters are `RedisURLParameters`'.
    public init(url: String) throws {
        func refuse(_ why: String) -> RedisClientError { .invalidURL("\(why): \(RedisURLParameters.redacted(url))") }
        let lowered = url.lowercased()
        if let scheme = RedisSentinelConfiguration.schemes.first(where: { lowered.hasPrefix($0 + "://") }) {
            let parsed = try RedisSentinelConfiguration.parse(url)
            self.init(
                host: parsed.sentinel.sentinels[0].host, port: parsed.sentinel.sentinels[0].port,
                user: parsed.user, password: parsed.password, database: parsed.database,
                tls: scheme == RedisSentinelConfiguration.tlsScheme ? .makeClientConfiguration() : nil)
            self.sentinel = parsed.sentinel
            try RedisURLParameters(query: parsed.query, refuse: refuse).apply(to: &self, refuse: refuse)
            return
        }
        guard let components = URLComponents(string: url) else { throw refuse("not a URL") }
        let tls: TLSConfiguration?
        switch components.scheme?.lowercased() {
        case "redis": tls = nil
        case "rediss": tls = .makeClientConfiguration()
        default: throw refuse("the scheme must be redis, rediss, redis-sentinel or rediss-sentinel")
        }
        guard let host = components.host, !host.isEmpty else { throw refuse("no host") }
        var database = 0
        let path = components.path.drop(while: { $0 == "/" })
        if !path.isEmpty {
            guard let number = Int(path), number >= 0 else { throw refuse("the path must be a database number") }
            database = number
        }
        let user = components.user.flatMap { $0.isEmpty ? nil : $0 }
        self.init(
            host: host, port: components.port ?? 6379, user: user, password: components.password,
            database: database, tls: tls)
        let parameters = try RedisURLParameters(query: Substring(components.percentEncodedQuery ?? ""), refuse: refuse)
        try parameters.apply(to: &self, refuse: refuse)
    }
}
