import BusCore
import BusRuntime
import Foundation
import FrontendKit
import NIOConcurrencyHelpers
import NIOCore
import SSEWire

extension SSEStreamHandler {
    /// Subscribes a `/sse` stream and writes its opening: `retry:`, then either the starting position
    /// (`id:`) or, when resuming, every missed message from history — read by the bus's
    /// subscribe-with-recovery, so the switch to live delivery has no gap and no duplicate — and an
    /// `event: reset` for each channel whose position is gone (docs/protocols/sse.md §3).
    func open(_ request: SSEStreamRequest) {
        guard let writer else { return }
        let positioned = request.positionedChannels
        streamFollowing = request.streamFollowing
        sharesIDs = request.channels.count == 1 && positioned.count == 1
        positions = Array(repeating: nil, count: positioned.count)
        if !sharesIDs {
            for (index, filter) in positioned.enumerated() { positionIndex[filter.pattern] = index }
        }
        let resume = request.resumeFrom
        var body = ByteBuffer()
        var wroteID = false
        var positionedIndex = 0
        for filter in request.channels {
            guard request.isPositioned(filter) else {
                subscribe(filter, history: nil)
                continue
            }
            let index = positionedIndex
            positionedIndex += 1
            let requested = resume?.entries[index]
            // A filter a stream covers follows it: asking for no history is what makes it do so.
            let follows = request.streamFollowing.contains(filter.text)
            let result = subscribe(
                filter, history: requested.map { .recover($0, fallback: 0) } ?? (follows ? .last(0) : nil))
            guard let requested else {
                positions[index] = result.position
                continue
            }
            if result.recovered == true {
                for message in result.messages {
                    positions[index] = message.position
                    guard self.filter.admits(message) else { continue }
                    SSEEventEncoder.message(&body, message, id: SSECursor(positions).text)
                    wroteID = true
                }
                positions[index] = result.position
            } else {
                positions[index] = result.position
                let reset = SSEReset(channel: filter.pattern, requested: requested, current: result.position)
                var json = ByteBuffer()
                SSEMessageJSON.reset(&json, reset)
                SSEEventEncoder.id(&body, SSECursor(positions).text)
                SSEEventEncoder.event(&body, type: "reset", data: json)
                wroteID = true
            }
        }
        // The opening event carries the position when nothing else did (a fresh stream, or a resume
        // that missed nothing), so the client resumes from here even if it drops before any message.
        let openingID = !positions.isEmpty && !wroteID ? SSECursor(positions).text : nil
        var opening = ByteBuffer()
        SSEEventEncoder.opening(&opening, retryMilliseconds: configuration.retryMilliseconds, id: openingID)
        opening.writeImmutableBuffer(body)
        body = opening
        writer.write(
            HTTPStreamWriter.frame(chunked: writer.isChunked, capacity: body.readableBytes) {
                $0.writeImmutableBuffer(body)
            })
    }

    @discardableResult
    func subscribe(
        _ filter: TopicFilter, history: Bus.HistoryRequest?, requestOptions: SSERealtimeOptions? = nil
    ) -> Bus.SubscribeResult {
        var options = lifecycle.identity.subscriptionOptions()
        if let requestOptions, options.viewer != nil {
            options.viewer?.query = requestOptions.query
            options.viewer?.headers = requestOptions.headers
        }
        let result = bus.subscribe(
            filter, subscriber: self, subscriberID: info.id, options: options, presence: info.presence,
            history: history)
        subscriptions.append(result.subscription)
        let name = filter.text
        lifecycle.update { $0.subscriptions.append(name) }
        return result
    }

    // MARK: - Realtime (PocketBase-style)

    /// Writes PocketBase's `PB_CONNECT` (its id and data the client id) and makes the client reachable
    /// for `POST /api/realtime`.
    func openRealtime() {
        guard let writer else { return }
        let id = info.id
        services.realtimeClients.withLockedValue { $0[id] = self }
        var json = ByteBuffer()
        json.writeStaticString("{\"clientId\":")
        json.writeJSONString(id)
        json.writeInteger(UInt8(ascii: "}"))
        writer.write(
            HTTPStreamWriter.frame(chunked: writer.isChunked) { body in
                SSEEventEncoder.opening(&body, retryMilliseconds: configuration.retryMilliseconds, id: nil)
                SSEEventEncoder.id(&body, id)
                SSEEventEncoder.event(&body, type: "PB_CONNECT", data: json)
            })
    }

    /// Replaces a realtime client's subscriptions (on its loop). `identity` is the one of the request
    /// that set them: a client opened by one user cannot be taken over by another, and a guest's client
    /// becomes its first identified user's (PocketBase's SDK opens the stream without credentials and
    /// authorizes the POST) — record view rules then see that user. A subscription with an event name
    /// (a record collection's, PocketBase's `tasks/*`) gets PocketBase's events.
    func replaceSubscriptions(_ subscriptions: [SSERealtimeSubscription], identity: ClientIdentity)
        -> SSERealtimeOutcome
    {
        guard machine?.isStreaming == true else { return .gone }
        if let owner = info.userID, owner != identity.userID { return .forbidden }
        if info.userID == nil, let userID = identity.userID {
            lifecycle.identity = identity
            lifecycle.update { $0.userID = userID }
        }
        for subscription in self.subscriptions { bus.unsubscribe(subscription, presenceClientID: info.id) }
        self.subscriptions.removeAll()
        realtimeEvents.removeAll()
        lifecycle.update { $0.subscriptions = [] }
        for subscription in subscriptions {
            let made = subscribe(subscription.filter, history: nil, requestOptions: subscription.options)
            // By subscription, not filter: `tasks/*` with two `options` are one filter, two subscriptions.
            if let name = subscription.eventName {
                realtimeEvents[ObjectIdentifier(made.subscription)] = SSERealtimeEvent(
                    name: name, fields: subscription.fields)
            }
        }
        touch()
        return .replaced
    }

    /// A change event of a record collection as PocketBase sends it: `event:` the client's subscription
    /// (`tasks/*`, `tasks/<id>`), `data:` `{"action","record",…}` (the event's payload as published).
    /// With PocketBase's `fields` in the subscription's options, the record carries only the keys they pick.
    static func encodeRecordEvent(_ buffer: inout ByteBuffer, _ event: SSERealtimeEvent, _ message: BusMessage) {
        guard let fields = event.fields,
            case .object(var members)? = try? message.payload.withUnsafeReadableBytes({ try JSONParser.parse($0) }),
            let index = members.firstIndex(where: { $0.key == "record" })
        else { return SSEEventEncoder.event(&buffer, type: event.name, data: message.payload) }
        members[index].value = fields.pick(members[index].value)
        var data = ByteBuffer()
        data.writeJSONValue(.object(members))
        SSEEventEncoder.event(&buffer, type: event.name, data: data)
    }

    /// A realtime event: `event: <type>` and the message as JSON (channel, payload, position).
    static func encodeRealtime(_ buffer: inout ByteBuffer, _ message: BusMessage) {
        var json = ByteBuffer()
        SSEMessageJSON.message(&json, message)
        let type: String
        switch message.kind {
        case .publish: type = message.headers.eventType ?? SSEEventEncoder.defaultEventType
        case .join: type = "join"
        case .leave: type = "leave"
        }
        SSEEventEncoder.event(&buffer, type: type, data: json)
    }
}

/// One subscription of a realtime client: a bus filter, and the event name its messages carry when it
/// follows a record collection the PocketBase way.
struct SSERealtimeSubscription: Sendable {
    var filter: TopicFilter
    var eventName: String?
    /// PocketBase's `?options={"query":{…},"headers":{…}}` of a record subscription.
    var options: SSERealtimeOptions?
    /// `fields` in the options' query: the keys of each event's record sent.
    var fields: RecordFieldPicker?
}

/// How a record subscription's events are written: named by the subscription, the record picked by its
/// `fields` when it has them.
struct SSERealtimeEvent {
    var name: String
    var fields: RecordFieldPicker?
}

/// What a PocketBase record subscription's `options` give its view rule: `@request.query.*` and
/// `@request.headers.*` (header names lowercased, `-` as `_`, as PocketBase).
struct SSERealtimeOptions: Sendable {
    var query: [String: String] = [:]
    var headers: [String: String] = [:]

    /// The options of `name` (`tasks/*?options=<JSON, percent-encoded or not>`); nil without any.
    init?(subscription name: String) {
        guard let mark = name.firstIndex(of: "?") else { return nil }
        for pair in name[name.index(after: mark)...].split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1)
            guard parts.count == 2, parts[0] == "options" else { continue }
            let text = String(parts[1]).removingPercentEncoding ?? String(parts[1])
            guard let value = try? Array(text.utf8).withUnsafeBytes({ try JSONParser.parse($0) }) else { continue }
            query = Self.strings(value["query"])
            headers = Dictionary(
                Self.strings(value["headers"]).map { ($0.key.lowercased().replacing("-", with: "_"), $0.value) },
                uniquingKeysWith: { _, last in last })
        }
    }

    private static func strings(_ value: JSONValue?) -> [String: String] {
        guard case .object(let fields)? = value else { return [:] }
        var result: [String: String] = [:]
        for field in fields {
            switch field.value {
            case .string(let text): result[field.key] = text
            case .number(let text): result[field.key] = text
            case .bool(let flag): result[field.key] = flag ? "true" : "false"
            default: break
            }
        }
        return result
    }
}

/// What replacing a realtime client's subscriptions did.
enum SSERealtimeOutcome: Sendable {
    case replaced
    /// The client's stream has ended.
    case gone
    /// Another user's client.
    case forbidden
}
