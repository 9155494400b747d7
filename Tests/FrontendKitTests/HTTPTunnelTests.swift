import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix
import Testing

@testable import FrontendKit

/// The splice of a client's connection to the instance that holds its session (issue 23): the request as
/// it came plus the marker header, then bytes both ways as they are — over real sockets, through the
/// HTTP server's own pipeline, so the handlers' removal and the bytes the request decoder held are
/// exercised as they run in the server.
@Suite struct HTTPTunnelTests {
    @Test func theRequestIsWrittenAsItCameWithTheMarker() {
        var head = HTTPRequestHead(
            version: .http1_1, method: .GET, uri: "/socket.io/?EIO=4&transport=websocket&sid=a.b")
        head.headers.add(name: "Host", value: "lb.example")
        head.headers.add(name: "Upgrade", value: "websocket")
        head.headers.add(name: "Connection", value: "Upgrade")
        head.headers.add(name: "Content-Length", value: "99")
        let bytes = HTTPTunnel.encode(head, body: ByteBuffer(), allocator: ByteBufferAllocator())
        #expect(
            String(buffer: bytes)
                == "GET /socket.io/?EIO=4&transport=websocket&sid=a.b HTTP/1.1\r\nHost: lb.example\r\n"
                + "Upgrade: websocket\r\nConnection: Upgrade\r\nX-Switchboard-Forwarded: 1\r\n\r\n")
        let post = HTTPRequestHead(version: .http1_1, method: .POST, uri: "/x")
        #expect(
            String(buffer: HTTPTunnel.encode(post, body: ByteBuffer(string: "abc"), allocator: ByteBufferAllocator()))
                == "POST /x HTTP/1.1\r\nX-Switchboard-Forwarded: 1\r\nContent-Length: 3\r\n\r\nabc")
    }

    @Test func aSplicedConnectionRelaysBothWaysUntilTheOwnerCloses() async throws {
        try await withSplice(ownerAnswersAndCloses: false) { client, received, seen in
            // Bytes right after the request (in the same write) are the session's: they must get through.
            let request =
                "GET /session?sid=a.b HTTP/1.1\r\nHost: lb\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\nhello"
            try await client.writeAndFlush(ByteBuffer(string: request)).get()
            #expect(try await eventually { received.withLockedValue { $0.hasSuffix("HELLO") } })
            #expect(received.withLockedValue { $0.hasPrefix("HTTP/1.1 101 Switching Protocols\r\n") })
            let head = seen.withLockedValue { $0 }
            #expect(head.hasPrefix("GET /session?sid=a.b HTTP/1.1\r\n"))
            #expect(head.contains("\r\nUpgrade: websocket\r\n") && head.contains("\r\nX-Switchboard-Forwarded: 1\r\n"))
            try await client.writeAndFlush(ByteBuffer(string: " world")).get()
            #expect(try await eventually { received.withLockedValue { $0.hasSuffix("HELLO WORLD") } })
            // The owner ends its side: the client's connection closes too.
            try await client.writeAndFlush(ByteBuffer(string: " bye")).get()
            #expect(try await eventually { !client.isActive })
        }
    }

    /// The owner answers and closes before or while the two connections are joined (a session that ended
    /// there): the client gets the whole answer, then the close.
    @Test func anOwnerThatAnswersAndClosesAtOnceIsRelayedWhole() async throws {
        try await withSplice(ownerAnswersAndCloses: true) { client, received, _ in
            let request = "GET /session?id=a.b HTTP/1.1\r\nHost: lb\r\nAccept: text/event-stream\r\n\r\n"
            try await client.writeAndFlush(ByteBuffer(string: request)).get()
            #expect(try await eventually { !client.isActive })
            #expect(received.withLockedValue { $0 } == UpperCaseEchoOwner.gone)
        }
    }

    /// An owner, a front HTTP server whose `/session` route splices to it, and a raw client of the front.
    private func withSplice(
        ownerAnswersAndCloses: Bool,
        _ body: (any Channel, NIOLockedValueBox<String>, NIOLockedValueBox<String>) async throws -> Void
    ) async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        do {
            let seen = NIOLockedValueBox("")
            let owner = try await ServerBootstrap(group: group)
                .childChannelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(
                            UpperCaseEchoOwner(seen: seen, answersAndCloses: ownerAnswersAndCloses))
                    }
                }
                .bind(host: "127.0.0.1", port: 0).get()
            let ownerPort = owner.localAddress!.port!
            var routes = HTTPRouter.Builder()
            routes.add(.GET, "/session") { request, loop in
                HTTPTunnel.open(request.head, body: request.body, host: "127.0.0.1", port: ownerPort, on: loop)
                    .map { .spliced(to: $0) }
            }
            let router = routes.build()
            let front = try await ServerBootstrap(group: group)
                .childChannelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try HTTPServerService.configure(
                            channel, router: router, endpoints: [],
                            configuration: HTTPServerConfiguration(host: "127.0.0.1", port: 0))
                    }
                }
                .bind(host: "127.0.0.1", port: 0).get()
            let received = NIOLockedValueBox("")
            let client = try await ClientBootstrap(group: group)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(Collector(received: received))
                    }
                }
                .connect(host: "127.0.0.1", port: front.localAddress!.port!).get()
            try await body(client, received, seen)
            client.close(promise: nil)
            front.close(promise: nil)
            owner.close(promise: nil)
        } catch {
            try await group.shutdownGracefully()
            throw error
        }
        try await group.shutdownGracefully()
    }

    private func eventually(_ condition: () -> Bool) async throws -> Bool {
        for _ in 0..<200 {
            if condition() { return true }
            try await Task.sleep(for: .milliseconds(25))
        }
        return condition()
    }
}

/// The owner instance's side, reduced to bytes: the head, the 101, then an upper-casing echo (or an
/// answer and a close).
private final class UpperCaseEchoOwner: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    static let gone = "HTTP/1.1 404 Not Found\r\nContent-Length: 5\r\nConnection: close\r\n\r\ngone!"

    let seen: NIOLockedValueBox<String>
    /// Answers `gone` to the request and closes at once.
    let answersAndCloses: Bool
    private var buffered = ""
    private var upgraded = false

    init(seen: NIOLockedValueBox<String>, answersAndCloses: Bool) {
        self.seen = seen
        self.answersAndCloses = answersAndCloses
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        buffered += String(buffer: unwrapInboundIn(data))
        if !upgraded {
            guard let end = buffered.range(of: "\r\n\r\n") else { return }
            seen.withLockedValue { $0 = String(buffered[..<end.upperBound]) }
            buffered = String(buffered[end.upperBound...])
            upgraded = true
            if answersAndCloses {
                context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: Self.gone)), promise: nil)
                context.close(promise: nil)
                return
            }
            let answer = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
            context.write(wrapOutboundOut(ByteBuffer(string: answer)), promise: nil)
        }
        if !buffered.isEmpty {
            let text = buffered
            buffered = ""
            context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: text.uppercased())), promise: nil)
            if text.contains("bye") { context.close(promise: nil) }
        } else {
            context.flush()
        }
    }
}

private final class Collector: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    let received: NIOLockedValueBox<String>
    init(received: NIOLockedValueBox<String>) { self.received = received }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let text = String(buffer: unwrapInboundIn(data))
        received.withLockedValue { $0 += text }
    }
}
