package import FrontendKit

/// The `mcp` section: how many MCP sessions the server keeps and for how long an idle one lives.
package struct MCPConfiguration: FrontendSettings {
    /// Sessions kept at once; an `initialize` past it is answered 503 (each session is an SDK `Server`
    /// and its subscriptions, so an unbounded count would let clients grow the heap without limit).
    package var maxSessions = 256
    /// A session that sees no request for this long is ended (its subscriptions too) when the next
    /// session is made: MCP clients often vanish without `DELETE /mcp`.
    package var sessionIdleSeconds = 1800

    package init() {}

    package static let settings: [FrontendSetting<MCPConfiguration>] = [
        .integer(
            "max_sessions", \.maxSessions, minimum: 1,
            help: "MCP sessions kept at once; an initialize past it is answered 503."),
        .integer(
            "session_idle_seconds", \.sessionIdleSeconds, minimum: 1,
            help: "An MCP session idle this long is ended (clients often leave without DELETE /mcp)."),
    ]
}
