import Foundation
package import NIOHTTP1

extension HTTPHeaders {
    /// What an HTTP request presents: `Authorization: Bearer <token>`, `Authorization: Basic` (RFC 7617;
    /// user and password, for static users), else `?token=` (`query`; an `EventSource` or a browser
    /// WebSocket cannot set headers).
    package func clientCredentials(query: String?, clientID: String? = nil) -> ClientCredentials {
        if let value = first(name: "Authorization") {
            let lowered = value.lowercased()
            if lowered.hasPrefix("bearer ") {
                return ClientCredentials(token: String(value.dropFirst(7)), clientID: clientID)
            }
            if lowered.hasPrefix("basic "),
                let decoded = Data(base64Encoded: String(value.dropFirst(6)).trimmingCharacters(in: .whitespaces)),
                let text = String(data: decoded, encoding: .utf8), let colon = text.firstIndex(of: ":")
            {
                return ClientCredentials(
                    username: String(text[..<colon]), password: String(text[text.index(after: colon)...]),
                    clientID: clientID)
            }
        }
        return ClientCredentials(token: query, clientID: clientID)
    }
}

extension HTTPHeaders {
    /// The token of `Authorization: Bearer <token>`, if that is what the request presents.
    package var bearerToken: String? {
        guard let value = first(name: "Authorization"), value.lowercased().hasPrefix("bearer ") else { return nil }
        return String(value.dropFirst(7))
    }
}

extension HTTPRequestHead {
    /// The credentials of a request that is not routed (a WebSocket upgrade): headers, else `?token=`.
    package var clientCredentials: ClientCredentials {
        headers.clientCredentials(query: HTTPRequest.split(uri).1["token"]?.first)
    }
}
