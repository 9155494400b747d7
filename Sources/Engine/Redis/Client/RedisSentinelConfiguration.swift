import Foundation

/// A master found through Redis Sentinel (https://redis.io/docs/latest/operate/oss_and_stack/management/sentinel-clients/):
/// each connection attempt asks the sentinels in turn for the master's address
/// (`SENTINEL GET-MASTER-ADDR-BY-NAME`), connects to it and checks with `ROLE` that it is the master.
public struct RedisSentinelConfiguration: Sendable, Equatable {
    /// The URL scheme: `redis-sentinel://` (as Lettuce spells it).
    public static let scheme = "redis-sentinel"
    /// The same over TLS, to the sentinels and the master alike (Lettuce's `rediss-sentinel://`).
    public static let tlsScheme = "rediss-sentinel"
    static let schemes = [scheme, tlsScheme]
    /// Sentinel's own port, for a sentinel given without one.
    public static let defaultPort = 26379

    /// The sentinels, asked in this order (one that answers moves to the front, as the Sentinel client
    /// guidelines say).
    public var sentinels: [RedisAddress]
    /// The name the sentinels monitor the master under (`sentinel monitor <name> …`).
    public var masterName: String
    /// The ACL user the sentinels are asked as (`sentinel_user`); nil with a password is `default`.
    public var user: String?
    /// The sentinels' own password (`requirepass` in sentinel.conf; `sentinel_password` or
    /// `sentinel_password_file`); nil asks them without AUTH. The master's password is not sent to them.
    public var password: String?

    public init(sentinels: [RedisAddress], masterName: String, user: String? = nil, password: String? = nil) {
        self.sentinels = sentinels
        self.masterName = masterName
        self.user = user
        self.password = password
    }

    /// What a Sentinel URL holds: the sentinels and master name, and what applies to the master.
    public struct ParsedURL: Sendable, Equatable {
        public var sentinel: RedisSentinelConfiguration
        public var user: String?
        public var password: String?
        public var database: Int
        /// The query (`?…`), percent-encoded, for `RedisURLParameters`.
        public var query: Substring = ""
    }

    /// Parses `redis-sentinel://[user:password@]host[:port][,host[:port]…]/<master-name>[/<database>][?parameters]`,
    /// or Lettuce's form `redis-sentinel://…[/<database>][?parameters]#<master-name>`; `rediss-sentinel://`
    /// alike. Hosts may be `[IPv6]`; a sentinel without a port is on 26379. User, password and master
    /// name are percent-decoded; the user and password are the master's (the sentinels' own are the
    /// `sentinel_user`/`sentinel_password` parameters, `RedisURLParameters`).
    public static func parse(_ url: String) throws -> ParsedURL {
        func refuse(_ why: String) -> RedisClientError { .invalidURL("\(why): \(RedisURLParameters.redacted(url))") }
        guard let schemeEnd = url.range(of: "://"), schemes.contains(url[..<schemeEnd.lowerBound].lowercased()) else {
            throw refuse("the scheme must be \(scheme) or \(tlsScheme)")
        }
        var rest = Substring(url[schemeEnd.upperBound...])
        var fragment: Substring?
        if let hash = rest.firstIndex(of: "#") {
            fragment = rest[rest.index(after: hash)...]
            rest = rest[..<hash]
        }
        var query: Substring = ""
        if let mark = rest.firstIndex(of: "?") {
            query = rest[rest.index(after: mark)...]
            rest = rest[..<mark]
        }
        let authorityEnd = rest.firstIndex(of: "/") ?? rest.endIndex
        var authority = rest[..<authorityEnd]
        let path = rest[authorityEnd...].drop(while: { $0 == "/" })
        var user: String?
        var password: String?
        if let at = authority.lastIndex(of: "@") {
            let credentials = authority[..<at]
            authority = authority[authority.index(after: at)...]
            let parts = credentials.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
            guard let decodedUser = String(parts[0]).removingPercentEncoding else {
                throw refuse("the user is not percent-encoded")
            }
            user = decodedUser.isEmpty ? nil : decodedUser
            if parts.count == 2 {
                guard let decoded = String(parts[1]).removingPercentEncoding else {
                    throw refuse("the password is not percent-encoded")
                }
                password = decoded
            }
        }
        let sentinels = try authority.split(separator: ",", omittingEmptySubsequences: false).map {
            try RedisAddress.parse($0, defaultPort: defaultPort, refuse: refuse)
        }
        guard !sentinels.isEmpty else { throw refuse("no sentinel") }

        let segments = path.split(separator: "/", omittingEmptySubsequences: false)
        var masterName: Substring
        var databaseText: Substring?
        if let fragment {
            masterName = fragment
            if !path.isEmpty {
                guard segments.count == 1 else { throw refuse("with #<master-name>, the path is the database") }
                databaseText = segments[0]
            }
        } else {
            guard !path.isEmpty, segments.count <= 2 else {
                throw refuse("the path must be /<master-name> or /<master-name>/<database>")
            }
            masterName = segments[0]
            databaseText = segments.count == 2 ? segments[1] : nil
        }
        guard let name = String(masterName).removingPercentEncoding, !name.isEmpty else {
            throw refuse("no master name")
        }
        var database = 0
        if let databaseText {
            guard let number = Int(databaseText), number >= 0 else { throw refuse("the database must be a number") }
            database = number
        }
        return ParsedURL(
            sentinel: RedisSentinelConfiguration(sentinels: sentinels, masterName: name), user: user,
            password: password, database: database, query: query)
    }
}
