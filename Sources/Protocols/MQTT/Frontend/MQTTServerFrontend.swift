import BusRuntime
package import FrontendKit
import NIOCore
package import ServiceLifecycle
package import Storage

/// The MQTT frontend: the TCP port (1883), its TLS twin (`mqtt.tls_port`), `/mqtt` over WebSocket,
/// persistent sessions restored from the store, `$SYS/` statistics and session-log trimming.
package struct MQTTServerFrontend: Frontend {
    package static let name = "mqtt"
    package static let summary = "MQTT 3.1.1 and 5.0: TCP port, TLS port (tls_port), /mqtt over WebSocket."
    package static let defaultPort: Int? = 1883

    package let services: MQTTServices
    private let context: FrontendContext

    package init(settings: MQTTConfiguration, context: FrontendContext) throws {
        self.context = context
        self.services = MQTTServices(
            bus: context.bus, connections: context.connections, authenticator: context.authenticator,
            configuration: settings, retained: context.retained, store: context.store, keepAlive: context.keepAlive)
    }

    package func restore(_ state: StoredState) throws -> String? {
        let sessions = try services.restore(state)
        return
            "MQTT: \(sessions.sessions) persistent sessions (\(sessions.inflight) in flight, \(sessions.queued) queued, \(sessions.expired) expired while down), \(sessions.messagesKept) logged messages"
    }

    package func makeServices() -> [any Service] {
        let services = self.services
        var result = context.listeners(
            label: "MQTT",
            maxOutboundBytes: CongestedSubscriber.Bounds.softLimit(
                outboundLimit: services.configuration.maxOutboundBytes)
        ) {
            channel, _ in
            try channel.pipeline.syncOperations.addHandler(MQTTConnectionHandler(services: services, transport: "tcp"))
        }
        result.append(
            PeriodicTaskService(name: "MQTT $SYS statistics", logger: context.logger) {
                MQTTSystemTopics(services: services).start().map { [$0] } ?? []
            })
        result.append(
            PeriodicTaskService(name: "MQTT session log trimming", logger: context.logger) {
                services.startMessageLogTrimming()
            })
        return result
    }

    package var webSocketEndpoints: [any WebSocketEndpoint] {
        [MQTTWebSocketEndpoint(services: services, origins: context.origins)]
    }
}
