/// A parsed `http(s)://` or `ws(s)://` URL: enough for the client, no Foundation needed.
public struct SwitchboardURL: Sendable, Hashable {
    public var scheme: String
    public var host: String
    public var port: Int
    public var path: String

    public init(_ text: String) throws(SwitchboardClientError) {
        let parts = text.split(separator: "://", maxSplits: 1, omittingEmptySubsequences: false)
        guard parts.count == 2 else { throw .invalidURL(text) }
        scheme = String(parts[0]).lowercased()
        guard ["http", "ws"].contains(scheme) else {
            throw .invalidURL("\(text): only http:// and ws:// are supported by this client")
        }
        let rest = parts[1]
        let slash = rest.firstIndex(of: "/") ?? rest.endIndex
        let authority = rest[..<slash]
        path = slash == rest.endIndex ? "/" : String(rest[slash...])
        if let colon = authority.lastIndex(of: ":"), let port = Int(authority[authority.index(after: colon)...]) {
            host = String(authority[..<colon])
            self.port = port
        } else {
            host = String(authority)
            port = 80
        }
        if host.isEmpty { throw .invalidURL(text) }
    }
}

/// Errors of the client SDK.
public enum SwitchboardClientError: Error, CustomStringConvertible, Sendable {
    case invalidURL(String)
    case connectionClosed
    case upgradeRefused(status: Int, body: String)

    public var description: String {
        switch self {
        case .invalidURL(let url): "invalid URL \(url)"
        case .connectionClosed: "connection closed before a response arrived"
        case .upgradeRefused(let status, let body): "WebSocket upgrade refused with HTTP \(status): \(body)"
        }
    }
}
