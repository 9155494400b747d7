import BusCore
import Foundation
import NIOConcurrencyHelpers
import NIOCore

/// The collaboration service's ears on the bus: ballots published to `sessions/<id>/votes/<vote>/cast`
/// from any protocol, the RPC requests on `$sessions/<operation>` (native WebSocket `rpc`, NATS requests),
/// and the sessions' message streams — each message, join and leave goes into the session's activity feed.
/// Confined to `eventLoop` (the bus delivers there; replies are published from there), hence
/// `@unchecked Sendable`.
final class CollaborationListener: BusSubscriber, PublicationAcceptor, @unchecked Sendable {
    let eventLoop: any EventLoop
    let metricsSlot: ProtocolMetricsSlot
    var deliveryMark: UInt64 = 0
    private unowned let service: CollaborationService

    init(service: CollaborationService, loop: any EventLoop) {
        self.service = service
        self.eventLoop = loop
        self.metricsSlot = service.bus.metrics.slot(for: "sessions")
    }

    func start() {
        // Ballots are taken as publications, not deliveries: a protocol that acknowledges the publish
        // does so once the ballot is stored (`PublicationAcceptor`).
        service.bus.register(self, for: try! TopicFilter("sessions/+/votes/+/cast"))
        eventLoop.execute {
            for pattern in ["sessions/+/messages", "$sessions/+"] {
                // For the server's life: nothing unsubscribes them.
                _ = self.service.bus.subscribe(
                    try! TopicFilter(pattern), subscriber: self, subscriberID: "$collaboration")
            }
        }
    }

    func flushDeliveries() {}

    func deliver(_ message: BusMessage, for subscription: BusSubscription, context: inout DeliveryContext)
        -> DeliveryOutcome
    {
        let levels = message.topic.name.split(separator: "/", omittingEmptySubsequences: false)
        if levels.first == "$sessions", levels.count == 2 {
            guard message.isPublication else { return .skipped }
            request(String(levels[1]), message)
        } else if levels.count == 3, levels[2] == "messages" {
            activity(session: String(levels[1]), message)
        } else {
            return .skipped
        }
        return .delivered(bytes: 0)
    }

    private func caller(_ message: BusMessage) -> CollaborationCaller {
        message.publisherID.flatMap(service.identify) ?? CollaborationCaller(user: nil)
    }

    // MARK: - Ballots by publish

    /// A publish to `sessions/<id>/votes/<vote>/cast`, on the publisher's loop: cast here, on this one.
    func accept(_ message: BusMessage, from loop: any EventLoop, done: (@Sendable (String?) -> Void)?) {
        let levels = message.topic.name.split(separator: "/", omittingEmptySubsequences: false)
        guard message.isPublication, levels.count == 5 else {
            done?(nil)
            return
        }
        eventLoop.execute {
            self.cast(session: String(levels[1]), vote: String(levels[3]), message, done: done)
        }
    }

    /// The ballot is the payload: `{"option":"yes"}`, a JSON string `"yes"`, or the text `yes`. `done` is
    /// told once it is stored or refused; only a failed store is a failure (a refusal is answered).
    private func cast(session: String, vote: String, _ message: BusMessage, done: (@Sendable (String?) -> Void)?) {
        let replyTo = message.headers.replyTo
        guard let option = Self.option(message.payload) else {
            reply(replyTo, .failure(.bad("a ballot is {\"option\":…}, a JSON string, or the option as text")))
            done?(nil)
            return
        }
        // The answer is the tally, not the voter list (which grows with every ballot).
        service.cast(session, vote, option: option, caller: caller(message)) { result in
            self.reply(replyTo, result)
            if case .failure(let error) = result, error.kind == .unavailable {
                done?("the ballot was not stored: \(error.message)")
            } else {
                done?(nil)
            }
        }
    }

    static func option(_ payload: ByteBuffer) -> String? {
        guard let text = payload.getString(at: payload.readerIndex, length: payload.readableBytes) else { return nil }
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        if let value = try? JSONValue.parse(trimmed) {
            if let option = value.stringValue ?? value["option"]?.stringValue { return option }
            if case .object = value { return nil }
        }
        return trimmed.isEmpty ? nil : trimmed
    }

    // MARK: - RPC

    /// `$sessions/<operation>` with a JSON object body; the answer (or `{"error":{"code","message"}}`) goes
    /// to the request's reply topic.
    private func request(_ operation: String, _ message: BusMessage) {
        let replyTo = message.headers.replyTo
        let body: JSONValue
        if message.payload.readableBytes == 0 {
            body = .object([])
        } else if let text = message.payload.getString(
            at: message.payload.readerIndex, length: message.payload.readableBytes),
            let parsed = try? JSONValue.parse(text), case .object = parsed
        {
            body = parsed
        } else {
            return reply(replyTo, .failure(.bad("the request's data must be a JSON object")))
        }
        let caller = caller(message)
        let session = body["session"]?.stringValue ?? ""
        let vote = body["vote"]?.stringValue ?? ""
        let answer: @Sendable (Result<JSONValue, CollaborationError>) -> Void = { self.reply(replyTo, $0) }
        switch operation {
        case "create":
            service.createSession(body, caller: caller) { answer($0.map { CollaborationJSON.session($0) }) }
        case "list":
            answer(
                .success(
                    .object([
                        JSONField(
                            key: "items", value: .array(service.list(caller).map { CollaborationJSON.session($0) }))
                    ])))
        case "get":
            answer(
                Result { () throws(CollaborationError) -> JSONValue in
                    let (found, votes) = try service.session(session, caller)
                    return CollaborationJSON.session(found, online: service.online(session), votes: votes)
                })
        case "update":
            service.updateSession(session, body, caller: caller) { answer($0.map { CollaborationJSON.session($0) }) }
        case "close":
            service.closeSession(session, caller: caller) { answer($0.map { CollaborationJSON.session($0) }) }
        case "open_vote":
            service.openVote(session, body, caller: caller) { answer($0.map { CollaborationJSON.vote($0) }) }
        case "cast":
            let option = body["option"]?.stringValue ?? ""
            service.cast(session, vote, option: option, caller: caller) { answer($0) }
        case "close_vote":
            service.closeVote(session, vote, caller: caller) { answer($0.map { CollaborationJSON.vote($0) }) }
        default:
            answer(
                .failure(
                    .bad(
                        "unknown operation \"\(operation)\": create, list, get, update, close, open_vote, cast, close_vote"
                    )
                ))
        }
    }

    /// Publishes the answer to `replyTo` from this listener's loop (nothing without a reply topic).
    private func reply(_ replyTo: String?, _ result: Result<JSONValue, CollaborationError>) {
        guard let replyTo, let topic = try? Topic(replyTo) else { return }
        let body: JSONValue
        switch result {
        case .success(let value): body = value
        case .failure(let error):
            body = CollaborationJSON.object([
                (
                    "error",
                    CollaborationJSON.object([
                        ("code", .string(error.kind.rawValue)), ("message", .string(error.message)),
                    ])
                )
            ])
        }
        eventLoop.execute {
            var payload = ByteBuffer()
            payload.writeJSONValue(body)
            let message = BusMessage(
                topic: topic, payload: payload, headers: MessageHeaders(contentType: "application/json"),
                timestamp: self.service.bus.clock(), payloadForm: .json)
            self.service.bus.publish(message, on: self.eventLoop)
        }
    }

    // MARK: - The activity feed

    private func activity(session: String, _ message: BusMessage) {
        guard service.exists(session) else { return }
        let now = service.bus.clock()
        switch message.kind {
        case .publish:
            let actor = caller(message).user
            var details: [(String, JSONValue)] = []
            if let offset = message.position?.offset { details.append(("offset", .number(String(offset)))) }
            service.record(.activity(session, "message", actor: actor, at: now, details))
        case .join(let info), .leave(let info):
            let type = if case .join = message.kind { "join" } else { "leave" }
            service.record(
                .activity(
                    session, type, actor: info.userID ?? info.clientID, at: now,
                    [("protocol", .string(info.protocolName)), ("client", .string(info.clientID))]))
        }
    }
}

extension CollaborationService {
    func exists(_ session: String) -> Bool { core.withLockedValue { $0.sessions[session] != nil } }

    /// An event that changes no stored state (a message, a join or a leave), from the session's home loop.
    func record(_ event: Event) {
        let loop = homeLoop(String(event.topic.name.split(separator: "/")[1]))
        loop.execute { self.publish(event, on: loop) }
    }
}
