import BusCore
import BusRuntime
import FrontendKit
import KafkaRESTWire
import NIOCore
import NIOHTTP1
import SchemaKit

/// `GET /consumers/{g}/instances/{i}/records?timeout=&max_bytes=`: the records after the instance's
/// positions in every partition it holds, in its embedded format. With nothing to hand out (or less than
/// `fetch.min.bytes`) the request is held until a partition has more (`waitForRecords`, no polling) or
/// the timeout passes. What is handed out moves the positions; with `auto.commit.enable` it is committed
/// before the answer.
extension KafkaRESTRoutes {
    func records(_ request: Request) throws -> EventLoopFuture<Reply> {
        let (group, id, owner) = Self.instance(request)
        let (configuration, target) = try services.consumers.with(
            group: group, id: id, owner: owner, now: services.now()
        ) { ($0.configuration, $0.target) }
        let accept = request.http.head.headers["Accept"]
        let format = try KafkaRESTMediaType.recordsFormat(
            accept: accept.isEmpty ? nil : accept.joined(separator: ","), instanceFormat: configuration.format)
        if format.schemaType != nil, services.schemas == nil {
            throw KafkaRESTError.kafkaError("no schema registry is configured for the \(format.rawValue) format")
        }
        // KafkaConsumer.poll's refusal, which the proxy answers as an illegal state.
        guard target != .none else {
            throw KafkaRESTError.illegalState("Consumer is not subscribed to any topics or assigned any partitions")
        }
        let settings = services.configuration
        let timeout =
            try Self.queryInteger(request, "timeout")
            ?? configuration.requestTimeoutMilliseconds ?? settings.consumerRequestTimeoutMilliseconds
        let maxBytes = try Self.queryInteger(request, "max_bytes") ?? settings.consumerRequestMaxBytes
        let fetch = Fetch(
            group: group, id: id, owner: owner, minBytes: configuration.fetchMinBytes, maxBytes: max(1, maxBytes),
            autoCommit: configuration.autoCommit,
            deadline: .now() + .milliseconds(Int64(min(max(0, timeout), settings.maxPollTimeoutMilliseconds))))
        let services = self.services
        return self.fetch(fetch, on: request.loop).flatMap { batch in
            Self.convert(batch, format: format, services: services, on: request.loop)
        }.map { records in
            var buffer = ByteBuffer()
            KafkaRESTRecordsResponse.write(records, format: format, to: &buffer)
            return .typed(format.mediaType, buffer)
        }
    }

    /// One `GET records`'s terms.
    struct Fetch: Sendable {
        var group: String
        var id: String
        var owner: String?
        var minBytes: Int
        var maxBytes: Int
        var autoCommit: Bool
        var deadline: NIODeadline
    }

    /// A record read, with the topic it came from.
    struct FetchedRecord: Sendable {
        var topic: String
        var record: StreamReadRecord
    }

    private func fetch(_ fetch: Fetch, on loop: any EventLoop) -> EventLoopFuture<[FetchedRecord]> {
        let streams = services.bus.streams
        let held: [KafkaRESTTopicPartition: UInt64]
        do {
            held = try services.consumers.synchronize(
                group: fetch.group, id: fetch.id, owner: fetch.owner, now: services.now())
        } catch {
            return loop.makeFailedFuture(error)
        }
        let partitions = held.sorted(by: { $0.key < $1.key })
        return Self.collect(partitions[...], streams: streams, maxBytes: fetch.maxBytes, into: Collected(), on: loop)
            .flatMap { collected in
                let enough =
                    !collected.records.isEmpty && (fetch.minBytes <= 0 || collected.bytes >= fetch.minBytes)
                if enough || NIODeadline.now() >= fetch.deadline {
                    return self.handOut(collected.records, from: held, to: collected.ends, fetch, on: loop)
                }
                return Self.waitForAny(
                    held.keys.map { ($0, collected.ends[$0] ?? 1) }, streams: streams, until: fetch.deadline, on: loop
                )
                .flatMap { self.fetch(fetch, on: loop) }
            }
    }

    /// What one fetch read so far: the records, their bytes, and each partition's next position.
    struct Collected: Sendable {
        var records: [FetchedRecord] = []
        var bytes = 0
        var ends: [KafkaRESTTopicPartition: UInt64] = [:]
    }

    /// Reads each partition in turn from its position, within what is left of `maxBytes` (a partition's
    /// records older than its stream keeps in memory come from the store, off the loop).
    private static func collect(
        _ partitions: ArraySlice<(key: KafkaRESTTopicPartition, value: UInt64)>, streams: StreamRegistry,
        maxBytes: Int, into collected: Collected, on loop: any EventLoop
    ) -> EventLoopFuture<Collected> {
        guard let (partition, position) = partitions.first else { return loop.makeSucceededFuture(collected) }
        var collected = collected
        collected.ends[partition] = position
        let rest = partitions.dropFirst()
        guard collected.bytes < maxBytes else {
            return collect(rest, streams: streams, maxBytes: maxBytes, into: collected, on: loop)
        }
        return streams.read(
            partition.topic, partition: partition.partition, from: position, maxBytes: maxBytes - collected.bytes,
            on: loop
        )
        .map { Optional($0) }
        .recover { _ in nil }
        .flatMap { result in
            var collected = collected
            for record in result?.records ?? [] {
                collected.records.append(FetchedRecord(topic: partition.topic, record: record))
                collected.bytes += record.record.message.payload.readableBytes + (record.record.key?.count ?? 0)
                collected.ends[partition] = record.offset + 1
            }
            return collect(rest, streams: streams, maxBytes: maxBytes, into: collected, on: loop)
        }
    }

    /// Moves the positions past what is handed out (where no other request moved them meanwhile) and,
    /// with auto-commit, commits them.
    private func handOut(
        _ records: [FetchedRecord], from held: [KafkaRESTTopicPartition: UInt64],
        to ends: [KafkaRESTTopicPartition: UInt64], _ fetch: Fetch, on loop: any EventLoop
    ) -> EventLoopFuture<[FetchedRecord]> {
        let moved: [KafkaRESTTopicPartition: UInt64]
        do {
            moved = try services.consumers.with(
                group: fetch.group, id: fetch.id, owner: fetch.owner, now: services.now()
            ) {
                instance in
                var moved: [KafkaRESTTopicPartition: UInt64] = [:]
                for (partition, end) in ends
                where instance.positions[partition] == held[partition] && end != held[partition] {
                    instance.positions[partition] = end
                    instance.consumedSinceCommit.insert(partition)
                    moved[partition] = end
                }
                if fetch.autoCommit { instance.consumedSinceCommit.subtract(moved.keys) }
                return moved
            }
        } catch {
            return loop.makeFailedFuture(error)
        }
        guard fetch.autoCommit, !moved.isEmpty else { return loop.makeSucceededFuture(records) }
        return commit(moved, group: fetch.group, on: loop).map { records }
    }

    /// Completes when any of the partitions has a record at or after its offset, or at `deadline`.
    private static func waitForAny(
        _ partitions: [(KafkaRESTTopicPartition, UInt64)], streams: StreamRegistry, until deadline: NIODeadline,
        on loop: any EventLoop
    ) -> EventLoopFuture<Void> {
        let promise = loop.makePromise(of: Void.self)
        let done = NIOLoopBoundBox(false, eventLoop: loop)
        let finish: @Sendable () -> Void = {
            guard !done.value else { return }
            done.value = true
            promise.succeed(())
        }
        let remaining = deadline - .now()
        let timer = loop.scheduleTask(in: remaining) { finish() }
        for (partition, offset) in partitions {
            streams.waitForRecords(
                partition.topic, partition: partition.partition, from: offset, timeout: remaining, on: loop
            ).whenSuccess { ready in
                if ready { finish() }
            }
        }
        promise.futureResult.whenComplete { _ in timer.cancel() }
        return promise.futureResult
    }

    /// Records as the answer writes them: bytes for binary and json, JSON values read through their
    /// schemas (found by the id each record was framed with) for the schema formats.
    private static func convert(
        _ batch: [FetchedRecord], format: KafkaRESTEmbeddedFormat, services: KafkaRESTServices, on loop: any EventLoop
    ) -> EventLoopFuture<[KafkaRESTConsumedRecord]> {
        let plain = batch.map { fetched in
            let payload = fetched.record.record.message.payload
            return KafkaRESTConsumedRecord(
                topic: fetched.topic, partition: fetched.record.partition, offset: Int(fetched.record.offset) - 1,
                key: .bytes(fetched.record.record.key),
                // An empty payload is Kafka's null value (a tombstone, or a produce without a value).
                value: payload.readableBytes == 0 ? .bytes(nil) : .payload(payload))
        }
        guard let type = format.schemaType, let source = services.schemas else {
            return loop.makeSucceededFuture(plain)
        }
        return loop.makeFutureWithTask {
            var cache: [Int: ParsedSchema] = [:]
            func read(_ member: KafkaRESTConsumedRecord.Member) async throws -> KafkaRESTConsumedRecord.Member {
                let bytes: [UInt8]
                switch member {
                case .bytes(let value?): bytes = value
                case .payload(let payload): bytes = Array(payload.readableBytesView)
                case .bytes(nil), .json: return .json(nil)
                }
                let id = try KafkaRESTSchemaCodec.schemaID(of: bytes, type: type)
                if cache[id] == nil {
                    guard let found = try await source.schema(id: id) else {
                        throw KafkaRESTError.kafkaError("schema \(id) not found")
                    }
                    cache[id] = try KafkaRESTSchemaCodec.parse(found.text, type: found.type)
                }
                return .json(try KafkaRESTSchemaCodec.deserialize(bytes, schema: cache[id]!))
            }
            var records: [KafkaRESTConsumedRecord] = []
            for var record in plain {
                record.key = try await read(record.key)
                record.value = try await read(record.value)
                records.append(record)
            }
            return records
        }
    }

    static func queryInteger(_ request: Request, _ name: String) throws(KafkaRESTError) -> Int? {
        guard let text = request.http.query(name) else { return nil }
        guard let value = Int(text) else { throw .unprocessable("\(name) must be an integer") }
        return value
    }
}
