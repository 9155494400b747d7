import BusCore
import BusRuntime
import FrontendKit
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import SSEWire

extension SSERoutes {
    /// `POST /api/realtime {"clientId":…,"subscriptions":[…]}`: replaces the client's subscriptions
    /// (PocketBase's realtime API). `*` as a level means one level (`tasks/*` = `tasks/+`); bus filters
    /// work as they are. Answers 204; 404 for an unknown client; 403 for another user's client.
    static func setSubscriptions(_ request: HTTPRequest, _ loop: any EventLoop, _ services: SSEServices) throws
        -> EventLoopFuture<HTTPResponse>
    {
        if let refusal = services.cors.refusal(request.head) { throw RefusalError(response: refusal) }
        let document: JSONDocument
        do { document = try request.body.withUnsafeReadableBytes { try JSONParser.parseDocument($0) } } catch {
            throw APIError.badRequest("body must be a JSON object: \(error)")
        }
        guard let clientID = document["clientId"]?.stringValue else {
            throw APIError.badRequest("\"clientId\" must be a string")
        }
        guard let list = document["subscriptions"]?.arrayValue else {
            throw APIError.badRequest("\"subscriptions\" must be an array of strings")
        }
        var names: [String] = []
        for value in list {
            guard let name = value.stringValue else {
                throw APIError.badRequest("\"subscriptions\" must be an array of strings")
            }
            names.append(name)
        }
        guard names.count <= services.configuration.maxRealtimeSubscriptions else {
            throw APIError.tooLarge("at most \(services.configuration.maxRealtimeSubscriptions) subscriptions")
        }
        var limits = services.configuration.limits
        limits.maxChannels = services.configuration.maxRealtimeSubscriptions
        let filters =
            names.isEmpty
            ? []
            : try SSEStreamRequest.channels(
                names, topicLimits: services.bus.configuration.topicLimits, limits: limits, starIsWildcard: true)
        let identity = try authenticate(request, services: services, clientID: clientID)
        let userID = identity.userID
        try authorize(filters, identity: identity, services: services)
        guard let client = services.realtimeClients.withLockedValue({ $0[clientID] }) else {
            throw APIError.notFound("no realtime client \(clientID)")
        }
        var headers = HTTPHeaders()
        services.cors.decorate(&headers, for: request.head)
        let answerHeaders = headers
        return client.eventLoop.submit { client.replaceSubscriptions(filters, userID: userID) }.hop(to: loop).map {
            outcome in
            switch outcome {
            case .replaced: return HTTPResponse(status: .noContent, headers: answerHeaders)
            case .gone: return .error(.notFound("no realtime client \(clientID)"))
            case .forbidden: return .error(.forbidden("realtime client \(clientID) belongs to another user"))
            }
        }
    }
}
