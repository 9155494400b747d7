import BusRuntime
package import FrontendKit
import KafkaRESTWire
import NIOCore
package import ServiceLifecycle

/// The Confluent Kafka REST Proxy v2 API on its own HTTP port (8082, the proxy's): topics are streams,
/// produce appends to them through the bus, consumer instances read them with group offsets
/// (docs/protocols/kafka-rest.md).
package struct KafkaRESTServerFrontend: Frontend {
    package static let name = "kafka_rest"
    package static let summary =
        "Confluent Kafka REST Proxy v2: topics are streams; produce, consumer groups, offsets (own HTTP port)."
    package static let defaultPort: Int? = 8082

    package let services: KafkaRESTServices
    private let context: FrontendContext

    package init(settings: KafkaRESTConfiguration, context: FrontendContext) throws {
        self.context = context
        self.services = KafkaRESTServices(
            configuration: settings, bus: context.bus, authenticator: context.authenticator,
            schemas: RegistrySchemaSource(registry: context.bus.schemas), connections: context.connections)
    }

    package func makeServices() -> [any Service] {
        let built = services.makeRouter()
        let addresses = context.addresses
        let name = context.name
        var result: [any Service] = []
        for (port, tls, label) in [
            (context.listener.port, nil as ServerTLS?, name), (context.listener.tlsPort, context.tls, name + "-tls"),
        ] {
            guard let port, label == name || tls != nil else { continue }
            result.append(
                HTTPServerService(
                    configuration: HTTPServerConfiguration(
                        host: context.host, port: port, maxBodyBytes: context.limits.maxBodyBytes,
                        maxOutboundBytes: context.limits.maxOutboundBytes, tls: tls,
                        timeouts: context.limits.httpTimeouts),
                    group: context.group, router: built, endpoints: [], logger: context.logger,
                    onBound: { addresses.record(label, $0) }))
        }
        let services = self.services
        let group = context.group
        // Idle instances go within a quarter of their timeout (at most every 5 s, at least every 100 ms).
        let interval = TimeAmount.milliseconds(
            Int64(min(5_000, max(100, services.configuration.consumerInstanceTimeoutMilliseconds / 4))))
        result.append(
            PeriodicTaskService(name: "Kafka REST consumer expiry", logger: context.logger) {
                [
                    group.next().scheduleRepeatedTask(initialDelay: interval, delay: interval) { _ in
                        _ = services.expireIdleConsumers()
                    }
                ]
            })
        return result
    }
}
