import Atomics
import NIOConcurrencyHelpers
package import NIOCore

/// The NATS frontend's own list of its live connections (by `client_id`), for the monitoring endpoints
/// and lame-duck mode, and the totals of the connections that have ended. Nothing here is on the
/// message path: a connection counts its traffic in plain fields on its own loop, the directory asks
/// each loop for a snapshot when a monitoring request comes, and a connection adds its totals here once,
/// when it ends.
package final class NATSConnectionDirectory: Sendable {
    private struct Entry: Sendable {
        /// Confined to `loop`: asked for snapshots there.
        let handler: NATSConnectionHandler
        let loop: any EventLoop
    }

    private let live = NIOLockedValueBox<[UInt64: Entry]>([:])
    private let ended = NIOLockedValueBox(NATSTraffic())
    private let connectionsEver = ManagedAtomic<Int>(0)
    private let slowConsumerCount = ManagedAtomic<Int>(0)
    private let subscriptionsMade = ManagedAtomic<Int>(0)
    private let subscriptionsEnded = ManagedAtomic<Int>(0)

    package init() {}

    func add(_ handler: NATSConnectionHandler, clientID: UInt64, on loop: any EventLoop) {
        live.withLockedValue { $0[clientID] = Entry(handler: handler, loop: loop) }
        connectionsEver.wrappingIncrement(ordering: .relaxed)
    }

    /// The connection ended; its traffic joins the totals.
    func remove(clientID: UInt64, traffic: NATSTraffic) {
        live.withLockedValue { $0[clientID] = nil }
        ended.withLockedValue { $0 = $0 + traffic }
    }

    func countSlowConsumer() { slowConsumerCount.wrappingIncrement(ordering: .relaxed) }
    func countSubscribed() { subscriptionsMade.wrappingIncrement(ordering: .relaxed) }
    func countUnsubscribed(_ count: Int = 1) { subscriptionsEnded.wrappingIncrement(by: count, ordering: .relaxed) }

    /// Live connections now.
    package var count: Int { live.withLockedValue { $0.count } }
    /// Connections accepted since the server started.
    package var totalConnections: Int { connectionsEver.load(ordering: .relaxed) }
    package var slowConsumers: Int { slowConsumerCount.load(ordering: .relaxed) }
    /// `SUB`s made and ended since the server started (`num_inserts`, `num_removes`).
    package var subscriptionInserts: Int { subscriptionsMade.load(ordering: .relaxed) }
    package var subscriptionRemoves: Int { subscriptionsEnded.load(ordering: .relaxed) }
    /// The traffic of the connections that have ended.
    package var endedTraffic: NATSTraffic { ended.withLockedValue { $0 } }

    /// Every live connection's snapshot, taken on its own loop (one hop per loop), completed on `loop`.
    package func snapshots(on loop: any EventLoop) -> EventLoopFuture<[NATSConnectionSnapshot]> {
        let byLoop = Dictionary(grouping: live.withLockedValue { Array($0.values) }) { ObjectIdentifier($0.loop) }
        let futures = byLoop.values.map { entries in
            let handlers = entries.map(\.handler)
            return entries[0].loop.submit { handlers.compactMap { $0.monitorSnapshot() } }
        }
        return EventLoopFuture.whenAllSucceed(futures, on: loop).map { $0.flatMap { $0 } }
    }

    /// The live connections, oldest first (lame-duck mode closes them in that order).
    func connections() -> [NATSConnectionHandler] {
        live.withLockedValue { live in live.sorted { $0.key < $1.key }.map(\.value.handler) }
    }
}
