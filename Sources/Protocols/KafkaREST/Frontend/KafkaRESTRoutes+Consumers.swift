import BusCore
import BusRuntime
import FrontendKit
import KafkaRESTWire
import NIOCore
import NIOHTTP1

/// Consumer instances (v2): create and delete, subscription (topics or a pattern) or manual assignment,
/// positions, and the group's committed offsets — the stream consumer-group offsets (`StreamRegistry`),
/// shared with `/api/streams/{s}/groups/{g}`. Kafka offsets are the stream's − 1 (Kafka counts from 0),
/// and a commit of offset `o` stores `o + 1`, the next to read, as the proxy does.
extension KafkaRESTRoutes {
    func createConsumer(_ request: Request) throws -> EventLoopFuture<Reply> {
        let group = request.parameter("group")
        let configuration = try KafkaRESTConsumerConfiguration(body: try KafkaRESTJSON.object(request.http.body))
        let id = configuration.name ?? "rest-consumer-" + services.bus.makeIdentifier()
        let host = request.http.head.headers.first(name: "Host") ?? "localhost"
        let baseURI = "http://\(host)/consumers/\(group)/instances/\(id)"
        guard let claims = services.bus.instanceClaims else {
            try services.consumers.create(
                group: group, id: id, configuration: configuration, owner: request.identity.userID, now: services.now())
            return Self.created(id, baseURI, on: request.loop)
        }
        // Several instances share the store: a group is served by one of them at a time (one claim per
        // consumer instance, given back when it goes), so no partition is read by two instances' members
        // at once (docs/storage.md "Kafka REST consumer groups"). Once held, its committed offsets are read
        // fresh: another instance may have served the group, and committed, since this one started.
        let promise = request.loop.makePromise(of: Reply.self)
        let (services, owner, loop) = (services, request.identity.userID, request.loop)
        let kind = KafkaRESTConsumerGroups.claimKind
        claims.claim(kind, group, timeout: KafkaRESTConsumerGroups.claimTimeout) { held in
            guard held else { return loop.execute { promise.fail(KafkaRESTConsumerGroups.servedElsewhere(group)) } }
            claims.refreshCommittedOffsets(group: group, in: services.bus.streams) { read in
                loop.execute {
                    do throws(KafkaRESTError) {
                        guard case .success = read else {
                            throw .kafkaError("the group's committed offsets could not be read from the store")
                        }
                        try services.consumers.create(
                            group: group, id: id, configuration: configuration, owner: owner, now: services.now())
                        promise.completeWith(Self.created(id, baseURI, on: loop))
                    } catch {
                        claims.release(kind, group)
                        promise.fail(error)
                    }
                }
            }
        }
        return promise.futureResult
    }

    private static func created(_ id: String, _ baseURI: String, on loop: any EventLoop) -> EventLoopFuture<Reply> {
        json(loop) { buffer in
            buffer.writeStaticString("{\"instance_id\":")
            buffer.writeJSONString(id)
            buffer.writeStaticString(",\"base_uri\":")
            buffer.writeJSONString(baseURI)
            buffer.writeInteger(UInt8(ascii: "}"))
        }
    }

    /// Deletes the instance (its group rebalances); with auto-commit on, what it read is committed first,
    /// as `KafkaConsumer.close` does.
    func deleteConsumer(_ request: Request) throws -> EventLoopFuture<Reply> {
        let (group, id, owner) = Self.instance(request)
        let positions = try services.consumers.with(group: group, id: id, owner: owner, now: services.now()) {
            instance -> [KafkaRESTTopicPartition: UInt64] in
            guard instance.configuration.autoCommit else { return [:] }
            return instance.positions.filter { instance.consumedSinceCommit.contains($0.key) }
        }
        try services.consumers.delete(group: group, id: id, owner: owner)
        return commit(positions, group: group, on: request.loop).map { .noContent }
    }

    // MARK: - Subscription and assignment

    func subscribe(_ request: Request) throws -> EventLoopFuture<Reply> {
        let body = try KafkaRESTJSON.object(request.http.body)
        let topics = try KafkaRESTJSON.array(body, "topics")
        let pattern = try KafkaRESTJSON.string(body, "topic_pattern")
        let target: KafkaRESTConsumerInstance.Target
        switch (topics, pattern) {
        case (let topics?, nil):
            var names: [String] = []
            for item in topics {
                guard let name = item.stringValue, KafkaRESTTopicName.isValid(name) else {
                    throw KafkaRESTError.unprocessable("\"topics\" must be topic names")
                }
                try Self.checkRead(name, request.identity)
                names.append(name)
            }
            // An empty list unsubscribes, as `KafkaConsumer.subscribe([])` does.
            target = names.isEmpty ? .none : .topics(names)
        case (nil, let pattern?):
            guard (try? Regex(pattern)) != nil else {
                throw KafkaRESTError.unprocessable("\"topic_pattern\" is not a regular expression")
            }
            target = .pattern(pattern)
        default:
            throw KafkaRESTError.unprocessable("A subscription names either \"topics\" or \"topic_pattern\"")
        }
        let (group, id, owner) = Self.instance(request)
        try services.consumers.with(group: group, id: id, owner: owner, now: services.now()) {
            (instance) throws(KafkaRESTError) in
            if case .assigned = instance.target {
                throw .illegalState("Subscription to topics, partitions and pattern are mutually exclusive")
            }
            instance.target = target
        }
        return request.loop.makeSucceededFuture(.noContent)
    }

    func subscription(_ request: Request) throws -> EventLoopFuture<Reply> {
        let (group, id, owner) = Self.instance(request)
        let target = try services.consumers.with(group: group, id: id, owner: owner, now: services.now()) { $0.target }
        let names = services.bus.streams.list().map(\.name)
        let topics: [String]
        switch target {
        case .topics(let list): topics = list
        case .pattern: topics = (KafkaRESTConsumerGroups.topics(of: target, among: names) ?? []).sorted()
        case .none, .assigned: topics = []
        }
        return Self.json(request.loop) { buffer in
            buffer.writeStaticString("{\"topics\":[")
            for (index, name) in topics.enumerated() {
                if index > 0 { buffer.writeInteger(UInt8(ascii: ",")) }
                buffer.writeJSONString(name)
            }
            buffer.writeStaticString("]}")
        }
    }

    func unsubscribe(_ request: Request) throws -> EventLoopFuture<Reply> {
        let (group, id, owner) = Self.instance(request)
        try services.consumers.with(group: group, id: id, owner: owner, now: services.now()) { instance in
            if instance.isSubscribed {
                instance.target = .none
                instance.positions = [:]
                instance.consumedSinceCommit = []
            }
        }
        return request.loop.makeSucceededFuture(.noContent)
    }

    func assign(_ request: Request) throws -> EventLoopFuture<Reply> {
        let partitions = try KafkaRESTTopicPartition.list(try KafkaRESTJSON.object(request.http.body), "partitions")
        for partition in partitions { try Self.checkRead(partition.topic, request.identity) }
        let (group, id, owner) = Self.instance(request)
        try services.consumers.with(group: group, id: id, owner: owner, now: services.now()) {
            (instance) throws(KafkaRESTError) in
            if instance.isSubscribed {
                throw .illegalState("Subscription to topics, partitions and pattern are mutually exclusive")
            }
            instance.target = partitions.isEmpty ? .none : .assigned(partitions)
        }
        return request.loop.makeSucceededFuture(.noContent)
    }

    func assignments(_ request: Request) throws -> EventLoopFuture<Reply> {
        let (group, id, owner) = Self.instance(request)
        let held = try services.consumers.synchronize(group: group, id: id, owner: owner, now: services.now())
        return Self.json(request.loop) { Self.writePartitions(held.keys.sorted(), &$0) }
    }

    // MARK: - Positions

    func seek(_ request: Request) throws -> EventLoopFuture<Reply> {
        guard let offsets = try KafkaRESTPartitionOffset.list(try KafkaRESTJSON.object(request.http.body)) else {
            throw KafkaRESTError.unprocessable("\"offsets\" is required")
        }
        try reposition(request, offsets.map(\.topicPartition)) { partition, _ in
            UInt64(offsets.last { $0.topicPartition == partition }!.offset) + 1
        }
        return request.loop.makeSucceededFuture(.noContent)
    }

    func seekToBeginning(_ request: Request) throws -> EventLoopFuture<Reply> {
        let partitions = try KafkaRESTTopicPartition.list(try KafkaRESTJSON.object(request.http.body), "partitions")
        try reposition(request, partitions) { _, info in info?.firstOffset ?? 1 }
        return request.loop.makeSucceededFuture(.noContent)
    }

    func seekToEnd(_ request: Request) throws -> EventLoopFuture<Reply> {
        let partitions = try KafkaRESTTopicPartition.list(try KafkaRESTJSON.object(request.http.body), "partitions")
        try reposition(request, partitions) { _, info in (info?.lastOffset ?? 0) + 1 }
        return request.loop.makeSucceededFuture(.noContent)
    }

    /// Sets the position of each of `partitions` (each must be held: `KafkaConsumer.seek`'s rule).
    private func reposition(
        _ request: Request, _ partitions: [KafkaRESTTopicPartition],
        _ position: (KafkaRESTTopicPartition, StreamPartitionInfo?) -> UInt64
    ) throws {
        let (group, id, owner) = Self.instance(request)
        let held = try services.consumers.synchronize(group: group, id: id, owner: owner, now: services.now())
        var updates: [KafkaRESTTopicPartition: UInt64] = [:]
        for partition in partitions {
            guard held[partition] != nil else {
                throw KafkaRESTError.illegalState(
                    "No current assignment for partition \(partition.topic)-\(partition.partition)")
            }
            let box = services.bus.streams.stream(named: partition.topic)
            let info = box.flatMap {
                $0.partitions.indices.contains(partition.partition) ? $0.partitions[partition.partition].info : nil
            }
            updates[partition] = position(partition, info)
        }
        try services.consumers.with(group: group, id: id, owner: owner, now: services.now()) { instance in
            for (partition, offset) in updates where instance.positions[partition] != nil {
                instance.positions[partition] = offset
            }
        }
    }

    // MARK: - Offsets

    /// Commits the given offsets (each `o` stored as `o + 1`), or with no body every position the
    /// instance holds.
    func commitOffsets(_ request: Request) throws -> EventLoopFuture<Reply> {
        let (group, id, owner) = Self.instance(request)
        let given = try KafkaRESTPartitionOffset.list(try KafkaRESTJSON.object(request.http.body))
        var positions: [KafkaRESTTopicPartition: UInt64] = [:]
        if let given {
            _ = try services.consumers.with(group: group, id: id, owner: owner, now: services.now()) { _ in }
            for item in given {
                try Self.checkRead(item.topicPartition.topic, request.identity)
                // Kafka offset o is stream offset o + 1; the next to read after it is o + 2.
                positions[item.topicPartition] = UInt64(item.offset) + 2
            }
        } else {
            _ = try services.consumers.synchronize(group: group, id: id, owner: owner, now: services.now())
            positions = try services.consumers.with(group: group, id: id, owner: owner, now: services.now()) {
                instance in
                instance.consumedSinceCommit = []
                return instance.positions
            }
        }
        return commit(positions, group: group, on: request.loop).map { .json(.ok, ByteBuffer()) }
    }

    /// `{"offsets":[{"topic","partition","offset","metadata"}]}` for the body's `partitions` that the
    /// group has committed in the partition's current epoch.
    func committedOffsets(_ request: Request) throws -> EventLoopFuture<Reply> {
        let (group, id, owner) = Self.instance(request)
        let partitions = try KafkaRESTTopicPartition.list(try KafkaRESTJSON.object(request.http.body), "partitions")
        _ = try services.consumers.with(group: group, id: id, owner: owner, now: services.now()) { _ in }
        var found: [(KafkaRESTTopicPartition, UInt64)] = []
        for partition in partitions {
            try Self.checkRead(partition.topic, request.identity)
            guard services.bus.streams.stream(named: partition.topic) != nil else { throw KafkaRESTError.topicNotFound }
            let committed: StreamCommittedOffset?
            do {
                committed = try services.bus.streams.committed(
                    group: group, stream: partition.topic, partition: partition.partition)
            } catch {
                throw KafkaRESTError.partitionNotFound
            }
            if let committed, committed.isCurrent { found.append((partition, committed.offset)) }
        }
        return Self.json(request.loop) { buffer in
            buffer.writeStaticString("{\"offsets\":[")
            for (index, (partition, offset)) in found.enumerated() {
                if index > 0 { buffer.writeInteger(UInt8(ascii: ",")) }
                buffer.writeStaticString("{\"topic\":")
                buffer.writeJSONString(partition.topic)
                buffer.writeStaticString(",\"partition\":")
                buffer.writeDecimal(partition.partition)
                buffer.writeStaticString(",\"offset\":")
                buffer.writeDecimal(Int(offset) - 1)
                buffer.writeStaticString(",\"metadata\":\"\"}")
            }
            buffer.writeStaticString("]}")
        }
    }

    /// Stores each stream position as the group's committed offset; completes on `loop` once all are.
    func commit(_ positions: [KafkaRESTTopicPartition: UInt64], group: String, on loop: any EventLoop)
        -> EventLoopFuture<Void>
    {
        let streams = services.bus.streams
        let commits = positions.map { partition, offset in
            let promise = loop.makePromise(of: Void.self)
            streams.commit(group: group, stream: partition.topic, partition: partition.partition, offset: offset) {
                result in
                switch result {
                case .success: promise.succeed(())
                case .failure(let error): promise.fail(Self.kafkaError(error))
                }
            }
            return promise.futureResult
        }
        return EventLoopFuture.andAllSucceed(commits, on: loop)
    }

    // MARK: - Helpers

    static func instance(_ request: Request) -> (String, String, String?) {
        (request.parameter("group"), request.parameter("instance"), request.identity.userID)
    }

    static func checkRead(_ name: String, _ identity: ClientIdentity) throws(KafkaRESTError) {
        guard !identity.permissions.isUnrestricted else { return }
        guard let topic = try? Topic(KafkaRESTTopicName.busTopic(forKafkaTopic: name)),
            identity.permissions.mayRead(topic)
        else { throw .forbidden("Not authorized to access topics: [\(name)]") }
    }

    static func writePartitions(_ partitions: [KafkaRESTTopicPartition], _ buffer: inout ByteBuffer) {
        buffer.writeStaticString("{\"partitions\":[")
        for (index, partition) in partitions.enumerated() {
            if index > 0 { buffer.writeInteger(UInt8(ascii: ",")) }
            partition.write(to: &buffer)
        }
        buffer.writeStaticString("]}")
    }
}
