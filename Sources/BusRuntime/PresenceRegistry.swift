package import BusCore
import NIOConcurrencyHelpers

/// Who is subscribed to each presence-enabled topic. A client subscribed several times counts once.
package final class PresenceRegistry: Sendable {
    private struct Entry {
        var info: PresenceInfo
        var subscriptions: Int
    }

    package let policy: PresencePolicy
    private let topics = NIOLockedValueBox<[Topic: [String: Entry]]>([:])

    package init(policy: PresencePolicy) { self.policy = policy }

    /// Records a subscription; true when the client just joined the topic.
    package func join(_ topic: Topic, _ info: PresenceInfo) -> Bool {
        topics.withLockedValue { topics in
            if topics[topic]?[info.clientID] != nil {
                topics[topic]![info.clientID]!.subscriptions += 1
                return false
            }
            topics[topic, default: [:]][info.clientID] = Entry(info: info, subscriptions: 1)
            return true
        }
    }

    /// Forgets a subscription; the client's info when it just left the topic.
    ///
    /// The topic's clients are changed in place: a copy taken out first (`var clients = topics[topic]`)
    /// shared its storage, so each leave copied every entry of the topic — 11 % of the server's CPU in
    /// swift_retain alone while 3,000 SSE streams of one topic churned (Benchmarks/analysis.md, "Churn").
    package func leave(_ topic: Topic, clientID: String) -> PresenceInfo? {
        topics.withLockedValue { topics in
            guard let entry = topics[topic]?[clientID] else { return nil }
            if entry.subscriptions > 1 {
                topics[topic]![clientID]!.subscriptions -= 1
                return nil
            }
            topics[topic]![clientID] = nil
            if topics[topic]!.isEmpty { topics[topic] = nil }
            return entry.info
        }
    }

    package func clients(of topic: Topic) -> [PresenceInfo] {
        let local = topics.withLockedValue { topics in (topics[topic] ?? [:]).values.map(\.info) }
        let others = remote.withLockedValue { remote in remote.values.flatMap { ($0[topic] ?? [:]).values } }
        return (local + others).sorted { $0.connectedAt < $1.connectedAt }
    }

    // MARK: - Other instances (an engine's mirror of their presence)

    /// Instance → topic → client → entry: the presence other instances announced (`BusEngine`).
    private let remote = NIOLockedValueBox<[String: [Topic: [String: PresenceInfo]]]>([:])

    /// Every local entry, for an engine that announces them to other instances.
    package func localEntries() -> [(Topic, PresenceInfo)] {
        topics.withLockedValue { topics in
            topics.flatMap { topic, clients in clients.values.map { (topic, $0.info) } }
        }
    }

    /// Another instance's client joined `topic`; true when it is new here.
    package func remoteJoin(instance: String, topic: Topic, _ info: PresenceInfo) -> Bool {
        remote.withLockedValue { remote in
            guard remote[instance]?[topic]?[info.clientID] == nil else { return false }
            remote[instance, default: [:]][topic, default: [:]][info.clientID] = info
            return true
        }
    }

    /// Another instance's client left `topic`; its entry when it was listed.
    package func remoteLeave(instance: String, topic: Topic, clientID: String) -> PresenceInfo? {
        remote.withLockedValue { remote in
            guard let info = remote[instance]?[topic]?.removeValue(forKey: clientID) else { return nil }
            if remote[instance]?[topic]?.isEmpty == true { remote[instance]?[topic] = nil }
            return info
        }
    }

    /// Forgets an instance that went away; its entries, to announce their leaves.
    package func removeInstance(_ instance: String) -> [(Topic, PresenceInfo)] {
        remote.withLockedValue { remote in
            let gone = remote.removeValue(forKey: instance) ?? [:]
            return gone.flatMap { topic, clients in clients.values.map { (topic, $0) } }
        }
    }
}
