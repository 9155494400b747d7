import BusCore
import BusRuntime
import FrontendKit
import KafkaRESTWire
import NIOCore
import NIOHTTP1

/// `GET /topics`, `/topics/{t}`, `/topics/{t}/partitions`, `/topics/{t}/partitions/{p}` and
/// `/topics/{t}/partitions/{p}/offsets`: streams shown as the topics of a one-broker cluster. A topic is
/// listed to a client that may read or write its bus topic.
extension KafkaRESTRoutes {
    func listTopics(_ request: Request) throws -> EventLoopFuture<Reply> {
        let names = services.bus.streams.list().map(\.name).filter { Self.mayDescribe($0, request.identity) }.sorted()
        return Self.json(request.loop) { buffer in
            buffer.writeInteger(UInt8(ascii: "["))
            for (index, name) in names.enumerated() {
                if index > 0 { buffer.writeInteger(UInt8(ascii: ",")) }
                buffer.writeJSONString(name)
            }
            buffer.writeInteger(UInt8(ascii: "]"))
        }
    }

    func topic(_ request: Request) throws -> EventLoopFuture<Reply> {
        let box = try stream(request)
        let configuration = box.configuration
        return Self.json(request.loop) {
            KafkaRESTTopicResponse.writeTopic(
                name: box.name, configs: Self.configs(configuration), partitions: box.partitions.count, to: &$0)
        }
    }

    func partitions(_ request: Request) throws -> EventLoopFuture<Reply> {
        let box = try stream(request)
        return Self.json(request.loop) { KafkaRESTTopicResponse.writePartitions(box.partitions.count, to: &$0) }
    }

    func partition(_ request: Request) throws -> EventLoopFuture<Reply> {
        let box = try stream(request)
        let partition = try request.partition()
        guard box.partitions.indices.contains(partition) else { throw KafkaRESTError.partitionNotFound }
        return Self.json(request.loop) { KafkaRESTTopicResponse.writePartition(partition, to: &$0) }
    }

    /// `{"beginning_offset","end_offset"}` in Kafka offsets (the stream's − 1).
    func partitionOffsets(_ request: Request) throws -> EventLoopFuture<Reply> {
        let box = try stream(request)
        let partition = try request.partition()
        guard box.partitions.indices.contains(partition) else { throw KafkaRESTError.partitionNotFound }
        let info = box.partitions[partition].info
        return Self.json(request.loop) {
            KafkaRESTTopicResponse.writeOffsets(
                beginning: Int(info.firstOffset) - 1, end: Int(info.lastOffset), to: &$0)
        }
    }

    /// The stream of the path's topic; 40401 when there is none (or the client may not see it).
    func stream(_ request: Request) throws(KafkaRESTError) -> StreamBox {
        let name = request.parameter("topic")
        guard let box = services.bus.streams.stream(named: name) else { throw .topicNotFound }
        guard Self.mayDescribe(name, request.identity) else {
            throw .forbidden("Not authorized to access topics: [\(name)]")
        }
        return box
    }

    static func mayDescribe(_ name: String, _ identity: ClientIdentity) -> Bool {
        guard !identity.permissions.isUnrestricted else { return true }
        guard let topic = try? Topic(KafkaRESTTopicName.busTopic(forKafkaTopic: name)) else { return false }
        return identity.permissions.mayRead(topic) || identity.permissions.mayPublish(topic)
    }

    /// The stream's limits as the Kafka topic configs they are.
    static func configs(_ configuration: StreamConfiguration) -> [(String, String)] {
        let limits = configuration.limits
        var configs: [(String, String)] = [("cleanup.policy", "delete")]
        configs.append(("max.message.bytes", limits.maxMessageSize.map { "\($0)" } ?? "1048588"))
        configs.append(("retention.bytes", limits.maxBytes.map { "\($0)" } ?? "-1"))
        configs.append(("retention.ms", limits.maxAgeNanoseconds.map { "\($0 / 1_000_000)" } ?? "-1"))
        configs.append(("switchboard.filters", configuration.filters.map { "\($0)" }.joined(separator: ",")))
        configs.append(("switchboard.storage", configuration.storage.rawValue))
        return configs
    }
}
