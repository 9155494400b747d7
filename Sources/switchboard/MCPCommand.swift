import ArgumentParser
import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix
import SwitchboardClient

/// `switchboard mcp`: the MCP stdio transport for clients that start a server as a subprocess (Claude
/// Desktop, `mcp.client.stdio`). It holds no MCP logic: each JSON-RPC line read from standard input is
/// POSTed to a running server's `/mcp` (Streamable HTTP), the messages it answers are written to
/// standard output one per line, and the session's GET stream (server notifications) is copied there too
/// (docs/protocols/mcp.md).
struct MCPCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mcp",
        abstract: "Speak MCP over standard input/output, bridged to a running server's /mcp endpoint.",
        discussion: "Point an MCP client's stdio transport at `switchboard mcp --url http://host:8080`."
    )

    @Option(help: "Server base URL.")
    var url: String = "http://127.0.0.1:8080"

    @Option(help: "Bearer token for the server's authenticator (env SWITCHBOARD_TOKEN).")
    var token: String?

    func run() async throws {
        var endpoint = try SwitchboardURL(url)
        endpoint.path = "/mcp"
        let bridge = MCPStdioBridge(
            endpoint: endpoint, token: token ?? ProcessInfo.processInfo.environment["SWITCHBOARD_TOKEN"])
        let lines = AsyncStream<String> { continuation in
            // readLine blocks: a thread of its own, not the cooperative pool.
            Thread.detachNewThread {
                while let line = readLine(strippingNewline: true) { continuation.yield(line) }
                continuation.finish()
            }
        }
        for await line in lines where !line.trimmingCharacters(in: .whitespaces).isEmpty {
            do {
                try await bridge.post(line)
            } catch {
                FileHandle.standardError.write(Data("switchboard mcp: \(error)\n".utf8))
            }
        }
        await bridge.close()
    }
}

/// The HTTP side of `switchboard mcp`: the session id the server gave, and the open GET stream.
final class MCPStdioBridge: Sendable {
    private let endpoint: SwitchboardURL
    private let token: String?
    private let state = NIOLockedValueBox<(session: String?, version: String?, listening: Bool)>((nil, nil, false))
    private let output = NIOLock()

    init(endpoint: SwitchboardURL, token: String?) {
        self.endpoint = endpoint
        self.token = token
    }

    /// Sends one JSON-RPC message and copies the answer's messages to standard output.
    func post(_ line: String) async throws {
        let head = try await exchange(method: .POST, body: line)
        if let session = head.headers.first(name: "Mcp-Session-Id") {
            let startListening = state.withLockedValue { state -> Bool in
                state.session = session
                if let version = Self.protocolVersion(line) { state.version = version }
                defer { state.listening = true }
                return !state.listening
            }
            if startListening, head.status == .ok { listen() }
        }
    }

    /// Ends the session (DELETE /mcp).
    func close() async {
        guard state.withLockedValue({ $0.session }) != nil else { return }
        _ = try? await exchange(method: .DELETE, body: nil)
    }

    /// The GET stream: notifications (resource updates) for as long as the session lives.
    private func listen() {
        Task.detached { [self] in _ = try? await self.exchange(method: .GET, body: nil) }
    }

    private func exchange(method: HTTPMethod, body: String?) async throws -> HTTPResponseHead {
        var head = HTTPRequestHead(version: .http1_1, method: method, uri: endpoint.path)
        head.headers.add(name: "Host", value: "\(endpoint.host):\(endpoint.port)")
        head.headers.add(
            name: "Accept", value: method == .GET ? "text/event-stream" : "application/json, text/event-stream")
        let (session, version) = state.withLockedValue { ($0.session, $0.version) }
        if let session { head.headers.add(name: "Mcp-Session-Id", value: session) }
        if let version { head.headers.add(name: "MCP-Protocol-Version", value: version) }
        if let token { head.headers.add(name: "Authorization", value: "Bearer \(token)") }
        if let body {
            head.headers.add(name: "Content-Type", value: "application/json")
            head.headers.add(name: "Content-Length", value: String(body.utf8.count))
        }
        let group = MultiThreadedEventLoopGroup.singleton
        let done = group.next().makePromise(of: HTTPResponseHead.self)
        let emit: @Sendable (String) -> Void = { [output] message in
            output.withLock {
                FileHandle.standardOutput.write(Data((message + "\n").utf8))
            }
        }
        let channel: any Channel
        do {
            channel = try await ClientBootstrap(group: group)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHTTPClientHandlers()
                        try channel.pipeline.syncOperations.addHandler(MCPResponseReader(done: done, emit: emit))
                    }
                }
                .connect(host: endpoint.host, port: endpoint.port).get()
        } catch {
            done.fail(error)
            throw error
        }
        let requestHead = head
        channel.write(HTTPClientRequestPart.head(requestHead), promise: nil)
        if let body { channel.write(HTTPClientRequestPart.body(.byteBuffer(ByteBuffer(string: body))), promise: nil) }
        channel.writeAndFlush(HTTPClientRequestPart.end(nil), promise: nil)
        defer { channel.close(promise: nil) }
        return try await done.futureResult.get()
    }

    /// `params.protocolVersion` of an initialize request (later requests carry it as a header).
    private static func protocolVersion(_ line: String) -> String? {
        guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
            object["method"] as? String == "initialize",
            let parameters = object["params"] as? [String: Any]
        else { return nil }
        return parameters["protocolVersion"] as? String
    }
}

/// Reads one response: a JSON body is one message; an SSE body (`text/event-stream`) is one message per
/// event's `data`. Completes with the head when the body ends.
private final class MCPResponseReader: ChannelInboundHandler {
    typealias InboundIn = HTTPClientResponsePart
    private let done: EventLoopPromise<HTTPResponseHead>
    private let emit: @Sendable (String) -> Void
    private var head: HTTPResponseHead?
    private var isEventStream = false
    private var pending = ""

    init(done: EventLoopPromise<HTTPResponseHead>, emit: @escaping @Sendable (String) -> Void) {
        self.done = done
        self.emit = emit
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            self.head = head
            isEventStream = head.headers.first(name: "Content-Type")?.hasPrefix("text/event-stream") ?? false
        case .body(let chunk):
            pending += String(buffer: chunk).replacingOccurrences(of: "\r\n", with: "\n")
            if isEventStream { emitEvents() }
        case .end:
            if isEventStream {
                pending += "\n\n"
                emitEvents()
            } else if !pending.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty, head?.status == .ok {
                emit(pending.trimmingCharacters(in: .whitespacesAndNewlines))
            } else if let head, head.status.code >= 400 {
                FileHandle.standardError.write(Data("switchboard mcp: \(head.status.code) \(pending)\n".utf8))
            }
            if let head { done.succeed(head) }
        }
    }

    /// Each complete event (up to a blank line): its `data:` lines joined, when there are any.
    private func emitEvents() {
        while let end = pending.range(of: "\n\n") {
            let event = pending[..<end.lowerBound]
            pending.removeSubrange(..<end.upperBound)
            let data = event.split(separator: "\n").filter { $0.hasPrefix("data:") }.map {
                $0.dropFirst(5).drop(while: { $0 == " " })
            }
            let message = data.joined(separator: "\n")
            if !message.isEmpty { emit(message) }
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        done.fail(SwitchboardClientError.connectionClosed)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        done.fail(error)
        context.close(promise: nil)
    }
}
