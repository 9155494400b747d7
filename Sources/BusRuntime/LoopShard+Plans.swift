package import BusCore

/// What a shard caches per topic: the plan that routes its publications.
extension LoopShard {
    /// A cached match: who gets messages on a topic, grouped by their loop, and the topic's log.
    final class MatchPlan {
        /// This shard's own subscribers (delivered to during the publish) and the other shards' targets.
        let local: [BusSubscription]
        let remote: [(shard: Int, subscriptions: [BusSubscription])]
        let groups: [GroupPlan]
        let log: HistoryLogBox?
        /// The streams capturing the topic (empty for nearly every topic).
        let streams: [StreamBox]
        /// The shard that appends to and routes from `log`: one sequencer per topic, so deliveries
        /// leave in offset order and a client resuming from its newest offset has missed nothing before it.
        /// The first shard to look the log up claims it (`HistoryLogBox.owner(claimingFor:)`).
        let owner: Int
        let recipientCount: Int
        /// Whether `local`, `remote` and `groups` hold anything: read per publish without the arrays'
        /// reference counts.
        let hasLocal: Bool
        let hasRemote: Bool
        let hasGroups: Bool
        /// The one other loop a plain publication goes to packed (`publishPlain`), or -1: set when that
        /// loop's subscribers are all the plan has (no local ones, groups, log, stream or acceptor).
        let packedTarget: Int
        /// Whether a plain publication is written to the plan's recipients from the publisher's bytes
        /// (`publishPlain`): they are all on this loop and all take plain publications, and nothing else
        /// (groups, log, stream, acceptor) needs a message.
        let localTakesPlain: Bool
        /// The service taking the topic's publications itself (nil for nearly every topic).
        let acceptor: (any PublicationAcceptor)?

        init(
            shard: Int, targets: [(shard: Int, subscriptions: [BusSubscription])], groups: [GroupPlan],
            log: HistoryLogBox?, owner: Int, streams: [StreamBox] = [], acceptor: (any PublicationAcceptor)? = nil
        ) {
            self.streams = streams
            self.acceptor = acceptor
            self.local = targets.first { $0.shard == shard }?.subscriptions ?? []
            self.remote = targets.filter { $0.shard != shard }
            self.groups = groups
            self.hasLocal = !local.isEmpty
            self.hasRemote = !remote.isEmpty
            self.hasGroups = !groups.isEmpty
            let plain = groups.isEmpty && log == nil && streams.isEmpty && acceptor == nil
            self.packedTarget = plain && local.isEmpty && remote.count == 1 ? remote[0].shard : -1
            self.localTakesPlain =
                plain && !local.isEmpty && remote.isEmpty && local.allSatisfy(\.takesPlainPublications)
            self.log = log
            self.owner = owner
            // An acceptor takes the message too (a NATS request to it has a responder).
            self.recipientCount =
                targets.reduce(0) { $0 + $1.subscriptions.count } + groups.count + (acceptor == nil ? 0 : 1)
        }
    }

    /// A shared group as one shard sees it: its members and this shard's round-robin cursor.
    final class GroupPlan {
        let members: [BusSubscription]
        var cursor = 0
        /// The group's name and pattern (what an engine knows the group by across instances).
        let key: String
        init(members: [BusSubscription]) {
            self.members = members
            let filter = members[0].filter
            self.key = (filter.shareGroup ?? "") + "\u{1F}" + filter.pattern
        }

        func next() -> BusSubscription {
            let member = members[cursor % members.count]
            cursor &+= 1
            return member
        }
    }
}
