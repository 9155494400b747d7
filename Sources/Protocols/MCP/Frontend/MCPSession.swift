import BusCore
import BusRuntime
import Foundation
import FrontendKit
import MCP
import NIOCore

/// One MCP session (`Mcp-Session-Id`): the SDK's server behind its HTTP transport, and the records the
/// client subscribed to as resources. Its subscriptions live on the bus as one `MCPResourceWatcher`.
actor MCPSession {
    let id: String
    let server: Server
    let transport: StatefulHTTPServerTransport
    private let watcher: MCPResourceWatcher
    /// Monotonic seconds of the last request (idle sessions are ended).
    private(set) var lastSeen: UInt64

    init(id: String, server: Server, transport: StatefulHTTPServerTransport, toolbox: MCPToolbox, now: UInt64) {
        self.id = id
        self.server = server
        self.transport = transport
        self.lastSeen = now
        self.watcher = MCPResourceWatcher(
            bus: toolbox.bus, loop: toolbox.loop, metricsSlot: toolbox.metricsSlot, subscriberID: "mcp-" + id,
            updated: { [weak server] uri in
                // notifications/resources/updated goes out on the session's GET stream.
                guard let server else { return }
                Task { try? await server.notify(ResourceUpdatedNotification.message(.init(uri: uri))) }
            })
    }

    func touch(_ now: UInt64) { lastSeen = now }

    /// Subscribes to a record's change events with the caller's read ACL and view rule, so a change it may
    /// not view is never announced (docs/records.md).
    func subscribe(_ uri: String, caller: MCPCaller) async throws {
        let (collection, id) = try MCPToolbox.recordAddress(uri)
        let filter: TopicFilter
        do { filter = try TopicFilter("collections/\(collection)/\(id)") } catch {
            throw MCPError.invalidParams("invalid record URI \(uri): \(error)")
        }
        guard caller.permissions.maySubscribe(filter) else {
            throw MCPError.invalidParams("not allowed to subscribe to \(filter.pattern)")
        }
        try await watcher.subscribe(uri: uri, filter: filter, options: caller.subscriptionOptions)
    }

    func unsubscribe(_ uri: String) async {
        await watcher.unsubscribe(uri: uri)
    }

    /// Ends the session: its subscriptions and its transport.
    func close() async {
        await watcher.unsubscribeAll()
        await transport.disconnect()
        await server.stop()
    }
}
