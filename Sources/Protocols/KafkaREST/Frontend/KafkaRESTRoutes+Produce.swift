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
/// commit, fsync on SQLite), so an answered offset survives `kill -9`. The records carry their connection's
/// publisher id: while a subscriber they feed is behind, the connection's next request waits unread
/// (publisher flow control, `HTTPPublishingConnection`), as `POST /api/publish`'s does.
extension KafkaRESTRoutes {
    func produceToTopic(_ request: Request) throws -> EventLoopFuture<Reply> {
        try produce(request, partition: nil)
    }

    func produceToPartition(_ request: Request) throws -> EventLoopFuture<Reply> {
        try produce(request, partition: request.partition())
    }

    /// Keys and values as stored, each record's partition, and the schema ids the answer reports.
    struct EncodedRecords: Sendable {
        var keys: [[UInt8]?]
        var values: [ByteBuffer?]
        var partitions: [Int?]
        var keySchemaID: Int?
        var valueSchemaID: Int?
        /// The values are slices of shared buffers (`KafkaRESTProduceBodyDecoder`'s arenas).
        var packedValues = false
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
        let loop = request.loop
        let services = self.services
        let publisher = services.connections.flatMap { connections in
            request.http.publishingConnection?.publisherID(in: connections, makeID: services.bus.makeIdentifier)
        }
        // binary and json bodies are decoded in one pass into the payloads (the hot path); anything that
        // decoder leaves (a schema format, or a body it is not sure of: bad input included) takes the
        // general parse, which gives bad input its 400 or 422 at the same step as always.
        if let records = KafkaRESTProduceBodyDecoder.decode(request.http.body, format: format) {
            let encoded = EncodedRecords(
                keys: records.keys, values: records.values, partitions: records.partitions,
                packedValues: format == .binary)
            if let box = services.bus.streams.stream(named: name) {
                // The stream exists (every produce but a topic's first): no future chain at all.
                try Self.checkPartitions(encoded.partitions, given: partition, count: box.partitions.count)
                return Self.publish(
                    encoded, topic: topic, stream: name, partition: partition, publisher: publisher, services, on: loop)
            }
            return ensureStream(name, busTopic: busTopicName, on: loop).flatMapThrowing { box in
                try Self.checkPartitions(encoded.partitions, given: partition, count: box.partitions.count)
            }.flatMap {
                Self.publish(
                    encoded, topic: topic, stream: name, partition: partition, publisher: publisher, services, on: loop)
            }
        }
        let body = try KafkaRESTProduceRequest(body: request.http.body)
        return ensureStream(name, busTopic: busTopicName, on: loop).flatMapThrowing { box in
            try Self.checkPartitions(body.records.map(\.partition), given: partition, count: box.partitions.count)
        }.flatMap {
            Self.encode(body, format: format, topic: name, services: services, on: loop)
        }.flatMap { encoded in
            Self.publish(
                encoded, topic: topic, stream: name, partition: partition, publisher: publisher, services, on: loop)
        }
    }

    /// 40402 when the path's partition or a record's is not one of the topic's `count`.
    static func checkPartitions(_ partitions: [Int?], given: Int?, count: Int) throws(KafkaRESTError) {
        if let given, given >= count { throw .partitionNotFound }
        for case let partition? in partitions where partition >= count { throw .partitionNotFound }
    }

    /// Publishes the records on `topic` as one batch (LoopShard's: one acknowledgement for the request, not
    /// a publish and an answer per record) placed in `stream`; the answer goes once the last is stored.
    static func publish(
        _ encoded: EncodedRecords, topic: Topic, stream name: String, partition: Int?, publisher: String?,
        _ services: KafkaRESTServices, on loop: any EventLoop
    ) -> EventLoopFuture<Reply> {
        let count = encoded.values.count
        var messages: [BusMessage] = []
        var placements: [StreamPlacement?] = []
        messages.reserveCapacity(count)
        placements.reserveCapacity(count)
        // Records a payload rule refused, by index (empty, so allocating nothing, while none did).
        var refused: [Int: KafkaRESTProduceOffset] = [:]
        let now = services.bus.clock()
        let schemas = services.bus.payloadSchemas
        for index in 0..<count {
            let payload = encoded.values[index] ?? ByteBuffer()
            // docs/topics.md, "Payload schemas": a record a rule refuses is not stored; its entry in
            // `offsets` carries kafka-rest's 42206 (invalid payload) naming the failing JSON Pointer,
            // and the request's other records go on. The stored bytes are what is checked, so avro,
            // protobuf and jsonschema records (Confluent wire format: binary) never fit a rule.
            if let violation = schemas.check(topic, payload: payload, contentType: nil) {
                refused[index] = Self.refused(violation)
                continue
            }
            messages.append(BusMessage(topic: topic, payload: payload, publisherID: publisher, timestamp: now))
            placements.append(
                StreamPlacement(
                    key: encoded.keys[index], partition: encoded.partitions[index] ?? partition, stream: name,
                    packedPayload: encoded.packedValues))
        }
        let promise = loop.makePromise(of: Reply.self)
        let refusals = refused
        let keySchemaID = encoded.keySchemaID
        let valueSchemaID = encoded.valueSchemaID
        let answer = { @Sendable (published: [[StreamAppendAck]]) in
            var offsets: [KafkaRESTProduceOffset] = []
            offsets.reserveCapacity(count)
            var next = 0
            for index in 0..<count {
                if !refusals.isEmpty, let refusal = refusals[index] {
                    offsets.append(refusal)
                } else {
                    offsets.append(Self.outcome(published[next].first { $0.stream == name }))
                    next += 1
                }
            }
            var buffer = ByteBuffer()
            buffer.reserveCapacity(64 + count * 72)
            KafkaRESTProduceResponse.write(offsets, keySchemaID: keySchemaID, valueSchemaID: valueSchemaID, to: &buffer)
            promise.succeed(.json(.ok, buffer))
        }
        guard !messages.isEmpty else {
            answer([])
            return promise.futureResult
        }
        // Several instances sharing the store: this one claims the topic's partitions first (the records
        // wait for the claim instead of being refused; docs/storage.md, "Several instances").
        let streams = services.bus.streams
        let records = messages
        let placed = placements
        let ready = streams.ensureWritable(streams.stream(named: name).map { [$0] } ?? []) {
            loop.execute { services.bus.shard(for: loop).publish(records, placements: placed, acknowledged: answer) }
        }
        if ready { services.bus.shard(for: loop).publish(messages, placements: placements, acknowledged: answer) }
        return promise.futureResult
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
                var values: [ByteBuffer?] = []
                for record in body.records {
                    keys.append(try KafkaRESTProduceRequest.bytes(record.key, format: format, member: "key"))
                    values.append(
                        try KafkaRESTProduceRequest.bytes(record.value, format: format, member: "value").map {
                            ByteBuffer(bytes: $0)
                        })
                }
                return loop.makeSucceededFuture(
                    EncodedRecords(keys: keys, values: values, partitions: body.records.map(\.partition)))
            } catch {
                return loop.makeFailedFuture(error)
            }
        }
        guard let source = services.schemas else { return loop.makeFailedFuture(KafkaRESTError.schemaRegistryMissing) }
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
        var encoded = KafkaRESTRoutes.EncodedRecords(keys: [], values: [], partitions: body.records.map(\.partition))
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
            encoded.values.append(
                try serialize(record.value, valueSchema, encoded.valueSchemaID).map { ByteBuffer(bytes: $0) })
        }
        return encoded
    }

    private func serialize(_ value: JSONValue?, _ schema: ParsedSchema?, _ id: Int?) throws(KafkaRESTError) -> [UInt8]?
    {
        guard let value, let schema, let id else { return nil }
        return try KafkaRESTSchemaCodec.serialize(value, schema: schema, id: id)
    }

    /// The schema given by id (looked up, and required to be a version of `<topic>-key|value`) or text
    /// (parsed, then registered under that subject). Registry refusals are 42207, as kafka-rest's
    /// `SchemaManagerImpl` answers them (`getSchemaFromSchemaId`, `getSchemaVersion`,
    /// `getSchemaFromRawSchema`); a text that does not parse is 42205 before the registry is asked.
    private func resolve(text: String?, id: Int?, isKey: Bool) async throws -> (ParsedSchema, Int) {
        let subject = KafkaRESTSchemaCodec.subject(topic: topic, isKey: isKey)
        if let id {
            let found = try await ask(
                "Error when fetching schema by id. schemaId = \(id)",
                missing: "Schema \(id) not found; error code: 40403"
            ) { try await source.schema(id: id) }
            guard found.type == type else {
                throw KafkaRESTError.invalidSchema("schema \(id) is \(found.type.rawValue), not \(type.rawValue)")
            }
            let parsed = try KafkaRESTSchemaCodec.parse(found.text, type: type)
            let subjectExists = try await source.latest(subject: subject) != nil
            _ = try await ask(
                "Error when fetching schema version. subject = \(subject), schema = \(found.text)",
                missing: subjectExists
                    ? "Schema not found; error code: 40403" : "Subject '\(subject)' not found.; error code: 40401"
            ) { try await source.version(subject: subject, id: id) }
            return (parsed, id)
        }
        let text = text ?? ""
        let parsed = try KafkaRESTSchemaCodec.parse(text, type: type)
        let registered = try await ask(
            "Error when registering schema. format = \(type.rawValue), subject = \(subject), schema = \(text)",
            missing: "the registry answered no id"
        ) { try await source.register(subject: subject, type: type, text: text) }
        return (parsed, registered)
    }

    /// Runs a registry call: what it throws, or an answer of nothing (`missing`), is 42207 naming the call
    /// (`context`) and the registry's reason, as a `RestClientException`'s message gives it.
    private func ask<Value: Sendable>(
        _ context: String, missing: String, _ call: () async throws -> Value?
    ) async throws -> Value {
        let answer: Value?
        do {
            answer = try await call()
        } catch let error as KafkaRESTError {
            throw error
        } catch let error as SchemaRegistryError {
            throw KafkaRESTError.serializationFailed("\(context)\n\(error.message); error code: \(error.code)")
        } catch {
            throw KafkaRESTError.serializationFailed("\(context)\n\(error)")
        }
        guard let answer else { throw KafkaRESTError.serializationFailed("\(context)\n\(missing)") }
        return answer
    }
}
