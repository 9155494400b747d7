package import FrontendKit
package import Logging
import NIOCore
import ServiceLifecycle
import UnixSignals

/// Lame-duck mode, as nats-server's: on SIGUSR2 (or `POST /api/nats/lame_duck`) the NATS port stops
/// accepting, every client gets INFO with `"ldm":true`, and after the grace period the clients are closed
/// one by one over the rest of `lame_duck_duration_seconds` (at most one a second), so they reconnect
/// elsewhere without all arriving at once. Only NATS goes lame: the other protocols keep serving, and the
/// process runs on until it is stopped (nats-server exits at the end of lame-duck mode).
package final class NATSLameDuckService: Service, Sendable {
    private let services: NATSServices
    private let listeners: [TCPListenerService]
    private let logger: Logger
    private let handlesSignal: Bool
    private let requests: AsyncStream<Void>
    private let requestContinuation: AsyncStream<Void>.Continuation

    package init(services: NATSServices, listeners: [TCPListenerService], logger: Logger, handlesSignal: Bool = true) {
        self.services = services
        self.listeners = listeners
        self.logger = logger
        self.handlesSignal = handlesSignal
        (requests, requestContinuation) = AsyncStream.makeStream(bufferingPolicy: .bufferingNewest(1))
    }

    /// Asks for lame-duck mode (the admin API); false when it has begun already.
    package func request() -> Bool {
        guard !services.isLameDuck else { return false }
        requestContinuation.yield()
        return true
    }

    package func run() async throws {
        await cancelWhenGracefulShutdown { [self] in
            await withTaskGroup(of: Void.self) { group in
                if handlesSignal {
                    group.addTask { [self] in
                        for await _ in await UnixSignalsSequence(trapping: .sigusr2) { _ = request() }
                    }
                }
                for await _ in requests {
                    await enterLameDuckMode()
                    break
                }
                group.cancelAll()
            }
        }
        // Lame until the server shuts down: a service that returns early would end the whole group.
        try? await gracefulShutdown()
    }

    private func enterLameDuckMode() async {
        guard services.enterLameDuckMode() else { return }
        let configuration = services.configuration
        // The port is closed before any client hears it (nats-server's order): a client told to move on
        // cannot land here again.
        for listener in listeners { try? await listener.stopAccepting()?.get() }
        let clients = services.directory.connections()
        logger.notice(
            "NATS entering lame-duck mode: not accepting new clients, closing the others",
            metadata: [
                "clients": "\(clients.count)", "grace_period_seconds": "\(configuration.lameDuckGracePeriodSeconds)",
                "duration_seconds": "\(configuration.lameDuckDurationSeconds)",
            ])
        for client in clients { client.enterLameDuckMode() }
        guard !clients.isEmpty else { return }
        do {
            try await Task.sleep(for: .seconds(configuration.lameDuckGracePeriodSeconds))
            let interval = Self.closeInterval(
                clients: clients.count,
                seconds: configuration.lameDuckDurationSeconds - configuration.lameDuckGracePeriodSeconds)
            for (index, client) in clients.enumerated() {
                // Without a word, as nats-server closes them (`ServerShutdown`): clients reconnect elsewhere.
                client.requestClose(.shutdown)
                if index < clients.count - 1 { try await Task.sleep(for: interval) }
            }
            logger.notice("NATS lame-duck mode: every client closed")
        } catch {
            // Shutdown came first: it closes the rest.
        }
    }

    /// nats-server's pacing: the time left spread evenly over the clients, never more than a second apart.
    package static func closeInterval(clients: Int, seconds: Int) -> Duration {
        guard clients > 0 else { return .zero }
        return min(.seconds(1), .seconds(max(1, seconds)) / clients)
    }
}
