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
            if var entry = topics[topic]?[info.clientID] {
                entry.subscriptions += 1
                topics[topic]![info.clientID] = entry
                return false
            }
            topics[topic, default: [:]][info.clientID] = Entry(info: info, subscriptions: 1)
            return true
        }
    }

    /// Forgets a subscription; the client's info when it just left the topic.
    package func leave(_ topic: Topic, clientID: String) -> PresenceInfo? {
        topics.withLockedValue { topics in
            guard var clients = topics[topic], var entry = clients[clientID] else { return nil }
            entry.subscriptions -= 1
            if entry.subscriptions > 0 {
                clients[clientID] = entry
                topics[topic] = clients
                return nil
            }
            clients[clientID] = nil
            topics[topic] = clients.isEmpty ? nil : clients
            return entry.info
        }
    }

    package func clients(of topic: Topic) -> [PresenceInfo] {
        topics.withLockedValue { topics in
            (topics[topic] ?? [:]).values.map(\.info).sorted { $0.connectedAt < $1.connectedAt }
        }
    }
}
