package import BusRuntime
package import FrontendKit
import KafkaRESTWire
import NIOCore

/// What every Kafka REST route holds: the bus and its streams, the authenticator, the consumer instances
/// and the schema source of the schema formats.
package final class KafkaRESTServices: Sendable {
    package let configuration: KafkaRESTConfiguration
    package let bus: Bus
    package let authenticator: any Authenticator
    package let consumers: KafkaRESTConsumerGroups
    /// nil: avro, jsonschema and protobuf answer 50002 (no registry configured).
    package let schemas: (any RecordSchemaSource)?
    /// Where a produce's connection registers as a publisher, so that a subscriber its records feed which
    /// falls behind stops the connection being read (publisher flow control, `HTTPPublishingConnection`);
    /// nil: produces carry no publisher (tests of the routes alone).
    package let connections: ConnectionRegistry?
    /// Monotonic nanoseconds (instance expiry); injected for tests.
    let now: @Sendable () -> UInt64

    package init(
        configuration: KafkaRESTConfiguration, bus: Bus, authenticator: any Authenticator,
        schemas: (any RecordSchemaSource)? = nil, connections: ConnectionRegistry? = nil,
        now: @escaping @Sendable () -> UInt64 = { NIODeadline.now().uptimeNanoseconds }
    ) {
        self.configuration = configuration
        self.bus = bus
        self.authenticator = authenticator
        self.schemas = schemas
        self.connections = connections
        self.now = now
        self.consumers = KafkaRESTConsumerGroups(
            streams: bus.streams, maxInstances: configuration.maxConsumerInstances, claims: bus.instanceClaims)
    }

    /// Deletes instances idle longer than `consumer_instance_timeout_ms`; how many went.
    @discardableResult
    package func expireIdleConsumers() -> Int {
        let timeout = UInt64(configuration.consumerInstanceTimeoutMilliseconds) * 1_000_000
        let current = now()
        return consumers.expire(idleSince: current > timeout ? current - timeout : 0)
    }
}

extension KafkaRESTServices {
    /// The v2 resources as a router (the listener's; tests call it in-process).
    package func makeRouter() -> HTTPRouter {
        var router = HTTPRouter.Builder()
        KafkaRESTRoutes(services: self).register(into: &router)
        return router.build()
    }
}
