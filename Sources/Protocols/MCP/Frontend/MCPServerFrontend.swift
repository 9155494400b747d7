import BusRuntime
package import FrontendKit
import NIOCore
import NIOHTTP1

/// The Model Context Protocol on `/mcp` (Streamable HTTP, MCP 2025-03-26 / 2025-06-18) over the HTTP
/// listener: tools over records, publishing, history, presence and channels, and records as resources
/// with change notifications (issue 20, docs/protocols/mcp.md). The protocol is modelcontextprotocol's
/// swift-sdk: one SDK `Server` per session behind its framework-agnostic `StatefulHTTPServerTransport`,
/// which this frontend feeds from FrontendKit's router.
package struct MCPServerFrontend: Frontend {
    package static let name = "mcp"
    package static let summary =
        "Model Context Protocol (Streamable HTTP) on /mcp: record, publish, history, presence tools; records as resources."

    private let sessions: MCPSessionTable

    package init(settings: MCPConfiguration, context: FrontendContext) throws {
        let tools = MCPToolbox(
            bus: context.bus, authenticator: context.authenticator, loops: context.group,
            metricsSlot: context.bus.metrics.slot(for: context.name))
        self.sessions = MCPSessionTable(settings: settings, toolbox: tools, logger: context.logger)
    }

    package func registerRoutes(into router: inout HTTPRouter.Builder) {
        let sessions = self.sessions
        for method in [HTTPMethod.POST, .GET, .DELETE] {
            router.add(method, "/mcp") { request, loop in sessions.respond(to: request, on: loop) }
        }
    }
}
