import BusCore
import BusRuntime
import Foundation
import FrontendKit
import NIOCore
import NIOHTTP1

/// `/api/streams` (docs/api.md, "Streams"): list, info, create, update limits and filters, delete, purge,
/// read, and consumer group offsets. Admin-only, like every `/api` route.
extension APIRoutes {
    func registerStreams(into router: inout HTTPRouter.Builder) {
        router.add(.GET, "/api/streams", guardedSync(listStreams))
        router.add(.POST, "/api/streams", guarded(createStream))
        router.add(.GET, "/api/streams/:name", guardedSync(streamInfo))
        router.add(.PUT, "/api/streams/:name", guarded(putStream))
        router.add(.PATCH, "/api/streams/:name", guarded(patchStream))
        router.add(.DELETE, "/api/streams/:name", guarded(deleteStream))
        router.add(.POST, "/api/streams/:name/purge", guarded(purgeStream))
        router.add(.GET, "/api/streams/:name/messages", guarded(readStream))
        router.add(.GET, "/api/streams/:name/groups/:group", guardedSync(groupOffsets))
        router.add(.POST, "/api/streams/:name/groups/:group", guarded(commitGroupOffset))
    }

    // MARK: - Managing

    private func listStreams(_ request: HTTPRequest) throws -> HTTPResponse {
        let streams = bus.streams.list().map(\.info)
        return .json { buffer in
            buffer.writeStaticString("{\"streams\":[")
            for (index, info) in streams.enumerated() {
                if index > 0 { buffer.writeInteger(UInt8(ascii: ",")) }
                StreamJSON.info(&buffer, info)
            }
            buffer.writeStaticString("]}")
        }
    }

    private func streamInfo(_ request: HTTPRequest) throws -> HTTPResponse {
        let box = try stream(request)
        return .json { StreamJSON.info(&$0, box.info) }
    }

    private func createStream(_ request: HTTPRequest, _ loop: any EventLoop) throws -> EventLoopFuture<HTTPResponse> {
        return create(try definition(request, name: nil), on: loop)
    }

    /// PUT: creates the stream, or — when it exists — updates its limits and filters (as PATCH).
    private func putStream(_ request: HTTPRequest, _ loop: any EventLoop) throws -> EventLoopFuture<HTTPResponse> {
        let name = request.parameters["name"] ?? ""
        if bus.streams.stream(named: name) != nil { return try patchStream(request, loop) }
        return create(try definition(request, name: name), on: loop)
    }

    private func create(_ configuration: StreamConfiguration, on loop: any EventLoop) -> EventLoopFuture<HTTPResponse> {
        let promise = loop.makePromise(of: HTTPResponse.self)
        bus.streams.create(configuration) { result in
            switch result {
            case .success(let info): promise.succeed(.json(.created) { StreamJSON.info(&$0, info) })
            case .failure(let error): promise.succeed(.error(Self.apiError(error)))
            }
        }
        return promise.futureResult
    }

    private func patchStream(_ request: HTTPRequest, _ loop: any EventLoop) throws -> EventLoopFuture<HTTPResponse> {
        let box = try stream(request)
        let spec = try specification(request)
        if let name = spec.name, name != box.name {
            throw APIError.badRequest("the body names stream \"\(name)\", the path \"\(box.name)\"")
        }
        let current = box.configuration
        if let partitions = spec.partitions, partitions != current.partitions {
            throw APIError.badRequest("a stream's partition count is fixed at creation")
        }
        if let storage = spec.storage, storage != current.storage.rawValue {
            throw APIError.badRequest("a stream's storage is fixed at creation")
        }
        if let retention = spec.retention, retention != current.retention.rawValue {
            throw APIError.badRequest("a stream's retention is fixed at creation")
        }
        let limits: StreamLimits
        let filters: [TopicFilter]?
        do {
            limits = try spec.limits(over: current.limits)
            filters = try spec.filters.map { texts throws(ConfigurationError) in try StreamSpecification.filters(texts)
            }
        } catch {
            throw APIError.badRequest("\(error)")
        }
        let promise = loop.makePromise(of: HTTPResponse.self)
        if case .bytes(let bytes) = spec.memory_tail_bytes?.value, bytes < 0 {
            throw APIError.badRequest("memory_tail_bytes must not be negative")
        }
        bus.streams.update(box.name, limits: limits, filters: filters, memoryTail: spec.memory_tail_bytes?.value) {
            result in
            switch result {
            case .success(let info): promise.succeed(.json { StreamJSON.info(&$0, info) })
            case .failure(let error): promise.succeed(.error(Self.apiError(error)))
            }
        }
        return promise.futureResult
    }

    private func deleteStream(_ request: HTTPRequest, _ loop: any EventLoop) throws -> EventLoopFuture<HTTPResponse> {
        let name = request.parameters["name"] ?? ""
        let promise = loop.makePromise(of: HTTPResponse.self)
        bus.streams.delete(name) { result in
            switch result {
            case .success: promise.succeed(HTTPResponse(status: .noContent))
            case .failure(let error): promise.succeed(.error(Self.apiError(error)))
            }
        }
        return promise.futureResult
    }

    /// Body (all optional): `partition`, `subject` (a filter), `before` (an offset), `keep` (a count).
    private func purgeStream(_ request: HTTPRequest, _ loop: any EventLoop) throws -> EventLoopFuture<HTTPResponse> {
        let box = try stream(request)
        let document: JSONDocument? = try (request.body.readableBytes == 0 ? nil : body(request))
        func integer(_ key: String) throws -> Int? {
            guard let value = document?[key], value != .null else { return nil }
            guard let number = value.intValue, number >= 0 else {
                throw APIError.badRequest("\"\(key)\" must be a non-negative integer")
            }
            return number
        }
        var subject: TopicFilter?
        if let text = document?["subject"]?.stringValue {
            do { subject = try TopicFilter(text) } catch {
                throw APIError.badRequest("\"subject\": \"\(text)\" is not a valid filter")
            }
        }
        let partition = try integer("partition")
        let before = try integer("before").map { UInt64($0) }
        let keep = try integer("keep")
        let promise = loop.makePromise(of: HTTPResponse.self)
        bus.streams.purge(box.name, partition: partition, subject: subject, before: before, keep: keep) { result in
            switch result {
            case .success(let count):
                promise.succeed(
                    .json { buffer in
                        buffer.writeStaticString("{\"purged\":")
                        buffer.writeDecimal(count)
                        buffer.writeInteger(UInt8(ascii: "}"))
                    })
            case .failure(let error): promise.succeed(.error(Self.apiError(error)))
            }
        }
        return promise.futureResult
    }

    // MARK: - Reading

    /// `?partition=P` (default 0) and one of `offset=O` (with `limit`, `max_bytes`), `time=NS` (the first
    /// record at or after it) or `last=N` (the newest N); nothing: from the oldest kept.
    private func readStream(_ request: HTTPRequest, _ loop: any EventLoop) throws -> EventLoopFuture<HTTPResponse> {
        let box = try stream(request)
        let partition = try query(request, "partition") ?? 0
        let limit = try query(request, "limit") ?? defaultHistoryLimit
        let maxBytes = try query(request, "max_bytes") ?? .max
        let read: EventLoopFuture<StreamReadResult>
        if let last = try query(request, "last") {
            read = bus.streams.readLast(box.name, partition: partition, count: last, on: loop)
        } else if let time = try query(request, "time") {
            let from: UInt64?
            do {
                from = try bus.streams.offset(box.name, partition: partition, atOrAfter: UInt64(time))
            } catch {
                throw Self.apiError(error)
            }
            let end = box.partitions.indices.contains(partition) ? box.partitions[partition].info.lastOffset + 1 : 0
            read = bus.streams.read(
                box.name, partition: partition, from: from ?? end, limit: limit, maxBytes: maxBytes, on: loop)
        } else {
            let offset = try query(request, "offset").map { UInt64($0) } ?? 0
            read = bus.streams.read(
                box.name, partition: partition, from: offset, limit: limit, maxBytes: maxBytes, on: loop)
        }
        let name = box.name
        return read.map { result in HTTPResponse.json { StreamJSON.read(&$0, stream: name, result) } }
            .recover { error in .error((error as? BusError).map(Self.apiError) ?? APIError.unavailable("\(error)")) }
    }

    // MARK: - Consumer groups

    private func groupOffsets(_ request: HTTPRequest) throws -> HTTPResponse {
        let box = try stream(request)
        let group = request.parameters["group"] ?? ""
        var offsets: [(Int, StreamCommittedOffset)] = []
        for partition in box.partitions.indices {
            do {
                if let committed = try bus.streams.committed(group: group, stream: box.name, partition: partition) {
                    offsets.append((partition, committed))
                }
            } catch {
                throw Self.apiError(error)
            }
        }
        return .json { buffer in
            buffer.writeStaticString("{\"group\":")
            buffer.writeJSONString(group)
            buffer.writeStaticString(",\"stream\":")
            buffer.writeJSONString(box.name)
            buffer.writeStaticString(",\"offsets\":[")
            for (index, (partition, committed)) in offsets.enumerated() {
                if index > 0 { buffer.writeInteger(UInt8(ascii: ",")) }
                StreamJSON.committed(&buffer, partition: partition, committed)
            }
            buffer.writeStaticString("]}")
        }
    }

    /// Body: `{"partition": P, "offset": O}` — O is the next offset the group reads.
    private func commitGroupOffset(_ request: HTTPRequest, _ loop: any EventLoop) throws -> EventLoopFuture<
        HTTPResponse
    > {
        let box = try stream(request)
        let group = request.parameters["group"] ?? ""
        guard !group.isEmpty else { throw APIError.badRequest("a group needs a name") }
        let document = try body(request)
        guard let offset = document["offset"]?.intValue, offset >= 0 else {
            throw APIError.badRequest("\"offset\" must be a non-negative integer")
        }
        let partition = document["partition"]?.intValue ?? 0
        let promise = loop.makePromise(of: HTTPResponse.self)
        bus.streams.commit(group: group, stream: box.name, partition: partition, offset: UInt64(offset)) { result in
            switch result {
            case .success(let committed):
                promise.succeed(.json { StreamJSON.committed(&$0, partition: partition, committed) })
            case .failure(let error): promise.succeed(.error(Self.apiError(error)))
            }
        }
        return promise.futureResult
    }

    // MARK: - Helpers

    private func stream(_ request: HTTPRequest) throws -> StreamBox {
        let name = request.parameters["name"] ?? ""
        guard let box = bus.streams.stream(named: name) else { throw APIError.notFound("no stream \(name)") }
        return box
    }

    private func specification(_ request: HTTPRequest) throws -> StreamSpecification {
        do { return try StreamSpecification.decode(Data(request.body.readableBytesView)) } catch {
            throw APIError.badRequest(error.description)
        }
    }

    /// A new stream's definition from the body (`name` from the path when given).
    private func definition(_ request: HTTPRequest, name: String?) throws -> StreamConfiguration {
        let spec = try specification(request)
        do { return try spec.configuration(name: name) } catch { throw APIError.badRequest(error.description) }
    }

    private func query(_ request: HTTPRequest, _ name: String) throws -> Int? {
        guard let text = request.query(name) else { return nil }
        guard let value = Int(text), value >= 0 else {
            throw APIError.badRequest("\(name) must be a non-negative integer")
        }
        return value
    }

    static func apiError(_ error: BusError) -> APIError {
        switch error {
        case .streamNotFound, .noPartition: return APIError.notFound(error.description)
        case .streamExists: return APIError(.conflict, "conflict", error.description)
        case .invalidStream: return APIError.badRequest(error.description)
        case .notStored, .notRead: return APIError.unavailable(error.description)
        case .noResponders, .timeout, .notEnabled, .shuttingDown: return APIError.unavailable(error.description)
        }
    }
}
