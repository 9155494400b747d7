import BusCore
package import NIOCore
package import NIOHTTP1

/// A whole HTTP request as routes see it (the body is collected up to the configured limit).
package struct HTTPRequest: Sendable {
    package var head: HTTPRequestHead
    package var body: ByteBuffer
    package var path: String
    package var query: [String: [String]]
    /// Path parameters captured by the route (`/api/connections/:id` → `id`).
    package var parameters: [String: String] = [:]
    package var remoteAddress: SocketAddress?
    /// Completes when the connection closes, so a held answer (long polling) can give up early.
    package var closeFuture: EventLoopFuture<Void>?
    /// The common name of the client certificate the TLS handshake verified (HTTPS with mTLS).
    package var clientCertificateName: String?
    /// The connection the request came on, as a publisher that publisher flow control may pause.
    package var publishingConnection: HTTPPublishingConnection?

    package init(head: HTTPRequestHead, body: ByteBuffer, remoteAddress: SocketAddress?) {
        self.head = head
        self.body = body
        self.remoteAddress = remoteAddress
        let (path, query) = HTTPRequest.split(head.uri)
        self.path = path
        self.query = query
    }

    /// The first value of a query parameter.
    package func query(_ name: String) -> String? { query[name]?.first }

    static func split(_ uri: String) -> (String, [String: [String]]) {
        guard let mark = uri.firstIndex(of: "?") else { return (percentDecode(uri), [:]) }
        var query: [String: [String]] = [:]
        for pair in uri[uri.index(after: mark)...].split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let key = percentDecode(String(parts[0]), plusIsSpace: true)
            let value = parts.count > 1 ? percentDecode(String(parts[1]), plusIsSpace: true) : ""
            query[key, default: []].append(value)
        }
        return (percentDecode(String(uri[..<mark])), query)
    }

    /// Decodes %XX escapes (and `+` in query strings). Malformed escapes are kept as written.
    package static func percentDecode(_ text: String, plusIsSpace: Bool = false) -> String {
        guard text.utf8.contains(where: { $0 == UInt8(ascii: "%") || (plusIsSpace && $0 == UInt8(ascii: "+")) }) else {
            return text
        }
        var out: [UInt8] = []
        let bytes = Array(text.utf8)
        var i = 0
        while i < bytes.count {
            let byte = bytes[i]
            if byte == UInt8(ascii: "%"), i + 2 < bytes.count, let hi = hex(bytes[i + 1]), let lo = hex(bytes[i + 2]) {
                out.append(hi << 4 | lo)
                i += 3
            } else {
                out.append(plusIsSpace && byte == UInt8(ascii: "+") ? UInt8(ascii: " ") : byte)
                i += 1
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    private static func hex(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}

/// A whole HTTP response.
package struct HTTPResponse: Sendable {
    package var status: HTTPResponseStatus
    package var headers: HTTPHeaders
    package var body: ByteBuffer
    /// A body written over time instead of `body` (Server-Sent Events); see `HTTPResponseStream`.
    package var stream: (any HTTPResponseStream)?
    /// Instead of an answer: the client's connection is spliced to another instance, which answers the
    /// request itself (`HTTPTunnel`: a WebSocket or event stream of a session held there).
    package var tunnel: HTTPTunnel?

    package init(
        status: HTTPResponseStatus, headers: HTTPHeaders = HTTPHeaders(), body: ByteBuffer = ByteBuffer(),
        stream: (any HTTPResponseStream)? = nil
    ) {
        self.status = status
        self.headers = headers
        self.body = body
        self.stream = stream
    }

    /// The answer that splices the client's connection to `tunnel`.
    package static func spliced(to tunnel: HTTPTunnel) -> HTTPResponse {
        var response = HTTPResponse(status: .switchingProtocols)
        response.tunnel = tunnel
        return response
    }

    private static let bodyAllocator = ByteBufferAllocator()

    /// A JSON response; `write` fills the body.
    package static func json(_ status: HTTPResponseStatus = .ok, _ write: (inout ByteBuffer) -> Void) -> HTTPResponse {
        // Room for a typical answer (a record, an acknowledgement) up front: grown from empty, the body was
        // reallocated at each power of two on its way there.
        var body = Self.bodyAllocator.buffer(capacity: 256)
        write(&body)
        var headers = HTTPHeaders()
        headers.reserveCapacity(4)  // Content-Type and what a route adds (ETag, Location) without growing
        headers.add(name: "Content-Type", value: "application/json")
        return HTTPResponse(status: status, headers: headers, body: body)
    }

    /// `{"error":{"code":…,"message":…}}` with its status.
    package static func error(_ error: APIError) -> HTTPResponse {
        json(error.status) { body in
            body.writeStaticString("{\"error\":{\"code\":")
            body.writeJSONString(error.code)
            body.writeStaticString(",\"message\":")
            body.writeJSONString(error.message)
            body.writeStaticString("}}")
        }
    }
}

/// An error an HTTP route answers with: a status, a stable code and a message for people.
package struct APIError: Error, Sendable {
    package var status: HTTPResponseStatus
    package var code: String
    package var message: String

    package init(_ status: HTTPResponseStatus, _ code: String, _ message: String) {
        self.status = status
        self.code = code
        self.message = message
    }

    package static func badRequest(_ message: String) -> APIError { APIError(.badRequest, "bad_request", message) }
    package static func notFound(_ message: String) -> APIError { APIError(.notFound, "not_found", message) }
    package static func unauthorized(_ message: String) -> APIError { APIError(.unauthorized, "unauthorized", message) }
    package static func forbidden(_ message: String) -> APIError { APIError(.forbidden, "permission_denied", message) }
    package static func tooLarge(_ message: String) -> APIError { APIError(.payloadTooLarge, "too_large", message) }
    package static func unavailable(_ message: String) -> APIError {
        APIError(.serviceUnavailable, "unavailable", message)
    }
}
