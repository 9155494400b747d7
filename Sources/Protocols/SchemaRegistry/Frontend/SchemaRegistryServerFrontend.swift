import BusRuntime
package import FrontendKit
package import ServiceLifecycle

/// Confluent's Schema Registry REST API on its own port (8081, as Confluent's), over the bus's registry
/// (`bus.schemas`, its log in the `_schemas` stream). docs/protocols/schema-registry.md.
package struct SchemaRegistryServerFrontend: Frontend {
    package static let name = "schema_registry"
    package static let summary =
        "Confluent Schema Registry REST API (Avro, JSON Schema, Protobuf) on its own HTTP port; log in the _schemas stream."
    package static let defaultPort: Int? = 8081

    private let context: FrontendContext
    package let routes: SchemaRegistryRoutes
    private let settings: SchemaRegistryConfiguration

    package init(settings: SchemaRegistryConfiguration, context: FrontendContext) throws {
        self.context = context
        self.settings = settings
        self.routes = SchemaRegistryRoutes(
            registry: context.bus.schemas, authenticator: context.authenticator,
            writeRoles: settings.effectiveWriteRoles)
    }

    /// Its HTTP listener (and the HTTPS one on `tls_port` when the server has a certificate).
    package func makeServices() -> [any Service] {
        var router = HTTPRouter.Builder()
        routes.register(into: &router)
        let built = router.build()
        let addresses = context.addresses
        let name = context.name
        var listeners: [(port: Int, tls: ServerTLS?, label: String)] = []
        if let port = context.listener.port { listeners.append((port, nil, name)) }
        if let port = context.listener.tlsPort, let tls = context.tls { listeners.append((port, tls, name + "-tls")) }
        let services: [any Service] = listeners.map { listener in
            HTTPServerService(
                configuration: HTTPServerConfiguration(
                    host: context.host, port: listener.port, maxBodyBytes: settings.maxBodyBytes, tls: listener.tls,
                    timeouts: context.limits.httpTimeouts),
                group: context.group, router: built, endpoints: [], logger: context.logger,
                onBound: { addresses.record(listener.label, $0) })
        }
        return services
    }
}
