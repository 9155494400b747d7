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
    /// Several hosts in the URL (`redis://host1:port1,host2:port2,…`): the seed nodes of a Redis Cluster,
    /// each connection attempt trying them in turn; the first is also `host` and `port`. Empty for one
    /// host (then only `host:port` is dialled).
    public var seeds: [RedisAddress] = []

    /// What a connection attempt dials, in turn: the seeds, or `host:port`.
    public var addresses: [RedisAddress] { seeds.isEmpty ? [RedisAddress(host: host, port: port)] : seeds }

    /// What the client connects to, for logs and health reports: `host:port`, or the master name and
    /// sentinels.
    public var endpointDescription: String {
        guard let sentinel else { return addresses.map(\.description).joined(separator: ",") }
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

    /// Parses `redis://[user:password@]host[:port][,host[:port]…][/database][?parameters]` or `rediss://…`
    /// (TLS with the system's trust roots, or `ssl_ca_certs`; set `tls` afterwards for anything else);
    /// several hosts are a Redis Cluster's seed nodes (`seeds`, the form Lettuce reads for a cluster
    /// (`RedisClusterURIUtil`); `[IPv6]` literals allowed, 6379 when a host has no port), or a Sentinel
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
        // Several hosts: URLComponents takes one, so it is given the first and the list is read here.
        var single = url
        var seeds: [RedisAddress] = []
        if let schemeEnd = url.range(of: "://") {
            let authorityEnd = url[schemeEnd.upperBound...].firstIndex(where: { "/?#".contains($0) }) ?? url.endIndex
            let authority = url[schemeEnd.upperBound..<authorityEnd]
            let hostsStart = authority.lastIndex(of: "@").map { authority.index(after: $0) } ?? authority.startIndex
            let hosts = url[hostsStart..<authorityEnd]
            if hosts.contains(",") {
                for text in hosts.split(separator: ",", omittingEmptySubsequences: false) {
                    let seed = try RedisAddress.parse(text, defaultPort: 6379, refuse: refuse)
                    if !seeds.contains(seed) { seeds.append(seed) }
                }
                single.replaceSubrange(hostsStart..<authorityEnd, with: String(hosts.prefix { $0 != "," }))
            }
        }
        guard let components = URLComponents(string: single) else { throw refuse("not a URL") }
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
        if seeds.count > 1 {
            self.seeds = seeds
            // As parsed above (an `[IPv6]` literal without its brackets).
            self.host = seeds[0].host
            self.port = seeds[0].port
        }
        let parameters = try RedisURLParameters(query: Substring(components.percentEncodedQuery ?? ""), refuse: refuse)
        try parameters.apply(to: &self, refuse: refuse)
    }
}
