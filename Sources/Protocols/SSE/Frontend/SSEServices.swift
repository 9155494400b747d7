package import BusRuntime
package import FrontendKit
import NIOConcurrencyHelpers

/// What every SSE stream and poll shares: what every frontend shares (`shared`: the bus, the connection
/// registry, authentication, metrics, the loops' keep-alive sweepers), the realtime client table and the
/// settings.
package final class SSEServices: FrontendServices {
    package let shared: FrontendShared
    package let configuration: SSEConfiguration
    package let cors: SSECORS
    /// Realtime clients by client id, for `POST /api/realtime`.
    let realtimeClients = NIOLockedValueBox<[String: SSEStreamHandler]>([:])

    package init(
        configuration: SSEConfiguration, bus: Bus, connections: ConnectionRegistry, authenticator: any Authenticator,
        keepAlive: KeepAliveSweepers? = nil
    ) {
        self.shared = FrontendShared(
            metricsName: "sse", bus: bus, connections: connections, authenticator: authenticator, keepAlive: keepAlive)
        self.configuration = configuration
        self.cors = SSECORS(origins: configuration.origins)
    }
}
