import BusCore
import BusRuntime
import FrontendKit
import NIOCore
import SocketIOWire

/// The hub's event vocabulary (docs/protocols/socketio.md): `subscribe`, `unsubscribe`, `publish`,
/// `rpc`, `history`, `presence`; any other event goes to the socket's rooms.
extension SocketIOSession {
    func eventReceived(_ socket: SocketIOSocket, slot: Int, _ message: SocketIOMessage) {
        let packet = message.packet
        guard let split = SocketIOEventArguments(packet) else { return }
        if configuration.conformanceMode { return echo(socket, split, message) }
        let ack = packet.ackID
        let request: SocketIORequest? = SocketIORequest.isHubEvent(split.name) ? SocketIORequest(split, packet) : nil
        switch split.name {
        case "subscribe": subscribe(socket, slot: slot, request, ack: ack)
        case "unsubscribe": unsubscribe(socket, request, ack: ack)
        case "publish": publish(socket, request, attachments: message.attachments, ack: ack)
        case "rpc": rpc(socket, request, ack: ack)
        case "history": history(socket, request, ack: ack)
        case "presence": presence(socket, request, ack: ack)
        default:
            // A room event is one JSON array of arguments on the bus: binary arguments have no place in it.
            guard message.attachments.isEmpty else {
                return refuse(socket, ack, "bad_request", "binary arguments go with publish, not with room events")
            }
            emitToRooms(socket, split, ack: ack)
        }
    }

    /// The suites' echo server: `message` → `message-back` with the same arguments (and attachments),
    /// `message-with-ack` → an ack with the same arguments.
    private func echo(_ socket: SocketIOSocket, _ split: SocketIOEventArguments, _ message: SocketIOMessage) {
        let packet = message.packet
        switch split.name {
        case "message":
            var data = ByteBuffer(string: "[\"message-back\"")
            data.writeImmutableBuffer(split.rest)
            let reply = SocketIOPacket(.event, namespace: socket.namespace, data: data)
            sendMessage(SocketIOMessage(packet: reply, attachments: message.attachments))
        case "message-with-ack":
            guard let id = packet.ackID else { return }
            let reply = SocketIOPacket(.ack, namespace: socket.namespace, ackID: id, data: split.restAsArray)
            sendMessage(SocketIOMessage(packet: reply, attachments: message.attachments))
        default:
            break
        }
    }

    func sendMessage(_ message: SocketIOMessage) {
        for packet in message.engineIOPackets { send(packet) }
    }

    /// Answers an event's ack with one object `body` writes (`{…}`), when the client asked for one.
    func acknowledge(_ socket: SocketIOSocket, _ ack: UInt64?, _ body: (inout ByteBuffer) -> Void) {
        guard let ack else { return }
        var data = ByteBuffer(string: "[")
        body(&data)
        data.writeStaticString("]")
        send(.message(SocketIOPacket(.ack, namespace: socket.namespace, ackID: ack, data: data).encoded))
    }

    /// `{"error":{"code":…,"message":…}}` as the ack.
    func refuse(_ socket: SocketIOSocket, _ ack: UInt64?, _ code: String, _ message: String) {
        if code == "permission_denied" { services.counters.countPermissionDenied() }
        acknowledge(socket, ack) { data in
            data.writeStaticString("{\"error\":{\"code\":")
            data.writeJSONString(code)
            data.writeStaticString(",\"message\":")
            data.writeJSONString(message)
            data.writeStaticString("}}")
        }
    }

    /// The channel a request names: a string argument, or the `channel` member of an object.
    func channelName(_ request: SocketIORequest?) -> String? {
        request?.stringValue ?? request?["channel"]?.stringValue
    }

    private func topic(_ socket: SocketIOSocket, _ request: SocketIORequest?, ack: UInt64?) -> Topic? {
        guard let name = channelName(request) else {
            refuse(socket, ack, "bad_request", "a channel is required")
            return nil
        }
        do {
            return try Topic(socket.channel(name), limits: bus.configuration.topicLimits)
        } catch {
            refuse(socket, ack, "bad_request", "invalid channel \"\(name)\": \(error)")
            return nil
        }
    }

    // MARK: - publish / rpc

    private func publish(_ socket: SocketIOSocket, _ request: SocketIORequest?, attachments: [ByteBuffer], ack: UInt64?)
    {
        guard let topic = topic(socket, request, ack: ack) else { return }
        guard socket.identity.permissions.mayPublish(topic) else {
            return refuse(socket, ack, "permission_denied", "not allowed to publish to \(topic.name)")
        }
        let payload: ByteBuffer
        var contentType = "application/json"
        var form = PayloadForm.json
        if let placeholder = request?["data"]?["num"]?.intValue, request?["data"]?["_placeholder"] == .bool(true),
            placeholder >= 0, placeholder < attachments.count
        {
            payload = attachments[placeholder]
            contentType = "application/octet-stream"
            form = .binary
        } else {
            payload = request?.raw("data") ?? ByteBuffer(string: "null")
        }
        if let violation = services.payloadSchemas.check(topic, payload: payload, contentType: contentType) {
            return refuse(socket, ack, "invalid_payload", violation.description)
        }
        let message = BusMessage(
            topic: topic, payload: payload,
            headers: MessageHeaders(contentType: contentType, eventType: request?["event"]?.stringValue),
            publisherID: info.id, timestamp: bus.clock(), payloadForm: form)
        let shard = bus.shard(for: eventLoop)
        shard.stats.published(slot: metricsSlot, bytes: payload.readableBytes)
        guard ack != nil else {
            shard.publish(message)
            return
        }
        let answer: (PublishResult) -> Void = { [self] result in
            if let failure = result.failure { return refuse(socket, ack, "unavailable", failure) }
            acknowledge(socket, ack) { data in
                data.writeStaticString("{\"channel\":")
                data.writeJSONString(topic.name)
                if let position = result.position { BusJSON.position(&data, position) }
                data.writeStaticString("}")
            }
        }
        if let result = shard.publish(
            message,
            whenDeferred: { [self] result in
                answer(result)
                flush()
            })
        {
            answer(result)
        }
    }

    private func rpc(_ socket: SocketIOSocket, _ request: SocketIORequest?, ack: UInt64?) {
        guard let topic = topic(socket, request, ack: ack) else { return }
        guard socket.identity.permissions.mayPublish(topic) else {
            return refuse(socket, ack, "permission_denied", "not allowed to publish to \(topic.name)")
        }
        let payload = request?.raw("data") ?? ByteBuffer(string: "null")
        if let violation = services.payloadSchemas.check(topic, payload: payload, contentType: "application/json") {
            return refuse(socket, ack, "invalid_payload", violation.description)
        }
        let milliseconds = min(
            request?["timeout"]?.intValue ?? configuration.defaultRPCTimeoutMilliseconds,
            configuration.maxRPCTimeoutMilliseconds)
        bus.shard(for: eventLoop).stats.published(slot: metricsSlot, bytes: payload.readableBytes)
        bus.request(
            topic: topic, payload: payload, headers: MessageHeaders(contentType: "application/json"),
            requesterID: info.id, timeout: .milliseconds(Int64(max(1, milliseconds))), on: eventLoop
        ).whenComplete { [self] result in
            switch result {
            case .success(let reply):
                acknowledge(socket, ack) { data in
                    data.writeStaticString("{")
                    data.writePayloadMember(reply.payload, form: reply.payloadForm)
                    data.writeStaticString("}")
                }
            case .failure(BusError.noResponders):
                refuse(socket, ack, "unavailable", "no responders for \(topic.name)")
            case .failure(BusError.timeout):
                refuse(socket, ack, "timeout", "no reply from \(topic.name) within \(milliseconds) ms")
            case .failure(let error):
                refuse(socket, ack, "unavailable", "\(error)")
            }
            flush()
        }
    }

    // MARK: - history / presence

    private func history(_ socket: SocketIOSocket, _ request: SocketIORequest?, ack: UInt64?) {
        guard let topic = topic(socket, request, ack: ack) else { return }
        guard socket.identity.permissions.mayRead(topic) else {
            return refuse(socket, ack, "permission_denied", "not allowed to read \(topic.name)")
        }
        var since: LogPosition?
        if let offset = request?["since"]?["offset"]?.uint64Value, let epoch = request?["since"]?["epoch"]?.stringValue
        {
            since = LogPosition(offset: offset, epoch: epoch)
        }
        let limit = request?["limit"]?.intValue ?? configuration.defaultHistoryLimit
        guard let read = bus.readHistory(topic, after: since, limit: max(1, limit)) else {
            return refuse(socket, ack, "not_found", "\(topic.name) keeps no history")
        }
        acknowledge(socket, ack) { data in
            data.writeStaticString("{\"channel\":")
            data.writeJSONString(topic.name)
            BusJSON.position(&data, read.position)
            if let recovered = read.recovered {
                data.writeStaticString(recovered ? ",\"recovered\":true" : ",\"recovered\":false")
            }
            data.writeStaticString(",\"messages\":")
            BusJSON.messages(&data, read.messages)
            data.writeStaticString("}")
        }
    }

    private func presence(_ socket: SocketIOSocket, _ request: SocketIORequest?, ack: UInt64?) {
        guard let topic = topic(socket, request, ack: ack) else { return }
        guard socket.identity.permissions.mayRead(topic) else {
            return refuse(socket, ack, "permission_denied", "not allowed to read \(topic.name)")
        }
        guard bus.presence.policy.isEnabled(for: topic) else {
            return refuse(socket, ack, "not_found", "presence is not enabled for \(topic.name)")
        }
        let clients = bus.presence.clients(of: topic)
        acknowledge(socket, ack) { data in
            data.writeStaticString("{\"channel\":")
            data.writeJSONString(topic.name)
            data.writeStaticString(",\"clients\":[")
            for (index, client) in clients.enumerated() {
                if index > 0 { data.writeStaticString(",") }
                BusJSON.client(&data, client)
            }
            data.writeStaticString("]}")
        }
    }

    // MARK: - Other events: to the socket's rooms

    /// `socket.emit("chat", …args)`: published to every room the socket is in (concrete channels), as the
    /// event `chat` with the arguments as a JSON array; every other member gets it, the sender does not
    /// (as `socket.to(room).emit` on a Node server). The ack, when asked, says how many rooms it reached.
    private func emitToRooms(_ socket: SocketIOSocket, _ split: SocketIOEventArguments, ack: UInt64?) {
        var reached = 0
        let payload = split.restAsArray
        if !socket.isPausablePublisher {
            // A subscriber these emits feed that falls behind pauses the session (publisher flow control).
            socket.isPausablePublisher = true
            services.connections.setPausablePublisher(socket.socketID, self)
        }
        let shard = bus.shard(for: eventLoop)
        for room in socket.rooms {
            guard let room, !room.subscription.filter.hasWildcards, room.subscription.filter.shareGroup == nil else {
                continue
            }
            let topic = Topic(trusted: room.channel)
            guard socket.identity.permissions.mayPublish(topic) else { continue }
            shard.stats.published(slot: metricsSlot, bytes: payload.readableBytes)
            shard.publish(
                BusMessage(
                    topic: topic, payload: payload,
                    headers: MessageHeaders(contentType: "application/json", eventType: split.name),
                    publisherID: socket.socketID, timestamp: bus.clock(), payloadForm: .json))
            reached += 1
        }
        acknowledge(socket, ack) { data in
            data.writeStaticString("{\"rooms\":")
            data.writeDecimal(reached)
            data.writeStaticString("}")
        }
    }
}

/// An EVENT's data split at its name: `["name", a, b]` → `name` and `, a, b]`, so the arguments are
/// forwarded as they came, without re-encoding.
struct SocketIOEventArguments {
    var name: String
    /// What follows the name, up to and including the closing `]`.
    var rest: ByteBuffer

    init?(_ packet: SocketIOPacket) {
        guard let head = packet.eventHead else { return nil }
        self.name = head.name
        self.rest = head.rest
    }

    /// The arguments after the name as a JSON array: `[a, b]`.
    var restAsArray: ByteBuffer {
        var array = ByteBuffer(string: "[")
        var rest = self.rest
        while let byte = rest.getInteger(at: rest.readerIndex, as: UInt8.self),
            byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\n") || byte == UInt8(ascii: "\t")
                || byte == UInt8(ascii: "\r")
        {
            rest.moveReaderIndex(forwardBy: 1)
        }
        if rest.getInteger(at: rest.readerIndex, as: UInt8.self) == UInt8(ascii: ",") {
            rest.moveReaderIndex(forwardBy: 1)
        }
        array.writeImmutableBuffer(rest)
        return array
    }
}

/// The one argument of a hub event (`subscribe`, `publish`, …): a string (a channel) or an object whose
/// members are read where they lie — `publish`'s `data` is forwarded as the bytes the client sent, with
/// no second parse and no re-encoding.
struct SocketIORequest {
    private var value: JSONValue?
    /// An object argument: each member's range in `bytes`, its value parsed only when asked for.
    private var members: [String: Range<Int>]?
    private var bytes: ByteBuffer

    static func isHubEvent(_ name: String) -> Bool {
        switch name {
        case "subscribe", "unsubscribe", "publish", "rpc", "history", "presence": true
        default: false
        }
    }

    /// nil when the event has no argument.
    init?(_ arguments: SocketIOEventArguments, _ packet: SocketIOPacket) {
        // `, {…}]` → `{…}`: the one argument, when there is exactly one.
        var view = arguments.rest
        view.trimJSONWhitespace()
        guard view.readInteger(as: UInt8.self) == UInt8(ascii: ","), view.readableBytes > 0 else { return nil }
        view.moveWriterIndex(to: view.writerIndex - 1)  // the array's `]`
        view.trimJSONWhitespace()
        self.bytes = view
        if view.getInteger(at: view.readerIndex, as: UInt8.self) == UInt8(ascii: "{"),
            let members = try? view.withUnsafeReadableBytes({ bytes throws(JSONError) in
                try JSONParser.memberRanges(bytes)
            })
        {
            self.members = members
            return
        }
        if let value = try? view.withUnsafeReadableBytes({ bytes throws(JSONError) in try JSONParser.parse(bytes) }) {
            self.value = value
            return
        }
        // Several arguments: the first is the request.
        guard case .array(let values)? = packet.json, values.count > 1 else { return nil }
        self.value = values[1]
        self.bytes = ByteBuffer()
    }

    var stringValue: String? { value?.stringValue }

    subscript(key: String) -> JSONValue? {
        guard let members else { return value?[key] }
        guard let member = raw(key) else { return nil }
        return try? member.withUnsafeReadableBytes { bytes throws(JSONError) in try JSONParser.parse(bytes) }
    }

    /// A member's bytes as the client wrote them (an object argument), else re-encoded.
    func raw(_ key: String) -> ByteBuffer? {
        if let members {
            guard let range = members[key] else { return nil }
            return bytes.getSlice(at: bytes.readerIndex + range.lowerBound, length: range.count)
        }
        guard let member = value?[key] else { return nil }
        var buffer = ByteBuffer()
        buffer.writeJSONValue(member)
        return buffer
    }
}

extension ByteBuffer {
    /// Drops JSON whitespace at both ends of the readable bytes.
    fileprivate mutating func trimJSONWhitespace() {
        func isSpace(_ byte: UInt8?) -> Bool { byte.map { [0x20, 0x09, 0x0A, 0x0D].contains($0) } ?? false }
        while readableBytes > 0, isSpace(getInteger(at: readerIndex, as: UInt8.self)) { moveReaderIndex(forwardBy: 1) }
        while readableBytes > 0, isSpace(getInteger(at: writerIndex - 1, as: UInt8.self)) {
            moveWriterIndex(to: writerIndex - 1)
        }
    }
}
