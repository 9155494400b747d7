package import BusCore

extension LoopShard {
    /// `isRouted` for a topic that will not come again — a JetStream acknowledgement's subject names its
    /// delivery (`$JS.ACK.<stream>.<consumer>.<n>.<stream seq>.<consumer seq>.<ts>.<pending>`): the same
    /// answer from the same registries, without caching a plan. Caching one per acknowledgement cost
    /// more than the match (the insert, its eviction, the checks of whether a family may share it) and
    /// pushed out the plans of topics that do repeat.
    package func isRoutedOnce(_ topic: Topic) -> Bool {
        if generation == cacheGeneration, topic.isIdentical(to: lastPlanTopic) { return lastPlanIsRouted }
        // What `lookUpPlan` asks, cheapest first, stopping at the first yes (as `isRoutedLookingUp`:
        // recipients, an acceptor, a log, streams, an engine).
        if engine != nil { return true }
        let match = bus.registry.match(topic)
        if !match.members.isEmpty || !match.groups.isEmpty { return true }
        if bus.acceptors.acceptor(for: topic) != nil { return true }
        if bus.history.log(for: topic, create: true) != nil { return true }
        return !bus.streams.matchingNamingLastLevel(topic).streams.isEmpty
    }
}
