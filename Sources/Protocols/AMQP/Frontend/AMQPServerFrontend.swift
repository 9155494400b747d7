import BusRuntime
package import FrontendKit
import NIOCore
package import ServiceLifecycle

/// The AMQP 0-9-1 frontend: the broker port (5672) and its TLS twin (`amqp.tls_port`, 5671), one virtual
/// host `/` whose `amq.topic` exchange is the bus.
package struct AMQPServerFrontend: Frontend {
    package static let name = "amqp"
    package static let summary = "AMQP 0-9-1 (RabbitMQ's dialect): TCP port, TLS port (tls_port); amq.topic is the bus."
    package static let defaultPort: Int? = 5672

    package let services: AMQPServices
    private let context: FrontendContext

    package init(settings: AMQPConfiguration, context: FrontendContext) throws {
        self.context = context
        self.services = AMQPServices(
            configuration: settings, bus: context.bus, connections: context.connections,
            authenticator: context.authenticator, virtualHosts: context.virtualHosts, keepAlive: context.keepAlive)
    }

    package func registerRoutes(into router: inout HTTPRouter.Builder) {
        AMQPQueueRoutes.register(into: &router, virtualHosts: services.virtualHosts)
    }

    package func makeServices() -> [any Service] {
        let services = self.services
        let store = context.store
        let loop = context.bus.shards[0].eventLoop
        var result = context.listeners(label: "AMQP", maxOutboundBytes: services.configuration.maxPendingBytes) {
            channel, _ in
            try channel.pipeline.syncOperations.addHandler(AMQPConnectionHandler(services: services))
        }
        result.append(
            PeriodicTaskService(name: "AMQP store backlog watch", logger: context.logger) {
                services.startBacklogWatch(store: store, on: loop)
            })
        return result
    }
}
