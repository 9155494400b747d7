package import BusRuntime

/// What every connection of one frontend shares, whatever its protocol: the bus, the connection
/// registry, the authenticator, the frontend's metrics slot and counters, and the loops' keep-alive
/// sweepers. A protocol's services object holds one (`FrontendServices.shared`) beside its own settings,
/// instead of declaring the same six fields again.
///
/// A class, not a struct: the extension's getters below (`services.payloadSchemas`, read on every publish)
/// run unspecialised through the protocol's witness table, and reading a field of a struct `shared` copied
/// the whole value first — seven retains and seven releases per publish, 12 % of a NATS publisher's loop.
package final class FrontendShared: Sendable {
    package let bus: Bus
    package let connections: ConnectionRegistry
    package let authenticator: any Authenticator
    /// The protocol's row in the metrics (`protocol="<metricsName>"`).
    package let metricsSlot: ProtocolMetricsSlot
    package let counters: ProtocolCounters
    package let keepAlive: KeepAliveSweepers
    /// The JSON Schemas publishes must satisfy (`Bus.payloadSchemas`), held here so a publish path reads
    /// it in one hop; with no rules its `check` is one branch.
    package let payloadSchemas: PayloadSchemas
    /// With an engine: forwards a polling session's requests to the instance that holds it
    /// (`SessionForwarder`); nil on one instance.
    package let forwarder: SessionForwarder?

    /// `keepAlive`: the server's sweepers (`FrontendContext.keepAlive`); tests may leave it out and get
    /// sweepers of their own on the bus's loops.
    package init(
        metricsName: String, bus: Bus, connections: ConnectionRegistry, authenticator: any Authenticator,
        keepAlive: KeepAliveSweepers? = nil, forwarder: SessionForwarder? = nil
    ) {
        self.bus = bus
        self.connections = connections
        self.authenticator = authenticator
        self.metricsSlot = bus.metrics.slot(for: metricsName)
        self.counters = bus.metrics.counters(metricsSlot)
        self.keepAlive = keepAlive ?? KeepAliveSweepers(eventLoops: bus.shards.map(\.eventLoop))
        self.payloadSchemas = bus.payloadSchemas
        self.forwarder = forwarder
    }

    /// A new connection's lifecycle, with a fresh client id.
    package func makeLifecycle(protocolName: String) -> ConnectionLifecycle {
        ConnectionLifecycle(
            protocolName: protocolName, id: bus.makeIdentifier(), connections: connections, counters: counters,
            keepAlive: keepAlive)
    }
}

/// A protocol's services object (what each of its connections holds one reference to): the shared part
/// reads as if it were declared there — `services.bus`, `services.counters` …
package protocol FrontendServices: AnyObject, Sendable {
    var shared: FrontendShared { get }
}

extension FrontendServices {
    @inlinable @inline(__always) package var bus: Bus { shared.bus }
    @inlinable @inline(__always) package var connections: ConnectionRegistry { shared.connections }
    @inlinable @inline(__always) package var authenticator: any Authenticator { shared.authenticator }
    @inlinable @inline(__always) package var metricsSlot: ProtocolMetricsSlot { shared.metricsSlot }
    @inlinable @inline(__always) package var counters: ProtocolCounters { shared.counters }
    @inlinable @inline(__always) package var keepAlive: KeepAliveSweepers { shared.keepAlive }
    @inlinable @inline(__always) package var payloadSchemas: PayloadSchemas { shared.payloadSchemas }
    package var forwarder: SessionForwarder? { shared.forwarder }
}
