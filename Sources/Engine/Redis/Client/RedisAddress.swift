/// A host and port to dial.
public struct RedisAddress: Sendable, Hashable, CustomStringConvertible {
    public var host: String
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// `host:port`, `[v6]:port` for an IPv6 literal.
    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }

    /// Parses `host`, `host:port`, `[v6]` or `[v6]:port` (one host of a URL's comma-separated list: the
    /// sentinels of a Sentinel URL, the seed nodes of a cluster's); `defaultPort` when none is given.
    static func parse(
        _ text: Substring, defaultPort: Int, refuse: (String) -> RedisClientError
    ) throws -> RedisAddress {
        var host: Substring
        var port: Substring?
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { throw refuse("an unclosed [ in a host") }
            host = text[text.index(after: text.startIndex)..<close]
            let after = text[text.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":") else { throw refuse("\(text) is not [IPv6]:port") }
                port = after.dropFirst()
            }
        } else {
            let parts = text.split(separator: ":", omittingEmptySubsequences: false)
            guard parts.count <= 2 else { throw refuse("\(text) is not host:port") }
            host = parts[0]
            port = parts.count == 2 ? parts[1] : nil
        }
        guard !host.isEmpty, !host.contains(where: { $0.isWhitespace || $0 == "@" || $0 == "/" }) else {
            throw refuse("an empty or malformed host")
        }
        var number = defaultPort
        if let port {
            guard let value = Int(port), (1...65535).contains(value) else {
                throw refuse("a port must be 1 to 65535")
            }
            number = value
        }
        return RedisAddress(host: String(host), port: number)
    }
}
