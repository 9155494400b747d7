import BusCore
import BusRuntime
import FrontendKit
import KafkaRESTWire
import NIOCore
import NIOHTTP1
import SchemaKit

/// `POST /topics/{t}` and `POST /topics/{t}/partitions/{p}`: each record is published on the topic's bus
/// topic (so MQTT, NATS and WebSocket subscribers get it) with a placement naming the topic's stream, its
/// key (Kafka's murmur2 partitioner) and partition; the answer waits until every record is stored (group
/// commit, fsync on SQLite), so an answered offset survives `kill -9`.
extension KafkaRESTRoutes {
    func produceToTopic(_ request: Request) throws -> EventLoopFuture<Reply> {
        try produce(request, partition: nil)
    }

    func produceToPartition(_ request: Request) throws -> EventLoopFuture<Reply> {
        try produce(request, partition: request.partition())
    }

    /// Keys and values as stored, with the schema ids the answer reports.
    struct EncodedRecords: Sendable {
        var keys: [[UInt8]?]
        var values: [[UInt8]?]
        var keySchemaID: Int?
        var valueSchemaID: Int?
    }

    private func produce(_ request: Request, partition: Int?) throws -> EventLoopFuture<Reply> {
        let name = request.parameter("topic")
        let busTopicName = KafkaRESTTopicName.busTopic(forKafkaTopic: name)
        guard KafkaRESTTopicName.isValid(name), let topic = try? Topic(busTopicName) else {
            throw KafkaRESTError.topicNotFound
        }
        guard request.identity.permissions.mayPublish(topic) else {
            throw KafkaRESTError.forbidden("Not authorized to access topics: [\(name)]")
        }
        let format = try KafkaRESTMediaType.produceFormat(
            contentType: request.http.head.headers.first(name: "Content-Type"))
        let body = try KafkaRESTProduceRequest(body: request.http.body)
        let loop = request.loop
        let services = self.services
        return ensureStream(name, busTopic: busTopicName, on: loop).flatMapThrowing { box -> Int in
            let count = box.partitions.count
            for given in [partition] + body.records.map(\.partition) {
                if let given, given >= count { throw KafkaRESTError.partitionNotFound }
            }
            return count
        }.flatMap { _ in
            Self.encode(body, format: format, topic: name, services: services, on: loop)
        }.map { encoded in
            // One batch publish for the request (LoopShard's), not a publish and an answer per record:
            // the reply goes once the last record is stored.
            var offsets = [KafkaRESTProduceOffset?](repeating: nil, count: body.records.count)
            var messages: [BusMessage] = []
            var placements: [StreamPlacement?] = []
            var published: [Int] = []
            messages.reserveCapacity(body.records.count)
            placements.reserveCapacity(body.records.count)
            published.reserveCapacity(body.records.count)
            let now = services.bus.clock()
            for (index, record) in body.records.enumerated() {
                let payload = ByteBuffer(bytes: encoded.values[index] ?? [])
                // docs/topics.md, "Payload schemas": a record a rule refuses is not stored; its entry in
                // `offsets` carries kafka-rest's 42206 (invalid payload) naming the failing JSON Pointer,
                // and the request's other records go on. The stored bytes are what is checked, so avro,
                // protobuf and jsonschema records (Confluent wire format: binary) never fit a rule.
                if let violation = services.bus.payloadSchemas.check(topic, payload: payload, contentType: nil) {
                    offsets[index] = Self.refused(violation)
                    continue
                }
                messages.append(BusMessage(topic: topic, payload: payload, timestamp: now))
                placements.append(
                    StreamPlacement(key: encoded.keys[index], partition: record.partition ?? partition, stream: name))
                published.append(index)
            }
            return (offsets, messages, placements, published, encoded)
        }.flatMap { (offsets, messages, placements, published, encoded) in
            let promise = loop.makePromise(of: Reply.self)
            let answer = { (offsets: [KafkaRESTProduceOffset?]) in
                var buffer = ByteBuffer()
                KafkaRESTProduceResponse.write(
                    offsets.map { $0! }, keySchemaID: encoded.keySchemaID, valueSchemaID: encoded.valueSchemaID,
                    to: &buffer)
                promise.succeed(.json(.ok, buffer))
            }
            guard !messages.isEmpty else {
                answer(offsets)
                return promise.futureResult
            }
            services.bus.shard(for: loop).publish(messages, placements: placements) { acks in
                var offsets = offsets
                for (answers, index) in zip(acks, published) {
                    offsets[index] = Self.outcome(answers.first { $0.stream == name })
                }
                answer(offsets)
            }
            return promise.futureResult
        }
    }

    /// A stream's answer as the record's offset (Kafka's: the stream's − 1) or Kafka's per-record error.
    static func outcome(_ ack: StreamAppendAck?) -> KafkaRESTProduceOffset {
        guard let ack else {
            return KafkaRESTProduceOffset(partition: nil, offset: nil, errorCode: 50002, error: "not stored")
        }
        switch ack.outcome {
        case .stored, .duplicate: return KafkaRESTProduceOffset(partition: ack.partition, offset: Int(ack.offset) - 1)
        case .refused(let reason):
            return KafkaRESTProduceOffset(partition: ack.partition, offset: nil, errorCode: 50002, error: reason)
        }
    }

    /// A record a payload schema refused, as its `offsets` entry.
    static func refused(_ violation: PayloadSchemaViolation) -> KafkaRESTProduceOffset {
        KafkaRESTProduceOffset(partition: nil, offset: nil, errorCode: 42206, error: "Invalid payload: \(violation)")
    }

    /// The topic's stream, created (capturing its bus topic, `default_partitions`) when it does not exist
    /// and `auto_create_topics` is on; 40401 otherwise.
    func ensureStream(_ name: String, busTopic: String, on loop: any EventLoop) -> EventLoopFuture<StreamBox> {
        let streams = services.bus.streams
        if let box = streams.stream(named: name) { return loop.makeSucceededFuture(box) }
        guard services.configuration.autoCreateTopics, let filter = try? TopicFilter(busTopic) else {
            return loop.makeFailedFuture(KafkaRESTError.topicNotFound)
        }
        let promise = loop.makePromise(of: StreamBox.self)
        let configuration = StreamConfiguration(
            name: name, filters: [filter], partitions: services.configuration.defaultPartitions)
        streams.create(configuration) { result in
            // Created, or created meanwhile by another request: either way it exists now.
            if let box = streams.stream(named: name) { return promise.succeed(box) }
            switch result {
            case .success: promise.fail(KafkaRESTError.topicNotFound)
            case .failure(let error): promise.fail(KafkaRESTError.kafkaError("\(error)"))
            }
        }
        return promise.futureResult
    }

    /// Keys and values as bytes: at once for binary and json, through the schema source for the others.
    static func encode(
        _ body: KafkaRESTProduceRequest, format: KafkaRESTEmbeddedFormat, topic: String, services: KafkaRESTServices,
        on loop: any EventLoop
    ) -> EventLoopFuture<EncodedRecords> {
        guard let type = format.schemaType else {
            do {
                var keys: [[UInt8]?] = []
                var values: [[UInt8]?] = []
                for record in body.records {
                    keys.append(try KafkaRESTProduceRequest.bytes(record.key, format: format, member: "key"))
                    values.append(try KafkaRESTProduceRequest.bytes(record.value, format: format, member: "value"))
                }
                return loop.makeSucceededFuture(EncodedRecords(keys: keys, values: values))
            } catch {
                return loop.makeFailedFuture(error)
            }
        }
        guard let source = services.schemas else {
            return loop.makeFailedFuture(
                KafkaRESTError.kafkaError("no schema registry is configured for the \(format.rawValue) format"))
        }
        return loop.makeFutureWithTask {
            try await KafkaRESTSchemaProducer(source: source, type: type, topic: topic).encode(body)
        }
    }
}

/// The schema formats' side of a produce: finds or registers the key and value schemas, then serializes.
struct KafkaRESTSchemaProducer: Sendable {
    let source: any RecordSchemaSource
    let type: SchemaType
    let topic: String

    func encode(_ body: KafkaRESTProduceRequest) async throws -> KafkaRESTRoutes.EncodedRecords {
        let hasKeys = body.records.contains { $0.key != nil }
        let hasValues = body.records.contains { $0.value != nil }
        var encoded = KafkaRESTRoutes.EncodedRecords(keys: [], values: [])
        var keySchema: ParsedSchema?
        var valueSchema: ParsedSchema?
        if hasKeys {
            guard body.keySchema != nil || body.keySchemaID != nil else { throw KafkaRESTError.keySchemaMissing }
            let resolved = try await resolve(text: body.keySchema, id: body.keySchemaID, isKey: true)
            keySchema = resolved.0
            encoded.keySchemaID = resolved.1
        }
        if hasValues {
            guard body.valueSchema != nil || body.valueSchemaID != nil else { throw KafkaRESTError.valueSchemaMissing }
            let resolved = try await resolve(text: body.valueSchema, id: body.valueSchemaID, isKey: false)
            valueSchema = resolved.0
            encoded.valueSchemaID = resolved.1
        }
        for record in body.records {
            encoded.keys.append(try serialize(record.key, keySchema, encoded.keySchemaID))
            encoded.values.append(try serialize(record.value, valueSchema, encoded.valueSchemaID))
        }
        return encoded
    }

    private func serialize(_ value: JSONValue?, _ schema: ParsedSchema?, _ id: Int?) throws(KafkaRESTError) -> [UInt8]?
    {
        guard let value, let schema, let id else { return nil }
        return try KafkaRESTSchemaCodec.serialize(value, schema: schema, id: id)
    }

    /// The schema given by id (looked up) or text (parsed, then registered under `<topic>-key|value`).
    private func resolve(text: String?, id: Int?, isKey: Bool) async throws -> (ParsedSchema, Int) {
        if let id {
            guard let found = try await lookUp({ try await source.schema(id: id) }) else {
                throw KafkaRESTError.invalidSchema("schema \(id) not found")
            }
            guard found.type == type else {
                throw KafkaRESTError.invalidSchema("schema \(id) is \(found.type.rawValue), not \(type.rawValue)")
            }
            return (try KafkaRESTSchemaCodec.parse(found.text, type: type), id)
        }
        let text = text ?? ""
        let parsed = try KafkaRESTSchemaCodec.parse(text, type: type)
        let subject = KafkaRESTSchemaCodec.subject(topic: topic, isKey: isKey)
        let registered = try await lookUp { try await source.register(subject: subject, type: type, text: text) }
        return (parsed, registered)
    }

    /// Runs a registry call: SchemaKit's refusals keep their codes, anything else is 50002.
    private func lookUp<Value: Sendable>(_ call: () async throws -> Value) async throws -> Value {
        do {
            return try await call()
        } catch let error as SchemaError {
            throw KafkaRESTSchemaCodec.error(error)
        } catch let error as KafkaRESTError {
            throw error
        } catch {
            throw KafkaRESTError.kafkaError("schema registry: \(error)")
        }
    }
}
