import Foundation
package import NIOCore
package import NIOHTTP1

/// A protocol served over WebSocket on the HTTP port (`/ws`, `/mqtt`, `/nats`, `/stomp`).
package protocol WebSocketEndpoint: Sendable {
    /// The request path it answers.
    var path: String { get }
    /// Largest frame (and largest reassembled message) accepted; larger ones close with 1009.
    var maxFrameSize: Int { get }
    /// Decides on an upgrade request: the headers to answer with (the chosen subprotocol), or a refusal.
    func negotiate(_ head: HTTPRequestHead, remoteAddress: SocketAddress?) -> WebSocketNegotiation
    /// Adds the endpoint's handlers after the upgrade (on the channel's loop). The pipeline then holds
    /// `WebSocketFrameInput` (frame decoding and `WebSocketClientFrameValidator`), so handlers receive
    /// whole, validated messages as `WebSocketFrame`s and write complete frames as `ByteBuffer`s
    /// (`WebSocketFrameWriter`).
    func configure(_ channel: any Channel, head: HTTPRequestHead) throws
    /// Whether and how the endpoint accepts permessage-deflate (RFC 7692); nil: it never does.
    var compression: WebSocketCompression? { get }
    /// `configure` for a connection that negotiated permessage-deflate (`deflate` set; the validator
    /// then hands over inflated messages) or not. The default ignores `deflate`: an endpoint that offers
    /// compression implements it to compress what it sends.
    func configure(_ channel: any Channel, head: HTTPRequestHead, deflate: WebSocketDeflateParameters?) throws
    /// Counts a refused upgrade (called once per refused request).
    func recordRefusal()
    /// Whether the frontend answers plain (not upgrading) requests to `path` with routes of its own
    /// (Engine.IO's polling transport); then the server's "upgrade required" answer is not registered.
    var answersPlainRequests: Bool { get }
    /// Slow work `negotiate` needs done first, off the loop (a password on the upgrade request): nil when
    /// there is none, else a future completing on `loop` when `negotiate` can answer at once.
    func prepare(_ head: HTTPRequestHead, on loop: any EventLoop) -> EventLoopFuture<Void>?
}

extension WebSocketEndpoint {
    package func prepare(_ head: HTTPRequestHead, on loop: any EventLoop) -> EventLoopFuture<Void>? { nil }

    package var compression: WebSocketCompression? { nil }

    package var answersPlainRequests: Bool { false }

    package func configure(_ channel: any Channel, head: HTTPRequestHead, deflate: WebSocketDeflateParameters?) throws {
        try configure(channel, head: head)
    }

    /// The permessage-deflate parameters for an upgrade request: nil unless the endpoint offers
    /// compression and the request carries an offer it can honour.
    package func deflateParameters(for head: HTTPRequestHead) -> WebSocketDeflateParameters? {
        compression == nil ? nil : WebSocketDeflateNegotiation.accept(head.headers)
    }
}

/// The answer to an upgrade request.
package enum WebSocketNegotiation: Sendable {
    case accept(HTTPHeaders)
    case refuse(HTTPResponse)
}

/// Checks shared by browser-facing endpoints.
package struct OriginPolicy: Sendable {
    /// Allowed `Origin` values; `*` allows any. Requests without an Origin (non-browser clients) pass.
    package var allowed: [String]
    package init(allowed: [String]) { self.allowed = allowed }

    package func permits(_ head: HTTPRequestHead) -> Bool {
        guard let origin = head.headers.first(name: "Origin"), !allowed.contains("*") else { return true }
        return allowed.contains(origin)
    }
}

/// Picks a subprotocol: the first offered one we support; none offered means the default.
package enum SubprotocolNegotiation {
    /// The chosen subprotocol (nil: none offered, use the default), or the 400 refusal to send.
    package static func choose(offered head: HTTPRequestHead, supported: [String]) -> (
        chosen: String?, refusal: HTTPResponse?
    ) {
        let offered = head.headers[canonicalForm: "Sec-WebSocket-Protocol"].map { String($0) }
        guard !offered.isEmpty else { return (nil, nil) }
        if let chosen = offered.first(where: { supported.contains($0) }) { return (chosen, nil) }
        return (
            nil,
            HTTPResponse.error(
                .badRequest(
                    "unsupported WebSocket subprotocol \(offered.joined(separator: ", ")); supported: \(supported.joined(separator: ", "))"
                ))
        )
    }
}

/// API versioning on upgrade (docs/protocols/websocket.md): a client may state the protocol version it
/// speaks in `X-Version` (browsers, which cannot set headers on a WebSocket, use the subprotocol,
/// `switchboard.v1`). A version the endpoint does not serve is refused before the upgrade with 426 and a
/// body naming the versions served; no header means the current version.
package enum ProtocolVersionNegotiation {
    package static func refusal(_ head: HTTPRequestHead, served: [String]) -> HTTPResponse? {
        guard let asked = head.headers.first(name: "X-Version")?.trimmingCharacters(in: .whitespaces) else {
            return nil
        }
        let normalized = asked.lowercased().hasPrefix("v") ? String(asked.dropFirst()) : asked
        if served.contains(normalized) { return nil }
        var response = HTTPResponse.error(
            APIError(
                .upgradeRequired, "unsupported_version",
                "X-Version \(asked) is not served here; versions served: \(served.joined(separator: ", "))"))
        response.headers.add(name: "X-Version", value: served.joined(separator: ", "))
        return response
    }
}
