import BusCore
import BusRuntime
import Foundation
import FrontendKit
import Logging
import MCP
import NIOCore
import NIOHTTP1

/// The live MCP sessions by `Mcp-Session-Id`, and the route of `/mcp`: a POST `initialize` without a
/// session makes one (MCP 2025-06-18 "Session Management"); every other request goes to its session's
/// transport, which answers as the Streamable HTTP transport says (POST → SSE stream with the response,
/// GET → the session's stream of server notifications, DELETE → the session ends).
actor MCPSessionTable {
    private let settings: MCPConfiguration
    private let toolbox: MCPToolbox
    private let logger: Logger
    private var sessions: [String: MCPSession] = [:]

    init(settings: MCPConfiguration, toolbox: MCPToolbox, logger: Logger) {
        self.settings = settings
        self.toolbox = toolbox
        self.logger = logger
    }

    /// The router's handler: the answer completes once the session's transport has one.
    nonisolated func respond(to request: FrontendKit.HTTPRequest, on loop: any EventLoop)
        -> EventLoopFuture<FrontendKit.HTTPResponse>
    {
        let promise = loop.makePromise(of: FrontendKit.HTTPResponse.self)
        promise.completeWithTask { await self.handle(request, on: loop) }
        return promise.futureResult
    }

    private func handle(_ request: FrontendKit.HTTPRequest, on loop: any EventLoop) async -> FrontendKit.HTTPResponse {
        // Credentials first, as on every route: a request whose credentials are refused never reaches a session.
        do {
            _ = try await toolbox.caller(headers: request.head.headers, on: loop)
        } catch {
            var response = MCPHTTPBridge.error(.unauthorized, "Missing or invalid authentication.")
            response.headers.add(name: "WWW-Authenticate", value: "Bearer")
            return response
        }
        let mcpRequest = MCPHTTPBridge.request(request)
        let now = DispatchTime.now().uptimeNanoseconds / 1_000_000_000
        if let id = request.head.headers.first(name: HTTPHeaderName.sessionID) {
            guard let session = sessions[id] else {
                return MCPHTTPBridge.error(.notFound, "Session not found or expired")
            }
            await session.touch(now)
            let response = await session.transport.handleRequest(mcpRequest)
            if request.head.method == .DELETE, response.statusCode == 200 {
                sessions.removeValue(forKey: id)
                await session.close()
            }
            return MCPHTTPBridge.response(response)
        }
        guard request.head.method == .POST, Self.isInitialize(request.body) else {
            return MCPHTTPBridge.error(.badRequest, "Bad Request: Missing \(HTTPHeaderName.sessionID) header")
        }
        await endIdleSessions(now: now)
        guard sessions.count < settings.maxSessions else {
            return MCPHTTPBridge.error(.serviceUnavailable, "Too many MCP sessions (mcp.max_sessions)")
        }
        return MCPHTTPBridge.response(await startSession(mcpRequest, now: now))
    }

    private func startSession(_ request: MCP.HTTPRequest, now: UInt64) async -> MCP.HTTPResponse {
        let id = UUID().uuidString
        let transport = StatefulHTTPServerTransport(
            sessionIDGenerator: FixedSessionID(id: id),
            // Not the SDK's default origin check (localhost only): browsers are governed by the server's
            // `allowed_origins`, and MCP clients that are not browsers send no Origin.
            validationPipeline: StandardValidationPipeline(validators: [
                AcceptHeaderValidator(mode: .sseRequired), ContentTypeValidator(), ProtocolVersionValidator(),
                SessionValidator(),
            ]),
            logger: logger)
        let server = Server(
            name: "switchboard", version: "1.0",
            instructions: "Switchboard's record collections, channels, history and presence.",
            capabilities: Server.Capabilities(
                resources: .init(subscribe: true, listChanged: false), tools: .init(listChanged: false)))
        let session = MCPSession(id: id, server: server, transport: transport, toolbox: toolbox, now: now)
        await toolbox.register(on: server, session: session)
        do {
            try await server.start(transport: transport)
        } catch {
            return .error(statusCode: 500, .internalError("Failed to start the session: \(error)"))
        }
        let response = await transport.handleRequest(request)
        if case .error = response {
            await session.close()
        } else {
            sessions[id] = session
        }
        return response
    }

    private func endIdleSessions(now: UInt64) async {
        for (id, session) in sessions where await session.lastSeen + UInt64(settings.sessionIdleSeconds) < now {
            sessions.removeValue(forKey: id)
            await session.close()
        }
    }

    /// Whether a POST body is an `initialize` request (alone, as MCP 2025-06-18 requires).
    static func isInitialize(_ body: ByteBuffer) -> Bool {
        guard let text = body.getString(at: body.readerIndex, length: body.readableBytes),
            case .object(let members)? = try? JSONValue.parse(text)
        else { return false }
        return members.first(where: { $0.key == "method" })?.value.stringValue == "initialize"
    }

    private struct FixedSessionID: SessionIDGenerator {
        let id: String
        func generateSessionID() -> String { id }
    }
}
