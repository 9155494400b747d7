import BusCore
import BusRuntime
import FrontendKit
import NIOCore
import SignalRWire

/// The hub's methods (docs/protocols/signalr.md), matched case-insensitively as ASP.NET Core matches
/// them: `Subscribe(channel)` / `JoinGroup(channel)`, `Unsubscribe(channel)` / `LeaveGroup(channel)` —
/// groups are bus channels, filters allowed — `Publish(channel, data[, event])`, whose result is the
/// message's position when the channel keeps history (else null), `PublishStream` (a client stream of
/// publishes), `Presence(channel)` (the group's members), `Rpc(channel, data[, timeoutMs])` (the first
/// reply) and the stream `History(channel[, limit])`. Errors are Completion errors in ASP.NET Core's words; nothing a client sends affects another
/// connection.
extension SignalRConnectionHandler {
    func invoke(_ target: String, _ arguments: [SignalRPayload], id: String?) {
        if isConformanceHub, invokeConformance(target, arguments, id: id) { return }
        switch target.lowercased() {
        case "subscribe", "joingroup":
            guard let channel = stringArgument(target, arguments, expected: 1, id: id) else { return }
            subscribe(channel, id: id)
        case "unsubscribe", "leavegroup":
            guard let channel = stringArgument(target, arguments, expected: 1, id: id) else { return }
            unsubscribe(channel, id: id)
        case "publish":
            guard arguments.count == 2 || arguments.count == 3 else {
                return complete(id, error: argumentCountError(target, arguments.count, expected: 2))
            }
            guard let channel = Self.string(arguments[0]) else {
                return complete(id, error: bindingError(target, "the channel must be a string"))
            }
            let event = arguments.count == 3 ? Self.string(arguments[2]) : nil
            publish(channel, arguments[1], event: event, id: id)
        case "presence":
            guard let channel = stringArgument(target, arguments, expected: 1, id: id) else { return }
            presence(channel, id: id)
        case "rpc":
            guard arguments.count == 2 || arguments.count == 3 else {
                return complete(id, error: argumentCountError(target, arguments.count, expected: 2))
            }
            guard let channel = Self.string(arguments[0]) else {
                return complete(id, error: bindingError(target, "the channel must be a string"))
            }
            let timeout = arguments.count == 3 ? Self.integer(arguments[2]) : nil
            rpc(channel, arguments[1], timeoutMilliseconds: timeout, id: id)
        case "history":
            complete(id, error: "'\(target)' is a streaming method: call it with StreamInvocation (connection.stream).")
        default:
            complete(id, error: "Unknown hub method '\(target)'")
        }
    }

    // MARK: - Groups

    private func subscribe(_ channel: String, id: String?) {
        let filter: TopicFilter
        do {
            filter = try TopicFilter(channel, limits: bus.configuration.topicLimits)
        } catch {
            return complete(id, error: hubError("Subscribe", "invalid channel \"\(channel)\": \(error)"))
        }
        guard identity.permissions.maySubscribe(filter) else {
            services.counters.countPermissionDenied()
            return complete(id, error: hubError("Subscribe", "not allowed to subscribe to \(channel)"))
        }
        // Subscribing twice is one subscription, as joining a group twice is one membership.
        guard subscriptions[channel] == nil else { return complete(id) }
        guard subscriptions.count < configuration.maxSubscriptions else {
            return complete(id, error: hubError("Subscribe", "too many subscriptions"))
        }
        let result = bus.subscribe(
            filter, subscriber: self, subscriberID: info.id,
            options: identity.subscriptionOptions(), presence: info.presence)
        subscriptions[channel] = result.subscription
        lifecycle.update { $0.subscriptions.append(channel) }
        complete(id)
    }

    /// An authenticated connection joins its user's channel (`signalr.user_channel`) once the handshake
    /// is done: the server's own subscription, outside the caller's ACL and its subscription count. A
    /// user id with `/`, `+` or `#` joins nothing, as it is never substituted into a permission.
    func joinUserChannel() {
        let template = configuration.userChannel
        guard !template.isEmpty, let user = info.userID, !user.isEmpty,
            !user.contains(where: { $0 == "/" || $0 == "+" || $0 == "#" })
        else { return }
        let channel = template.replacing("{user}", with: user)
        guard subscriptions[channel] == nil,
            let filter = try? TopicFilter(channel, limits: bus.configuration.topicLimits), !filter.hasWildcards
        else { return }
        let result = bus.subscribe(
            filter, subscriber: self, subscriberID: info.id, options: identity.subscriptionOptions(),
            presence: info.presence)
        subscriptions[channel] = result.subscription
        lifecycle.update { $0.subscriptions.append(channel) }
    }

    private func unsubscribe(_ channel: String, id: String?) {
        if let subscription = subscriptions.removeValue(forKey: channel) {
            bus.unsubscribe(subscription, presenceClientID: info.id)
            lifecycle.update { $0.subscriptions.removeAll { $0 == channel } }
        }
        complete(id)
    }

    // MARK: - Publishing

    private func publish(_ channel: String, _ data: SignalRPayload, event: String?, id: String?) {
        let topic: Topic
        switch publishableTopic(channel) {
        case .success(let named): topic = named
        case .failure(let refusal): return complete(id, error: hubError("Publish", refusal.reason))
        }
        let message = busMessage(topic, data, event: event)
        if let violation = schemaViolation(message) { return complete(id, error: hubError("Publish", violation)) }
        let shard = bus.shard(for: eventLoop)
        shard.stats.published(slot: metricsSlot, bytes: message.payload.readableBytes)
        guard id != nil else {
            shard.publish(message)
            return
        }
        let answer: (SignalRConnectionHandler, PublishResult) -> Void = { handler, result in
            if let failure = result.failure { return handler.complete(id, error: handler.hubError("Publish", failure)) }
            guard let position = result.position else { return handler.complete(id, result: .json("null")) }
            var text = ByteBuffer(string: "{\"offset\":")
            text.writeDecimal(position.offset)
            text.writeStaticString(",\"epoch\":")
            text.writeJSONString(position.epoch)
            text.writeStaticString("}")
            handler.complete(id, result: .json(text))
        }
        let deferred: (PublishResult) -> Void = { [self] result in
            answer(self, result)
            flushIfNeeded()
        }
        if let result = shard.publish(message, whenDeferred: deferred) { answer(self, result) }
    }

    /// The bus message a hub argument publishes: JSON stays the text the client sent; a MessagePack bin
    /// is the payload's bytes; other MessagePack values become their JSON.
    /// Why a `payload_schemas` rule refuses `message` (docs/topics.md, "Payload schemas"), naming the
    /// failing JSON Pointer; nil when it may be published.
    private func schemaViolation(_ message: BusMessage) -> String? {
        services.payloadSchemas.check(
            message.topic, payload: message.payload, contentType: message.headers.contentType)?.description
    }

    private func busMessage(_ topic: Topic, _ data: SignalRPayload, event: String?) -> BusMessage {
        var payload = ByteBuffer()
        var headers = MessageHeaders(contentType: "application/json", eventType: event)
        var form = PayloadForm.json
        switch data {
        case .json(let text):
            payload = text
        case .messagePack(.binary(let bytes)):
            payload = bytes
            headers = MessageHeaders(contentType: "application/octet-stream", eventType: event)
            form = .binary
        case .messagePack:
            data.writeJSON(into: &payload)
        }
        return BusMessage(
            topic: topic, payload: payload, headers: headers, publisherID: info.id, timestamp: bus.clock(),
            payloadForm: form)
    }

    // MARK: - Client → server streams

    /// Client streams open at once on one connection; bounds what one client can hold open.
    static let maxUploads = 16

    /// `PublishStream` with one client stream (HubProtocol.md §Streaming, `streamIds`): `PublishStream(channel
    /// [, event])` publishes each item to the channel; `PublishStream()` — what pysignalr's and
    /// signalrcore's stream helpers send, with no arguments — publishes each item `{channel, data[,
    /// event]}` to its own channel. The invocation completes when the client completes the stream, with
    /// how many items were published and refused (a refused item — bad channel, not permitted, not an
    /// object naming its channel — is skipped, not fatal).
    func invokeWithStreams(_ invocation: SignalRInvocation) {
        let id = invocation.invocationID
        let target = invocation.target
        // The test hub's `UploadStream(stream)` reads its items and drops them.
        if isConformanceHub, target == "UploadStream", let streamID = invocation.streamIDs.first {
            var upload = SignalRUpload(invocationID: id)
            upload.discardsItems = true
            uploads[streamID] = upload
            return
        }
        guard target.lowercased() == "publishstream" else {
            return complete(id, error: "'\(target)' does not take a client stream: PublishStream does.")
        }
        guard invocation.streamIDs.count == 1, let streamID = invocation.streamIDs.first else {
            return complete(id, error: bindingError(target, "it takes one stream, not \(invocation.streamIDs.count)"))
        }
        guard invocation.arguments.count <= 2 else {
            return complete(id, error: argumentCountError(target, invocation.arguments.count, expected: 1))
        }
        guard uploads[streamID] == nil else {
            return complete(id, error: bindingError(target, "stream id \(streamID) is already open"))
        }
        guard uploads.count < Self.maxUploads else {
            return complete(
                id, error: hubError(target, "at most \(Self.maxUploads) client streams may be open at once"))
        }
        var upload = SignalRUpload(invocationID: id)
        if let first = invocation.arguments.first {
            guard let channel = Self.string(first) else {
                return complete(id, error: bindingError(target, "the channel must be a string"))
            }
            switch publishableTopic(channel) {
            case .success(let topic): upload.topic = topic
            case .failure(let refusal): return complete(id, error: hubError(target, refusal.reason))
            }
            if invocation.arguments.count == 2 { upload.event = Self.string(invocation.arguments[1]) }
        }
        uploads[streamID] = upload
    }

    /// An item of an open client stream, published; an item for a stream that is not open is ignored,
    /// as ASP.NET Core ignores it.
    func uploadItemReceived(_ item: SignalRStreamItem) {
        guard var upload = uploads[item.invocationID] else { return }
        if upload.discardsItems {
            upload.published += 1
            uploads[item.invocationID] = upload
            return
        }
        var topic = upload.topic
        var data = item.item
        var event = upload.event
        if topic == nil {
            if let channel = item.item.member("channel").flatMap(Self.string), let body = item.item.member("data"),
                case .success(let named) = publishableTopic(channel)
            {
                topic = named
                data = body
                event = item.item.member("event").flatMap(Self.string)
            }
        }
        // An item a payload schema refuses counts as refused, as one to a channel it may not publish to.
        if let message = topic.map({ busMessage($0, data, event: event) }), schemaViolation(message) == nil {
            let shard = bus.shard(for: eventLoop)
            shard.stats.published(slot: metricsSlot, bytes: message.payload.readableBytes)
            shard.publish(message)
            upload.published += 1
        } else {
            upload.refused += 1
        }
        uploads[item.invocationID] = upload
    }

    /// The client completed a stream: its invocation completes with the counts (or with the client's
    /// error).
    func uploadCompleted(_ completion: SignalRCompletion) {
        guard let upload = uploads.removeValue(forKey: completion.invocationID) else { return }
        if case .error(let reason) = completion.outcome {
            return complete(upload.invocationID, error: "The client stream ended with an error: \(reason)")
        }
        if upload.discardsItems { return complete(upload.invocationID) }
        var result = ByteBuffer(string: "{\"published\":")
        result.writeDecimal(upload.published)
        result.writeStaticString(",\"refused\":")
        result.writeDecimal(upload.refused)
        result.writeStaticString("}")
        complete(upload.invocationID, result: .json(result))
    }

    struct PublishRefusal: Error {
        let reason: String
    }

    /// The topic `channel` names if this connection may publish there.
    private func publishableTopic(_ channel: String) -> Result<Topic, PublishRefusal> {
        let topic: Topic
        do {
            topic = try Topic(channel, limits: bus.configuration.topicLimits)
        } catch {
            return .failure(PublishRefusal(reason: "invalid channel \"\(channel)\": \(error)"))
        }
        guard identity.permissions.mayPublish(topic) else {
            services.counters.countPermissionDenied()
            return .failure(PublishRefusal(reason: "not allowed to publish to \(channel)"))
        }
        return .success(topic)
    }

    /// A stream invocation: `History(channel[, limit])` streams the channel's last messages, oldest
    /// first, then completes; any other target is not a streaming method.
    func invokeStream(_ target: String, _ arguments: [SignalRPayload], id: String) {
        if isConformanceHub, streamConformance(target, arguments, id: id) { return }
        guard target.lowercased() == "history" else {
            return complete(id, error: "Unknown hub method '\(target)'")
        }
        guard arguments.count == 1 || arguments.count == 2 else {
            return complete(id, error: argumentCountError(target, arguments.count, expected: 1))
        }
        guard let channel = Self.string(arguments[0]) else {
            return complete(id, error: bindingError(target, "the channel must be a string"))
        }
        let limit = arguments.count == 2 ? Self.integer(arguments[1]) : nil
        guard let topic = readableTopic(channel, target: target, id: id) else { return }
        guard let read = bus.readHistory(topic, after: nil, limit: max(1, min(limit ?? 100, 10_000))) else {
            return complete(id, error: hubError(target, "\(channel) keeps no history"))
        }
        for message in read.messages {
            var object = ByteBuffer()
            BusJSON.message(&object, message)
            send(.streamItem(SignalRStreamItem(invocationID: id, item: .json(object))))
        }
        complete(id)
    }

    private func presence(_ channel: String, id: String?) {
        guard let topic = readableTopic(channel, target: "Presence", id: id) else { return }
        guard bus.presence.policy.isEnabled(for: topic) else {
            return complete(id, error: hubError("Presence", "presence is not enabled for \(channel)"))
        }
        var list = ByteBuffer(string: "[")
        for (index, client) in bus.presence.clients(of: topic).enumerated() {
            if index > 0 { list.writeStaticString(",") }
            BusJSON.client(&list, client)
        }
        list.writeStaticString("]")
        complete(id, result: .json(list))
    }

    private func rpc(_ channel: String, _ data: SignalRPayload, timeoutMilliseconds: Int?, id: String?) {
        let topic: Topic
        do {
            topic = try Topic(channel, limits: bus.configuration.topicLimits)
        } catch {
            return complete(id, error: hubError("Rpc", "invalid channel \"\(channel)\": \(error)"))
        }
        guard identity.permissions.mayPublish(topic) else {
            services.counters.countPermissionDenied()
            return complete(id, error: hubError("Rpc", "not allowed to publish to \(channel)"))
        }
        var payload = ByteBuffer()
        data.writeJSON(into: &payload)
        if let violation = services.payloadSchemas.check(topic, payload: payload, contentType: "application/json") {
            return complete(id, error: hubError("Rpc", violation.description))
        }
        let milliseconds = max(1, min(timeoutMilliseconds ?? 5_000, 60_000))
        let bound = NIOLoopBound(self, eventLoop: eventLoop)
        if let id { pendingInvocations.insert(id) }
        bus.request(
            topic: topic, payload: payload, headers: MessageHeaders(contentType: "application/json"),
            requesterID: info.id, timeout: .milliseconds(Int64(milliseconds)), on: eventLoop
        ).whenComplete { result in
            let handler = bound.value
            // Canceled meanwhile: its Completion has gone.
            if let id, handler.pendingInvocations.remove(id) == nil { return }
            switch result {
            case .success(let reply):
                var object = ByteBuffer()
                BusJSON.message(&object, reply)
                handler.complete(id, result: .json(object))
            case .failure(BusError.noResponders):
                handler.complete(id, error: handler.hubError("Rpc", "no responders for \(channel)"))
            case .failure(BusError.timeout):
                handler.complete(
                    id, error: handler.hubError("Rpc", "no reply from \(channel) within \(milliseconds) ms"))
            case .failure(let error):
                handler.complete(id, error: handler.hubError("Rpc", "\(error)"))
            }
            handler.flushIfNeeded()
        }
    }

    /// A concrete topic the client may read, or nil after answering the error.
    private func readableTopic(_ channel: String, target: String, id: String?) -> Topic? {
        guard let topic = try? Topic(channel, limits: bus.configuration.topicLimits) else {
            complete(id, error: hubError(target, "invalid channel \"\(channel)\""))
            return nil
        }
        guard identity.permissions.mayRead(topic) else {
            services.counters.countPermissionDenied()
            complete(id, error: hubError(target, "not allowed to read \(channel)"))
            return nil
        }
        return topic
    }

    // MARK: - Arguments and errors

    /// The one string argument of a method that takes one, or nil after answering the error.
    private func stringArgument(_ target: String, _ arguments: [SignalRPayload], expected: Int, id: String?) -> String?
    {
        guard arguments.count == expected else {
            complete(id, error: argumentCountError(target, arguments.count, expected: expected))
            return nil
        }
        guard let text = Self.string(arguments[0]) else {
            complete(id, error: bindingError(target, "the channel must be a string"))
            return nil
        }
        return text
    }

    static func string(_ payload: SignalRPayload) -> String? {
        switch payload {
        case .messagePack(.string(let text)): return text
        case .messagePack: return nil
        case .json(let text):
            let value = try? text.withUnsafeReadableBytes { raw throws(JSONError) in try JSONParser.parse(raw) }
            return value?.stringValue
        }
    }

    static func integer(_ payload: SignalRPayload) -> Int? {
        switch payload {
        case .messagePack(.int(let value)): return Int(exactly: value)
        case .messagePack(.uint(let value)): return Int(exactly: value)
        case .messagePack: return nil
        case .json(let text):
            let value = try? text.withUnsafeReadableBytes { raw throws(JSONError) in try JSONParser.parse(raw) }
            guard case .number(let number)? = value else { return nil }
            return Int(number)
        }
    }

    /// ASP.NET Core's binding failure text.
    func argumentCountError(_ target: String, _ count: Int, expected: Int) -> String {
        "Failed to invoke '\(target)' due to an error on the server. InvalidDataException: Invocation provides "
            + "\(count) argument(s) but target expects \(expected)."
    }

    private func bindingError(_ target: String, _ detail: String) -> String {
        "Failed to invoke '\(target)' due to an error on the server. InvalidDataException: \(detail)."
    }

    /// A `HubException`'s text: ASP.NET Core sends its message to the client as it is.
    func hubError(_ target: String, _ detail: String) -> String {
        "An unexpected error occurred invoking '\(target)' on the server. HubException: \(detail)"
    }
}

/// A client → server stream `PublishStream` reads: where its items go, and what it has done.
struct SignalRUpload {
    var invocationID: String?
    /// The channel every item goes to; nil when each item names its own.
    var topic: Topic?
    var event: String?
    var published = 0
    var refused = 0
    /// The conformance hub's `UploadStream`: items are read and dropped.
    var discardsItems = false

    init(invocationID: String?) {
        self.invocationID = invocationID
    }
}
