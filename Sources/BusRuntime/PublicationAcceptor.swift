import Atomics
package import BusCore
import NIOConcurrencyHelpers
package import NIOCore

/// A service that takes the publications to its topics itself and says when it is done with each: the
/// collaboration service's ballots (`sessions/<id>/votes/<vote>/cast`). A protocol that acknowledges a
/// publish (MQTT QoS 1/2, AMQP confirms, STOMP receipts, NATS with a reply subject) acknowledges such a
/// publication only once the acceptor is done — a ballot is stored before its PUBACK — in publish order
/// with every other acknowledged publish of the loop (`LoopShard.publish(_:placement:acknowledged:)`).
package protocol PublicationAcceptor: AnyObject, Sendable {
    /// Takes `message`, published on `loop` (called there). `done`, when given, is called once, from any
    /// thread, when the acceptor is done with it: nil when taken (stored, or answered with a refusal of
    /// the service's own), else why it could not be kept (its store failed).
    func accept(_ message: BusMessage, from loop: any EventLoop, done: (@Sendable (String?) -> Void)?)
}

/// The acceptors and the filters they take, registered at start (`Bus.register(_:for:)`).
final class PublicationAcceptors: Sendable {
    private let entries = NIOLockedValueBox<[(filter: TopicFilter, acceptor: any PublicationAcceptor)]>([])
    /// Read first on every plan lookup, so a server without acceptors pays one atomic load.
    private let isEmpty = ManagedAtomic(true)

    func register(_ acceptor: any PublicationAcceptor, for filter: TopicFilter) {
        entries.withLockedValue { $0.append((filter, acceptor)) }
        isEmpty.store(false, ordering: .releasing)
    }

    /// The acceptor taking `topic`'s publications, if any (the first registered that matches).
    func acceptor(for topic: Topic) -> (any PublicationAcceptor)? {
        if isEmpty.load(ordering: .acquiring) { return nil }
        return entries.withLockedValue { entries in
            entries.first { $0.filter.matches(topic) }?.acceptor
        }
    }
}
