import BusCore

extension RecordCollections {
    /// The stream that keeps a collection's change events: `collections.<name>`, one partition, capturing
    /// `collections/<name>/+` — so a subscription on the whole collection (`collections/tasks/+`, NATS
    /// `collections.tasks.*`) reads its history and recovers what it missed from a position in it, and Kafka
    /// REST and JetStream clients read the feed as a topic/stream. Its limits can be changed through
    /// `/api/streams` like any stream's.
    package static func feedStreamName(_ collection: String) -> String { "collections.\(collection)" }

    /// Events a feed keeps by default (the oldest make room).
    package static let feedMaxMessages = 10_000

    static func feedConfiguration(_ collection: String) -> StreamConfiguration? {
        guard let filter = try? TopicFilter("collections/\(collection)/+") else { return nil }
        return StreamConfiguration(
            name: feedStreamName(collection), filters: [filter], partitions: 1,
            limits: StreamLimits(maxMessages: feedMaxMessages), retention: .limits, storage: .file)
    }

    /// Creates the collection's feed unless it exists; completes either way (a feed that cannot be made
    /// leaves the collection without history, which `/api/streams` shows).
    func ensureFeed(_ collection: String, completion: @escaping @Sendable () -> Void) {
        guard bus.streams.stream(named: Self.feedStreamName(collection)) == nil,
            let configuration = Self.feedConfiguration(collection)
        else { return completion() }
        bus.streams.create(configuration) { _ in completion() }
    }

    func dropFeed(_ collection: String, completion: @escaping @Sendable () -> Void) {
        bus.streams.delete(Self.feedStreamName(collection)) { _ in completion() }
    }
}
