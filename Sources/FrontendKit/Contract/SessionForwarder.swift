package import BusRuntime
package import Logging
import NIOConcurrencyHelpers
package import NIOCore
package import NIOHTTP1

/// Long-polling sessions found by id on any instance (issue 23, docs/redis.md "Sessions across
/// instances"): with an engine, a polling transport's session id names the instance that holds it
/// (`<instance id>.<random>`), each instance keeps its HTTP address in Redis under its id (refreshed while
/// it runs), and a request for a session another instance holds is forwarded to it over HTTP/1.1 and its
/// answer relayed. Engine.IO (Socket.IO) and SignalR use it alike; a request that was forwarded once is
/// never forwarded again (`forwardedHeader`), and one whose owner is gone gets the protocol's own
/// "unknown session" answer from the caller.
package final class SessionForwarder: Sendable {
    /// Marks a forwarded request: its receiver answers it itself.
    package static let forwardedHeader = "X-Switchboard-Forwarded"
    /// How long an instance's address outlives its last refresh, and how often it is refreshed.
    package static let addressTTL = TimeAmount.seconds(10)
    package static let refreshInterval = TimeAmount.seconds(2)
    /// How often the not yet bound listener is looked at (the first announce comes right after it binds).
    package static let bindPollInterval = TimeAmount.milliseconds(100)

    let engine: any BusEngine
    /// This instance's id (the engine's).
    package let instanceID: String
    /// `host:port` the other instances reach this one's HTTP listener at; nil until it is bound.
    private let address: @Sendable () -> String?
    let client: HTTPForwardingClient
    let logger: Logger

    package init(
        engine: any BusEngine, group: any EventLoopGroup, logger: Logger, address: @escaping @Sendable () -> String?
    ) {
        self.engine = engine
        self.instanceID = engine.instanceID
        self.address = address
        self.client = HTTPForwardingClient(group: group)
        self.logger = logger
    }

    /// A session id for a new polling session here: `<instance id>.<random>`.
    package func sessionID(_ random: String) -> String { instanceID + "." + random }

    /// The instance a session id names when it is not this one (and the request was not forwarded
    /// already); nil: the session is this instance's to answer.
    package func owner(of sessionID: String, _ request: HTTPRequest) -> String? {
        guard request.head.headers[Self.forwardedHeader].isEmpty, let dot = sessionID.firstIndex(of: ".") else {
            return nil
        }
        let owner = String(sessionID[..<dot])
        return owner == instanceID || owner.isEmpty ? nil : owner
    }

    /// Forwards `request` to `owner` and returns its answer on `loop`; nil when the owner is gone (no
    /// address in Redis, or it cannot be reached): the caller answers "unknown session".
    package func forward(_ request: HTTPRequest, to owner: String, on loop: any EventLoop)
        -> EventLoopFuture<HTTPResponse?>
    {
        let client = self.client
        let logger = self.logger
        return engine.readRecord(Self.addressKey(owner)).hop(to: loop).flatMap { value in
            guard let value, let (host, port) = Self.parse(String(buffer: value)) else {
                return loop.makeSucceededFuture(nil)
            }
            var head = request.head
            head.headers.replaceOrAdd(name: Self.forwardedHeader, value: "1")
            return client.send(head, body: request.body, host: host, port: port, on: loop, cancel: request.closeFuture)
                .map { Optional($0) }
                .recover { error in
                    logger.info(
                        "forwarding a session request failed", metadata: ["owner": "\(owner)", "error": "\(error)"])
                    return nil
                }
        }
    }

    /// Splices the client's connection to `owner` (`HTTPTunnel`) for a request that never ends as one
    /// answer: a WebSocket upgrade or an event stream of a session held there. The answer, on `loop` (the
    /// client connection's), carries the tunnel, already connected with the request written; nil when the
    /// owner is gone (no address in Redis, or it cannot be reached): the caller answers "unknown session".
    package func tunnel(_ request: HTTPRequest, to owner: String, on loop: any EventLoop)
        -> EventLoopFuture<HTTPResponse?>
    {
        let logger = self.logger
        return engine.readRecord(Self.addressKey(owner)).hop(to: loop).flatMap { value in
            guard let value, let (host, port) = Self.parse(String(buffer: value)) else {
                return loop.makeSucceededFuture(nil)
            }
            return HTTPTunnel.open(request.head, body: request.body, host: host, port: port, on: loop)
                .map { Optional(HTTPResponse.spliced(to: $0)) }
                .recover { error in
                    logger.info(
                        "splicing a session connection failed", metadata: ["owner": "\(owner)", "error": "\(error)"])
                    return nil
                }
        }
    }

    /// Keeps this instance's address in Redis, on `loop`: as soon as the HTTP listener is bound (checked
    /// every `bindPollInterval`), then every `refreshInterval`.
    package func startAnnouncing(on loop: any EventLoop) -> RepeatedTask {
        let announcedAt = NIOLockedValueBox<NIODeadline?>(nil)
        return loop.scheduleRepeatedTask(initialDelay: .zero, delay: Self.bindPollInterval) { [self] _ in
            let now = NIODeadline.now()
            if let last = announcedAt.withLockedValue({ $0 }), now - last < Self.refreshInterval { return }
            guard let address = address() else { return }
            announcedAt.withLockedValue { $0 = now }
            engine.keepRecord(Self.addressKey(instanceID), value: ByteBuffer(string: address), ttl: Self.addressTTL)
        }
    }

    static func addressKey(_ instanceID: String) -> String { "instance:" + instanceID }

    /// `host:port` or `[v6]:port`.
    static func parse(_ text: String) -> (String, Int)? {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]) else {
            return nil
        }
        var host = String(text[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        return host.isEmpty ? nil : (host, port)
    }
}
