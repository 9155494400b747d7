import BusCore
import BusRuntime
import FrontendKit
import NIOCore
import NIOHTTP1

/// The HTTP API (`/api/*`) and health endpoints (docs/api.md).
struct APIRoutes: Sendable {
    let bus: Bus
    let records: RecordCollections
    let collaboration: CollaborationService
    let connections: ConnectionRegistry
    let apiKey: String?
    /// When it is secured (users, tokens, JWT or anonymous off), the API wants the API key or an admin.
    let authenticator: any Authenticator
    let metricsSlot: ProtocolMetricsSlot
    /// With an engine: the other instances `/api/connections` and `/api/channels` ask (nil: one instance).
    var cluster: APIClusterPeers? = nil
    let defaultHistoryLimit = 100

    func register(into router: inout HTTPRouter.Builder) {
        router.add(.POST, "/api/publish", guarded(publish))
        router.add(.POST, "/api/broadcast", guarded(broadcast))

        router.add(.GET, "/api/history", guarded(sharedHistory))
        router.add(.GET, "/api/presence", guardedSync(presence))
        registerConnections(into: &router)
        registerStreams(into: &router)
        registerRecords(into: &router)
        registerSessions(into: &router)
    }

    /// `handler` behind the API key / admin check (frontends' admin routes, through `HTTPRouter.Builder`).
    func guardAdmin(_ handler: @escaping HTTPRouter.Handler) -> HTTPRouter.Handler {
        guarded { request, loop in handler(request, loop) }
    }

    // MARK: - API key

    /// The API key, or (when security is configured) an admin user: HTTP Basic for static users, a
    /// bearer token (JWT with the admin grant, or a role with `admin`).
    func checkKey(_ request: HTTPRequest) throws {
        guard apiKey != nil || authenticator.isSecured else { return }
        let headers = request.head.headers
        let bearer = headers.first(name: "Authorization").flatMap { value -> String? in
            value.lowercased().hasPrefix("bearer ") ? String(value.dropFirst(7)) : nil
        }
        if let apiKey, bearer == apiKey || headers.first(name: "X-API-Key") == apiKey { return }
        let credentials = headers.clientCredentials(query: nil)
        if !credentials.isEmpty, authenticator.isSecured,
            case .accepted(let identity) = authenticator.authenticate(credentials),
            !identity.isAnonymous
        {
            guard identity.isAdmin else { throw APIError.forbidden("the API needs an admin user or the API key") }
            return
        }
        throw APIError.unauthorized(
            "a valid API key (Authorization: Bearer <key> or X-API-Key) or admin credentials are required")
    }

    func guarded(
        _ handler: @escaping @Sendable (HTTPRequest, any EventLoop) throws -> EventLoopFuture<HTTPResponse>
    ) -> HTTPRouter.Handler {
        { request, loop in
            let run = { () -> EventLoopFuture<HTTPResponse> in
                do {
                    try checkKey(request)
                    return try handler(request, loop)
                } catch let error as APIError {
                    return loop.makeSucceededFuture(.error(error))
                } catch {
                    return loop.makeSucceededFuture(.error(APIError(.internalServerError, "internal", "\(error)")))
                }
            }
            // HTTP Basic for a static user: the password hash runs off the loop first.
            let credentials = request.head.headers.clientCredentials(query: nil)
            guard authenticator.isSecured, let preparing = authenticator.prepare(credentials, on: loop) else {
                return run()
            }
            return preparing.flatMap { run() }
        }
    }

    func guardedSync(_ handler: @escaping @Sendable (HTTPRequest) throws -> HTTPResponse) -> HTTPRouter.Handler {
        guarded { request, loop in loop.makeSucceededFuture(try handler(request)) }
    }

    // MARK: - Publishing

    func body(_ request: HTTPRequest) throws -> JSONDocument {
        do {
            return try request.body.withUnsafeReadableBytes { try JSONParser.parseDocument($0) }
        } catch {
            throw APIError.badRequest("body must be a JSON object: \(error)")
        }
    }

    /// The payload of a publish body, in the payload rule's three forms (docs/topics.md): `data` (any JSON,
    /// kept as its raw bytes), `text` (a string, published as its UTF-8 bytes) or `binary` (base64).
    private func payload(_ request: HTTPRequest, _ document: JSONDocument) throws -> (ByteBuffer, contentType: String) {
        let given = ["data", "text", "binary"].filter { document.members[$0] != nil }
        guard given.count == 1 else {
            throw APIError.badRequest("give exactly one of \"data\", \"text\" or \"binary\"")
        }
        switch given[0] {
        case "text":
            guard let text = document["text"]?.stringValue else {
                throw APIError.badRequest("\"text\" must be a string")
            }
            return (ByteBuffer(string: text), "text/plain; charset=utf-8")
        case "binary":
            guard let encoded = document["binary"]?.stringValue, let bytes = Base64.decode(encoded) else {
                throw APIError.badRequest("\"binary\" must be a base64 string")
            }
            return (ByteBuffer(bytes: bytes), "application/octet-stream")
        default:
            let member = document.members["data"]!
            let slice = request.body.getSlice(
                at: request.body.readerIndex + member.range.lowerBound, length: member.range.count)!
            return (slice, "application/json")
        }
    }

    private func topic(_ name: String?) throws -> Topic {
        guard let name else { throw APIError.badRequest("\"channel\" is required") }
        do { return try Topic(name, limits: bus.configuration.topicLimits) } catch {
            throw APIError.badRequest("invalid channel \"\(name)\": \(error)")
        }
    }

    /// The optional `"event"` (the event type SSE clients see, docs/protocols/sse.md) and `"properties"`
    /// (an object of string values: user properties that SSE and poll `match=` filters test).
    private func headers(_ document: JSONDocument, contentType: String) throws -> MessageHeaders {
        var headers = MessageHeaders(contentType: contentType)
        if let value = document["event"], value != .null {
            guard let type = value.stringValue else { throw APIError.badRequest("\"event\" must be a string") }
            if let problem = MessageHeaders.validateEventType(type) {
                throw APIError.badRequest("\"event\": \(problem)")
            }
            headers.eventType = type
        }
        if let value = document["properties"], value != .null {
            guard case .object(let fields) = value else {
                throw APIError.badRequest("\"properties\" must be an object of strings")
            }
            for field in fields {
                guard let text = field.value.stringValue else {
                    throw APIError.badRequest("\"properties\" must be an object of strings")
                }
                headers.userProperties.append(UserProperty(name: field.key, value: text))
            }
        }
        return headers
    }

    /// 422 `invalid_payload` naming the failing JSON Pointer when a `payload_schemas` rule refuses the
    /// payload (docs/topics.md, "Payload schemas"); `text` and `binary` bodies are not JSON, so a rule
    /// refuses them whatever they hold.
    private func checkSchemas(_ topic: Topic, _ payload: (ByteBuffer, contentType: String)) throws {
        if let violation = bus.payloadSchemas.check(topic, payload: payload.0, contentType: payload.contentType) {
            throw APIError(.unprocessableEntity, "invalid_payload", violation.description)
        }
    }

    private func publishOne(
        _ topic: Topic, _ payload: ByteBuffer, headers: MessageHeaders, publisherID: String?, on loop: any EventLoop
    ) -> EventLoopFuture<PublishResult> {
        bus.shard(for: loop).stats.published(slot: metricsSlot, bytes: payload.readableBytes)
        return bus.publishWithResult(
            BusMessage(
                topic: topic, payload: payload, headers: headers, publisherID: publisherID, timestamp: bus.clock()),
            on: loop)
    }

    /// The id a request's publishes carry: its connection's, so that a subscriber they feed which falls
    /// behind stops the connection being read (publisher flow control, `HTTPPublishingConnection`).
    private func publisherID(_ request: HTTPRequest) -> String? {
        request.publishingConnection?.publisherID(in: connections, makeID: bus.makeIdentifier)
    }

    private func publish(_ request: HTTPRequest, _ loop: any EventLoop) throws -> EventLoopFuture<HTTPResponse> {
        let document = try body(request)
        let topic = try self.topic(document["channel"]?.stringValue)
        let payload = try payload(request, document)
        let headers = try headers(document, contentType: payload.contentType)
        try checkSchemas(topic, payload)
        let published: EventLoopFuture<(PublishResult, [StreamAppendAck])>
        if bus.streams.count > 0 {
            // Streams capture the publish: answer once each stored it (its partition and offset) or refused.
            bus.shard(for: loop).stats.published(slot: metricsSlot, bytes: payload.0.readableBytes)
            let message = BusMessage(
                topic: topic, payload: payload.0, headers: headers, publisherID: publisherID(request),
                timestamp: bus.clock())
            published = bus.publishToStreams(message, placement: try placement(document), on: loop)
        } else {
            published = publishOne(topic, payload.0, headers: headers, publisherID: publisherID(request), on: loop)
                .map { ($0, []) }
        }
        return published.map { result, streams in
            if let failure = result.failure {
                return HTTPResponse.error(APIError(.serviceUnavailable, "unavailable", failure))
            }
            return HTTPResponse.json { buffer in
                buffer.writeInteger(UInt8(ascii: "{"))
                if let position = result.position {
                    buffer.writeStaticString("\"offset\":")
                    buffer.writeDecimal(position.offset)
                    buffer.writeStaticString(",\"epoch\":")
                    buffer.writeJSONString(position.epoch)
                }
                if !streams.isEmpty {
                    buffer.writeStaticString(result.position == nil ? "\"streams\":[" : ",\"streams\":[")
                    for (index, ack) in streams.enumerated() {
                        if index > 0 { buffer.writeInteger(UInt8(ascii: ",")) }
                        StreamJSON.ack(&buffer, ack)
                    }
                    buffer.writeInteger(UInt8(ascii: "]"))
                }
                buffer.writeInteger(UInt8(ascii: "}"))
            }
        }
    }

    /// The optional `"key"` (a string: its UTF-8 bytes partition the message, as Kafka's record key) and
    /// `"partition"` of a publish that streams capture.
    private func placement(_ document: JSONDocument) throws -> StreamPlacement? {
        let key = document["key"]?.stringValue.map { Array($0.utf8) }
        var partition: Int?
        if let value = document["partition"], value != .null {
            guard let number = value.intValue, number >= 0 else {
                throw APIError.badRequest("\"partition\" must be a non-negative integer")
            }
            partition = number
        }
        return key == nil && partition == nil ? nil : StreamPlacement(key: key, partition: partition)
    }

    private func broadcast(_ request: HTTPRequest, _ loop: any EventLoop) throws -> EventLoopFuture<HTTPResponse> {
        let document = try body(request)
        guard let channels = document["channels"]?.arrayValue else {
            throw APIError.badRequest("\"channels\" must be an array of strings")
        }
        let payload = try payload(request, document)
        let headers = try headers(document, contentType: payload.contentType)
        var pending: [(String, EventLoopFuture<Result<PublishResult, APIError>>)] = []
        let publisherID = publisherID(request)
        for value in channels {
            guard let name = value.stringValue else {
                throw APIError.badRequest("\"channels\" must be an array of strings")
            }
            do {
                let topic = try topic(name)
                try checkSchemas(topic, payload)
                let published = publishOne(topic, payload.0, headers: headers, publisherID: publisherID, on: loop).map {
                    Result<PublishResult, APIError>.success($0)
                }
                pending.append((name, published))
            } catch let error as APIError {
                pending.append((name, loop.makeSucceededFuture(.failure(error))))
            }
        }
        let names = pending.map(\.0)
        return EventLoopFuture.whenAllSucceed(pending.map(\.1), on: loop).map { outcomes in
            HTTPResponse.json { buffer in
                broadcastBody(&buffer, Array(zip(names, outcomes)))
            }
        }
    }

    private func broadcastBody(_ buffer: inout ByteBuffer, _ results: [(String, Result<PublishResult, APIError>)]) {
        buffer.writeStaticString("{\"results\":[")
        for (index, (name, result)) in results.enumerated() {
            if index > 0 { buffer.writeInteger(UInt8(ascii: ",")) }
            buffer.writeStaticString("{\"channel\":")
            buffer.writeJSONString(name)
            switch result {
            case .success(let published) where published.failure != nil:
                buffer.writeStaticString(",\"error\":{\"code\":\"unavailable\",\"message\":")
                buffer.writeJSONString(published.failure!)
                buffer.writeStaticString("}")
            case .success(let published):
                if let position = published.position { BusJSON.position(&buffer, position) }
            case .failure(let error):
                buffer.writeStaticString(",\"error\":{\"code\":")
                buffer.writeJSONString(error.code)
                buffer.writeStaticString(",\"message\":")
                buffer.writeJSONString(error.message)
                buffer.writeInteger(UInt8(ascii: "}"))
            }
            buffer.writeInteger(UInt8(ascii: "}"))
        }
        buffer.writeStaticString("]}")
    }

    // MARK: - Reading

    /// `history`, once the topic's log is in step with the log the instances share (with an engine:
    /// docs/redis.md, "History across instances"), so every instance's publishes are read.
    private func sharedHistory(_ request: HTTPRequest, _ loop: any EventLoop) throws -> EventLoopFuture<HTTPResponse> {
        let topic = try self.topic(request.query("channel"))
        guard bus.engine != nil else { return loop.makeSucceededFuture(try history(request)) }
        let promise = loop.makePromise(of: HTTPResponse.self)
        let answer = {
            do {
                promise.succeed(try self.history(request))
            } catch let error as APIError {
                promise.succeed(.error(error))
            } catch {
                promise.succeed(.error(APIError(.internalServerError, "internal", "\(error)")))
            }
        }
        if !bus.refreshingHistory(of: [topic], on: loop, then: answer) { answer() }
        return promise.futureResult
    }

    private func history(_ request: HTTPRequest) throws -> HTTPResponse {
        let topic = try self.topic(request.query("channel"))
        var limit = defaultHistoryLimit
        if let text = request.query("limit") {
            guard let value = Int(text), value >= 0 else {
                throw APIError.badRequest("limit must be a non-negative integer")
            }
            limit = value
        }
        var after: LogPosition?
        if let offsetText = request.query("offset") {
            guard let offset = UInt64(offsetText), let epoch = request.query("epoch") else {
                throw APIError.badRequest("offset must be an integer and comes with epoch")
            }
            after = LogPosition(offset: offset, epoch: epoch)
        }
        guard let read = bus.readHistory(topic, after: after, limit: limit) else {
            throw APIError.notFound("\(topic) keeps no history")
        }
        return .json { buffer in
            buffer.writeStaticString("{\"channel\":")
            buffer.writeJSONString(topic.name)
            BusJSON.position(&buffer, read.position)
            if let recovered = read.recovered {
                buffer.writeStaticString(recovered ? ",\"recovered\":true" : ",\"recovered\":false")
            }
            buffer.writeStaticString(",\"messages\":")
            BusJSON.messages(&buffer, read.messages)
            buffer.writeInteger(UInt8(ascii: "}"))
        }
    }

    private func presence(_ request: HTTPRequest) throws -> HTTPResponse {
        let topic = try self.topic(request.query("channel"))
        guard bus.presence.policy.isEnabled(for: topic) else {
            throw APIError.notFound("presence is not enabled for \(topic)")
        }
        let clients = bus.presence.clients(of: topic)
        return .json { buffer in
            buffer.writeStaticString("{\"channel\":")
            buffer.writeJSONString(topic.name)
            buffer.writeStaticString(",\"clients\":[")
            for (index, client) in clients.enumerated() {
                if index > 0 { buffer.writeInteger(UInt8(ascii: ",")) }
                BusJSON.client(&buffer, client)
            }
            buffer.writeStaticString("]}")
        }
    }
}
