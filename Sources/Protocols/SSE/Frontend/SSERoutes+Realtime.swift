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
        // A name whose first level is a record collection (`tasks`, `tasks/*`, `tasks/<id>`, with
        // PocketBase's `?options=…` dropped) follows that collection's change events; others are channels.
        var channels: [String] = []
        var collections: [(filter: String, eventName: String)] = []
        for name in names {
            if let filter = recordFilter(name, services.bus.records) {
                collections.append((filter, name))
            } else {
                channels.append(name)
            }
        }
        var subscriptions =
            channels.isEmpty
            ? []
            : try SSEStreamRequest.channels(
                channels, topicLimits: services.bus.configuration.topicLimits, limits: limits, starIsWildcard: true
            ).map { SSERealtimeSubscription(filter: $0, eventName: nil) }
        for (filter, eventName) in collections {
            let options = SSERealtimeOptions(subscription: eventName)
            var fields: RecordFieldPicker?
            if let raw = options?.query["fields"], !raw.isEmpty {
                do {
                    fields = try RecordFieldPicker(raw)
                } catch {
                    throw APIError.badRequest("\(eventName): invalid fields")
                }
            }
            subscriptions.append(
                SSERealtimeSubscription(
                    filter: try TopicFilter(filter), eventName: eventName, options: options, fields: fields))
        }
        let identity = try authenticate(request, services: services, clientID: clientID)
        try authorize(subscriptions.map(\.filter), identity: identity, services: services)
        guard let client = services.realtimeClients.withLockedValue({ $0[clientID] }) else {
            throw APIError.notFound("no realtime client \(clientID)")
        }
        var headers = HTTPHeaders()
        services.cors.decorate(&headers, for: request.head)
        let answerHeaders = headers
        let wanted = subscriptions
        return client.eventLoop.submit { client.replaceSubscriptions(wanted, identity: identity) }.hop(to: loop).map {
            outcome in
            switch outcome {
            case .replaced: return HTTPResponse(status: .noContent, headers: answerHeaders)
            case .gone: return .error(.notFound("no realtime client \(clientID)"))
            case .forbidden: return .error(.forbidden("realtime client \(clientID) belongs to another user"))
            }
        }
    }

    /// The bus filter of a PocketBase record subscription — `tasks` or `tasks/*` (every record of the
    /// collection), `tasks/<id>` (one record) — when its first level names a record collection.
    static func recordFilter(_ name: String, _ records: RecordCollections) -> String? {
        let subscription = name.split(separator: "?", maxSplits: 1).first.map(String.init) ?? name
        let levels = subscription.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        guard (1...2).contains(levels.count), records.definition(levels[0]) != nil else { return nil }
        if levels.count == 1 || levels[1] == "*" { return "collections/\(levels[0])/+" }
        guard RecordCollectionDefinition.isValidRecordID(levels[1]) else { return nil }
        return "collections/\(levels[0])/\(levels[1])"
    }
}
