import NIOConcurrencyHelpers
package import NIOCore

/// Where each listener is bound, by name (`http`, `https`, `mqtt`, `mqtt-tls`, `nats` …): how tests
/// and benchmarks find a port they asked the kernel to choose (port 0).
package final class BoundAddresses: Sendable {
    private let box = NIOLockedValueBox<[String: SocketAddress]>([:])

    package init() {}

    package func record(_ name: String, _ address: SocketAddress) {
        box.withLockedValue { $0[name] = address }
    }

    /// The address `name` is bound to; nil while it is not listening.
    package subscript(_ name: String) -> SocketAddress? {
        box.withLockedValue { $0[name] }
    }
}
