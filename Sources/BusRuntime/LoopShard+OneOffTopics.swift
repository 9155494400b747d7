package import BusCore

extension LoopShard {
    /// The first levels that topics which never come again share: `$JS/ACK` for JetStream
    /// acknowledgements (`$JS.ACK.<stream>.<consumer>.<n>.<stream seq>.<consumer seq>.<ts>.<pending>`).
    package struct OneOffPrefix: Sendable {
        package let text: String
        let levels: [Substring]

        package init(_ text: String) {
            self.text = text
            self.levels = Topic.splitLevels(text)
        }
    }

    /// Whether anything may route a topic under a one-off prefix, as of a registry generation.
    struct OneOffAnswer {
        let prefix: String
        var generation: UInt64
        var mayRoute: Bool
    }

    /// `isRouted` for `topic`, which begins with `prefix` and will not come again: the same answer from
    /// the same registries, without caching a plan. Caching one per acknowledgement cost more than the
    /// match (the insert, its eviction, the checks of whether a family may share it) and pushed out the
    /// plans of topics that do repeat. Whether any subscription, stream or acceptor may take a topic under
    /// `prefix` is asked once per registry generation; only when one may is the topic itself matched.
    package func isRoutedOnce(_ topic: Topic, under prefix: OneOffPrefix) -> Bool {
        assert(topic.name.hasPrefix(prefix.text + "/"))
        if generation == cacheGeneration, topic.isIdentical(to: lastPlanTopic) { return lastPlanIsRouted }
        // What `lookUpPlan` asks, cheapest first, stopping at the first yes (as `isRoutedLookingUp`:
        // recipients, an acceptor, a log, streams, an engine).
        if engine != nil { return true }
        if mayRoute(under: prefix) {
            let match = bus.registry.match(topic)
            if !match.members.isEmpty || !match.groups.isEmpty { return true }
            if bus.acceptors.acceptor(for: topic) != nil { return true }
            if !bus.streams.matchingNamingLastLevel(topic).streams.isEmpty { return true }
        }
        // A log is per topic: one a rule keeps from the first publish, or one a reader demanded.
        return bus.history.log(for: topic, create: true) != nil
    }

    private func mayRoute(under prefix: OneOffPrefix) -> Bool {
        // Read before asking, as a plan lookup does: a change meanwhile makes the answer stale at once.
        let generation = self.generation
        let index = oneOffAnswers.firstIndex { $0.prefix == prefix.text }
        if let index, oneOffAnswers[index].generation == generation { return oneOffAnswers[index].mayRoute }
        let mayRoute =
            bus.registry.mayMatch(topicsUnder: prefix.levels) || bus.acceptors.mayAccept(topicsUnder: prefix.levels)
            || bus.streams.mayCapture(topicsUnder: prefix.levels)
        let answer = OneOffAnswer(prefix: prefix.text, generation: generation, mayRoute: mayRoute)
        if let index { oneOffAnswers[index] = answer } else { oneOffAnswers.append(answer) }
        return mayRoute
    }
}
