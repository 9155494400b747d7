import BusCore
import BusRuntime
import Foundation
import FrontendKit
import MCP
import NIOCore

/// What every MCP session's handlers share: the bus, the authenticator and the loops to run bus work
/// on. Sessions hold one reference; its methods are the tools (MCPToolbox+Tools.swift) and resources
/// (MCPToolbox+Resources.swift).
final class MCPToolbox: Sendable {
    let bus: Bus
    let authenticator: any Authenticator
    let loops: any EventLoopGroup
    let metricsSlot: ProtocolMetricsSlot

    init(bus: Bus, authenticator: any Authenticator, loops: any EventLoopGroup, metricsSlot: ProtocolMetricsSlot) {
        self.bus = bus
        self.authenticator = authenticator
        self.loops = loops
        self.metricsSlot = metricsSlot
    }

    /// A bus loop: bus calls that must run on one (publish, subscribe) hop there.
    var loop: any EventLoop { bus.shards[0].eventLoop }

    /// Registers the tool and resource handlers on a new session's server.
    func register(on server: Server, session: MCPSession) async {
        let toolbox = self
        await server.withMethodHandler(ListTools.self) { _ in ListTools.Result(tools: MCPToolbox.tools) }
        await server.withMethodHandler(CallTool.self) { parameters in
            let caller = try toolbox.caller(Server.currentHandlerContext?.httpContext)
            return await toolbox.call(parameters.name, parameters.arguments ?? [:], caller: caller)
        }
        await server.withMethodHandler(ListResources.self) { _ in
            let caller = try toolbox.caller(Server.currentHandlerContext?.httpContext)
            return toolbox.listResources(caller: caller)
        }
        await server.withMethodHandler(ReadResource.self) { parameters in
            let caller = try toolbox.caller(Server.currentHandlerContext?.httpContext)
            return try toolbox.readResource(parameters.uri, caller: caller)
        }
        await server.withMethodHandler(ResourceSubscribe.self) { parameters in
            let caller = try toolbox.caller(Server.currentHandlerContext?.httpContext)
            try await session.subscribe(parameters.uri, caller: caller)
            return Empty()
        }
        await server.withMethodHandler(ResourceUnsubscribe.self) { parameters in
            await session.unsubscribe(parameters.uri)
            return Empty()
        }
    }
}

/// Record errors in PocketBase's words (the same messages the HTTP API answers, docs/records.md), with
/// the HTTP status the API would give, so an MCP client reads the same reason.
extension RecordError {
    var mcpMessage: String {
        switch self {
        case .badRequest(let message):
            "400: " + (message.isEmpty ? "Something went wrong while processing your request." : message)
        case .invalidField(let field, let message): "400: Failed to process the request: invalid \(field). \(message)"
        case .exists(let message): "400: Failed to create the collection. \(message)"
        case .unauthorized: "401: Missing or invalid authentication."
        case .onlyAdmins: "403: Only superusers can perform this action."
        case .collectionNotFound: "404: Missing collection context."
        case .recordNotFound: "404: The requested resource wasn't found."
        case .versionConflict(let current):
            current == 0
                ? "412: If-Match names no version of this record."
                : "412: The record has changed: it is at version \(current)."
        case .unavailable(let reason): "503: The change could not be stored: \(reason)."
        }
    }
}
