import BusCore
import BusRuntime
import FrontendKit
import KafkaRESTWire
import NIOCore
import NIOHTTP1

/// The v2 resources (docs/protocols/kafka-rest.md): every route negotiates its answer's type from
/// `Accept`, authenticates the request (basic or bearer, the server's one authenticator) and answers
/// errors as the proxy does, `{"error_code":…,"message":…}`.
struct KafkaRESTRoutes: Sendable {
    let services: KafkaRESTServices

    /// A request once negotiated and authenticated.
    struct Request: Sendable {
        var http: HTTPRequest
        var identity: ClientIdentity
        /// The answer's `Content-Type`.
        var responseType: String
        var loop: any EventLoop

        func parameter(_ name: String) -> String { http.parameters[name] ?? "" }

        /// A path parameter that must be a non-negative integer (a partition); 404 otherwise.
        func partition() throws(KafkaRESTError) -> Int {
            guard let value = Int(parameter("partition")), value >= 0 else { throw .partitionNotFound }
            return value
        }
    }

    /// What a route answers.
    enum Reply: Sendable {
        case json(HTTPResponseStatus, ByteBuffer)
        /// With its own `Content-Type` (records in an embedded format).
        case typed(String, ByteBuffer)
        case noContent
    }

    typealias Handler = @Sendable (Request) throws -> EventLoopFuture<Reply>

    func register(into router: inout HTTPRouter.Builder) {
        router.add(.GET, "/topics", route(listTopics))
        router.add(.GET, "/topics/:topic", route(topic))
        router.add(.POST, "/topics/:topic", route(body: .produce, produceToTopic))
        router.add(.GET, "/topics/:topic/partitions", route(partitions))
        router.add(.GET, "/topics/:topic/partitions/:partition", route(partition))
        router.add(.POST, "/topics/:topic/partitions/:partition", route(body: .produce, produceToPartition))
        router.add(.GET, "/topics/:topic/partitions/:partition/offsets", route(partitionOffsets))
        router.add(.POST, "/consumers/:group", route(body: .json, createConsumer))
        router.add(.DELETE, "/consumers/:group/instances/:instance", route(deleteConsumer))
        router.add(.POST, "/consumers/:group/instances/:instance/subscription", route(body: .json, subscribe))
        router.add(.GET, "/consumers/:group/instances/:instance/subscription", route(subscription))
        router.add(.DELETE, "/consumers/:group/instances/:instance/subscription", route(unsubscribe))
        router.add(.POST, "/consumers/:group/instances/:instance/assignments", route(body: .json, assign))
        router.add(.GET, "/consumers/:group/instances/:instance/assignments", route(assignments))
        router.add(.POST, "/consumers/:group/instances/:instance/positions", route(body: .json, seek))
        router.add(
            .POST, "/consumers/:group/instances/:instance/positions/beginning", route(body: .json, seekToBeginning))
        router.add(.POST, "/consumers/:group/instances/:instance/positions/end", route(body: .json, seekToEnd))
        router.add(.POST, "/consumers/:group/instances/:instance/offsets", route(body: .json, commitOffsets))
        router.add(.GET, "/consumers/:group/instances/:instance/offsets", route(body: .json, committedOffsets))
        router.add(.GET, "/consumers/:group/instances/:instance/records", route(accept: .records, records))
        // The proxy's root answers `{}`; clients probe it.
        router.add(
            .GET, "/", route { request in request.loop.makeSucceededFuture(.json(.ok, ByteBuffer(string: "{}"))) })
    }

    /// What a route's body must be.
    enum BodyKind { case none, json, produce }
    /// How its `Accept` is negotiated.
    enum AcceptKind { case json, records }

    private func route(
        body: BodyKind = .none, accept: AcceptKind = .json, _ handler: @escaping Handler
    ) -> HTTPRouter.Handler {
        let services = self.services
        return { http, loop in
            var responseType = KafkaRESTMediaType.v2
            do throws(KafkaRESTError) {
                let contentType = http.head.headers.first(name: "Content-Type")
                if accept == .json { responseType = try KafkaRESTMediaType.negotiate(accept: acceptHeader(http)) }
                switch body {
                case .none: break
                case .json:
                    try KafkaRESTMediaType.checkJSONBody(contentType: contentType, hasBody: http.body.readableBytes > 0)
                case .produce: _ = try KafkaRESTMediaType.produceFormat(contentType: contentType)
                }
            } catch {
                return loop.makeSucceededFuture(Self.response(error, type: responseType))
            }
            let type = responseType
            return Self.authenticate(http, services: services, loop: loop).flatMap { outcome in
                switch outcome {
                case .refused(let reason):
                    var response = Self.response(.unauthorized(reason), type: type)
                    response.headers.add(name: "WWW-Authenticate", value: "Basic realm=\"kafka-rest\"")
                    return loop.makeSucceededFuture(response)
                case .accepted(let identity):
                    let request = Request(http: http, identity: identity, responseType: type, loop: loop)
                    let reply: EventLoopFuture<Reply>
                    do { reply = try handler(request) } catch { reply = loop.makeFailedFuture(error) }
                    return reply.map { Self.response($0, type: type) }.recover {
                        Self.response(Self.kafkaError($0), type: type)
                    }
                }
            }
        }
    }

    private static func authenticate(_ http: HTTPRequest, services: KafkaRESTServices, loop: any EventLoop)
        -> EventLoopFuture<AuthOutcome>
    {
        var credentials = http.head.headers.clientCredentials(query: nil)
        credentials.certificateSubject = http.clientCertificateName
        let presented = credentials
        let authenticator = services.authenticator
        return authenticator.prepared(presented, on: loop).map { authenticator.authenticate(presented) }
    }

    private func acceptHeader(_ http: HTTPRequest) -> String? {
        let values = http.head.headers["Accept"]
        return values.isEmpty ? nil : values.joined(separator: ",")
    }

    /// Any error as the proxy's body: ours as they are, the bus's as 404s or 50002.
    static func kafkaError(_ error: any Error) -> KafkaRESTError {
        switch error {
        case let error as KafkaRESTError: return error
        case let error as BusError:
            switch error {
            case .streamNotFound: return .topicNotFound
            case .noPartition: return .partitionNotFound
            default: return .kafkaError("\(error)")
            }
        default: return .kafkaError("\(error)")
        }
    }

    static func response(_ error: KafkaRESTError, type: String) -> HTTPResponse {
        var body = ByteBuffer()
        error.write(to: &body)
        return response(.json(HTTPResponseStatus(statusCode: error.status), body), type: type)
    }

    static func response(_ reply: Reply, type: String) -> HTTPResponse {
        var headers = HTTPHeaders()
        switch reply {
        case .json(let status, let body):
            headers.add(name: "Content-Type", value: type)
            return HTTPResponse(status: status, headers: headers, body: body)
        case .typed(let contentType, let body):
            headers.add(name: "Content-Type", value: contentType)
            return HTTPResponse(status: .ok, headers: headers, body: body)
        case .noContent:
            return HTTPResponse(status: .noContent)
        }
    }

    /// A JSON answer written by `write`.
    static func json(_ loop: any EventLoop, _ status: HTTPResponseStatus = .ok, _ write: (inout ByteBuffer) -> Void)
        -> EventLoopFuture<Reply>
    {
        var body = ByteBuffer()
        write(&body)
        return loop.makeSucceededFuture(.json(status, body))
    }
}
