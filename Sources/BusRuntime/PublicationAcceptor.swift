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

/// The acceptors and the filters they take, registered at start (`Bus.register(_:for:)`). Asked on every
/// plan lookup (a publish to a topic not in the loop's cache), so most topics are turned away by a byte
/// comparison with the filter's literal prefix before any level is split.
final class PublicationAcceptors: Sendable {
    private struct Entry: Sendable {
        let levels: [Substring]
        /// The filter up to its first wildcard (`sessions/` for `sessions/+/votes/+/cast`).
        let prefix: [UInt8]
        let acceptor: any PublicationAcceptor
    }

    private let entries = NIOLockedValueBox<[Entry]>([])
    /// Read first, so a server without acceptors pays one atomic load.
    private let isEmpty = ManagedAtomic(true)

    func register(_ acceptor: any PublicationAcceptor, for filter: TopicFilter) {
        let text = Array(filter.text.utf8)
        let prefix = text.prefix { $0 != UInt8(ascii: "+") && $0 != UInt8(ascii: "#") }
        entries.withLockedValue { $0.append(Entry(levels: filter.levels, prefix: Array(prefix), acceptor: acceptor)) }
        isEmpty.store(false, ordering: .releasing)
    }

    /// The acceptor taking `topic`'s publications, if any (the first registered that matches).
    func acceptor(for topic: Topic) -> (any PublicationAcceptor)? {
        if isEmpty.load(ordering: .acquiring) { return nil }
        return entries.withLockedValue { entries in
            for entry in entries where topic.name.utf8.starts(with: entry.prefix) {
                if TopicFilter.matches(patternLevels: entry.levels, topicLevels: topic.levels) { return entry.acceptor }
            }
            return nil
        }
    }

    /// Whether an acceptor may take a topic under `prefix` (`TopicFilter.mayMatch(patternLevels:topicsUnder:)`).
    func mayAccept(topicsUnder prefix: [Substring]) -> Bool {
        if isEmpty.load(ordering: .acquiring) { return false }
        return entries.withLockedValue { entries in
            entries.contains { TopicFilter.mayMatch(patternLevels: $0.levels, topicsUnder: prefix) }
        }
    }

    /// Whether an acceptor's filter names `topic`'s last level (so a sibling topic may have another
    /// acceptor, or none): `TopicFilter.namesLastLevel(of:)`.
    func namesLastLevel(of topic: Topic) -> Bool {
        if isEmpty.load(ordering: .acquiring) { return false }
        let levels = topic.levels
        return entries.withLockedValue { entries in
            entries.contains { TopicFilter.namesLastLevel(patternLevels: $0.levels, topicLevels: levels) }
        }
    }
}
