import BusCore
import BusRuntime
import FrontendKit
import NIOCore
import SocketIOWire

/// The Socket.IO layer of a session: packets in, namespaces connected and left.
extension SocketIOSession {
    /// An Engine.IO message: a Socket.IO packet's text, or one of its binary attachments.
    func socketIOMessageReceived(_ packet: EngineIOPacket) {
        do {
            if packet.isBinary {
                if let message = try assembler.attachmentReceived(packet.data) { handle(message) }
                return
            }
            guard !assembler.isAssembling else { throw SocketIOError.invalidPacket("attachment expected") }
            let decoded = try SocketIOPacket.decode(packet.data, limits: services.socketLimits)
            if let message = assembler.packetReceived(decoded) { handle(message) }
        } catch {
            // The reference server closes the session on a parse error; nothing else is affected.
            close(.protocolError)
        }
    }

    func slot(of namespace: String) -> Int? {
        sockets.firstIndex { $0?.namespace == namespace }
    }

    private func handle(_ message: SocketIOMessage) {
        let packet = message.packet
        switch packet.type {
        case .connect:
            connect(namespace: packet.namespace, auth: packet.json)
        case .disconnect:
            if let slot = slot(of: packet.namespace) { endSocket(slot: slot, keepForRecovery: false) }
        case .event, .binaryEvent:
            // Events for a namespace the client has not connected are ignored, as the reference server does.
            guard let slot = slot(of: packet.namespace), let socket = sockets[slot] else { return }
            eventReceived(socket, slot: slot, message)
        case .ack, .binaryAck:
            // The answer to an RPC request the hub sent with an ack id.
            guard let slot = slot(of: packet.namespace), let socket = sockets[slot] else { return }
            replyReceived(packet, socket: socket)
        case .connectError:
            close(.protocolError)
        }
    }

    // MARK: - CONNECT

    private func connect(namespace: String, auth: JSONValue?) {
        guard configuration.allows(namespace: namespace) else {
            return sendConnectError(namespace, message: "Invalid namespace")
        }
        guard slot(of: namespace) == nil, !connecting.contains(namespace) else { return }
        guard sockets.lazy.compactMap({ $0 }).count < services.socketLimits.maxNamespacesPerSession else {
            return sendConnectError(namespace, message: "Too many namespaces")
        }
        var credentials = handshakeCredentials
        credentials.clientID = info.id
        // The suites send made-up tokens the reference server never checks.
        if !configuration.conformanceMode, let fields = auth {
            if let token = fields["token"]?.stringValue { credentials.token = token }
            if let user = fields["username"]?.stringValue, let password = fields["password"]?.stringValue {
                credentials.username = user
                credentials.password = password
            }
        }
        // A password is checked off the loop first (PBKDF2); the CONNECT is answered when it is done.
        if let preparing = services.authenticator.prepare(credentials, on: eventLoop) {
            connecting.insert(namespace)
            preparing.whenComplete { [self] _ in
                connecting.remove(namespace)
                guard !isClosed else { return }
                authenticated(namespace: namespace, auth: auth, credentials: credentials)
                flush()
            }
            return
        }
        authenticated(namespace: namespace, auth: auth, credentials: credentials)
    }

    private func authenticated(namespace: String, auth: JSONValue?, credentials: ClientCredentials) {
        let identity: ClientIdentity
        switch services.authenticator.authenticate(credentials) {
        case .refused(let reason):
            services.counters.countAuthenticationFailure()
            return sendConnectError(namespace, message: reason, code: "unauthorized")
        case .accepted(let accepted):
            identity = accepted
        }
        if lifecycle.info.userID == nil, identity.userID != nil {
            lifecycle.identity = identity
            lifecycle.update { $0.userID = identity.userID }
        }
        socketConnected()
        if let engine = bus.engine, let (privateID, offset) = recoveryRequest(auth) {
            return recoverShared(
                namespace: namespace, auth: auth, identity: identity, privateID: privateID, offset: offset,
                engine: engine)
        }
        if let record = recoveryRecord(for: namespace, auth: auth, identity: identity) {
            return resume(record.0, positions: record.1)
        }
        startSocket(namespace: namespace, auth: auth, identity: identity)
    }

    /// A new socket: new ids, no rooms.
    func startSocket(namespace: String, auth: JSONValue?, identity: ClientIdentity) {
        let recovery = configuration.recoverySeconds > 0 && !configuration.conformanceMode
        let socket = SocketIOSocket(
            session: self, namespace: namespace, namespaceID: services.namespaceID(namespace),
            socketID: bus.makeIdentifier(),
            privateID: recovery ? bus.makeIdentifier() + bus.makeIdentifier() : nil, identity: identity,
            recentCapacity: configuration.recoveryBuffer)
        install(socket)
        sendConnected(socket)
        if configuration.conformanceMode {
            // The suites' server emits the CONNECT auth back: `42["auth",{…}]`, in a later write than the
            // CONNECT answer — the suite starts listening for it only once it has read that answer.
            var data = ByteBuffer(string: "[\"auth\",")
            if let auth { data.writeJSONValue(auth) } else { data.writeStaticString("{}") }
            data.writeStaticString("]")
            let packet = EngineIOPacket.message(SocketIOPacket(.event, namespace: namespace, data: data).encoded)
            eventLoop.scheduleTask(in: .milliseconds(5)) { [self] in
                send(packet)
                flush()
            }
        }
    }

    /// The private id and last offset a CONNECT asks to recover with (`auth.pid` + `auth.offset`).
    func recoveryRequest(_ auth: JSONValue?) -> (String, String)? {
        guard configuration.recoverySeconds > 0, !configuration.conformanceMode,
            let pid = auth?["pid"]?.stringValue, let offset = auth?["offset"]?.stringValue
        else { return nil }
        return (pid, offset)
    }

    /// The record of a dropped socket the CONNECT asks to recover (`auth.pid` + `auth.offset`), with
    /// where each room resumes; nil when there is none or it cannot be recovered exactly.
    private func recoveryRecord(for namespace: String, auth: JSONValue?, identity: ClientIdentity) -> (
        SocketIORecoveryRecord, [SocketIORecoveryRecord.Room]
    )? {
        guard let (pid, offset) = recoveryRequest(auth),
            let record = services.registry.take(pid, now: bus.clock()),
            record.namespace == namespace, record.identity.userID == identity.userID,
            let positions = record.resumePositions(after: offset)
        else { return nil }
        return (record, positions)
    }

    /// Recovers a dropped socket: the same ids, its rooms again, then every event it missed (from each
    /// room's log, after the position it had reached) before live events, exactly once.
    func resume(_ record: SocketIORecoveryRecord, positions: [SocketIORecoveryRecord.Room]) {
        let socket = SocketIOSocket(
            session: self, namespace: record.namespace, namespaceID: services.namespaceID(record.namespace),
            socketID: record.socketID, privateID: record.privateID, identity: record.identity,
            recentCapacity: configuration.recoveryBuffer)
        let slot = install(socket)
        sendConnected(socket)
        for room in positions {
            guard let filter = try? TopicFilter(room.channel, limits: bus.configuration.topicLimits) else { continue }
            let history: Bus.HistoryRequest? = room.position.map { .recover($0, fallback: 0) }
            let joined = join(socket, slot: slot, channel: room.channel, filter: filter, history: history)
            // The room has been sent up to where it resumes, not to the log's head the join saw: a live
            // record written from here places the replay still to come (another `kill -9`).
            let roomSlot = joined.subscription.localIndex & 0xFFFF
            if let resumedFrom = room.position, joined.position?.epoch == resumedFrom.epoch,
                var joinedRoom = socket.rooms[roomSlot]
            {
                joinedRoom.position = resumedFrom
                joinedRoom.lastOffset = resumedFrom.offset
                socket.rooms[roomSlot] = joinedRoom
            }
            for message in joined.messages { deliverMissed(message, subscription: joined.subscription) }
        }
        shareLiveRecord(socket)
    }

    @discardableResult
    private func install(_ socket: SocketIOSocket) -> Int {
        socket.webSocket = webSocketHandler
        if let free = sockets.firstIndex(where: { $0 == nil }) {
            sockets[free] = socket
            return free
        }
        sockets.append(socket)
        return sockets.count - 1
    }

    private func sendConnected(_ socket: SocketIOSocket) {
        var data = ByteBuffer(string: "{\"sid\":")
        data.writeJSONString(socket.socketID)
        if let pid = socket.privateID {
            data.writeStaticString(",\"pid\":")
            data.writeJSONString(pid)
        }
        data.writeStaticString("}")
        send(.message(SocketIOPacket(.connect, namespace: socket.namespace, data: data).encoded))
    }

    /// `44<ns>,{"message":…}` (with `data.code` for a refused login).
    func sendConnectError(_ namespace: String, message: String, code: String? = nil) {
        var data = ByteBuffer(string: "{\"message\":")
        data.writeJSONString(message)
        if let code {
            data.writeStaticString(",\"data\":{\"code\":")
            data.writeJSONString(code)
            data.writeStaticString("}")
        }
        data.writeStaticString("}")
        // A namespace the client spelled without a comma is answered with one, as the reference server does.
        send(.message(SocketIOPacket(.connectError, namespace: namespace, data: data).encoded))
    }

    // MARK: - Rooms

    /// Subscribes a socket's room; the result holds the history the request asked for (oldest first).
    /// A room on a filter that a stream covers follows the stream when recovery is on (`.last(0)`), so its
    /// events carry stream positions and a dropped socket recovers the room like a concrete one.
    func join(
        _ socket: SocketIOSocket, slot: Int, channel: String, filter: TopicFilter, history: Bus.HistoryRequest?
    ) -> Bus.SubscribeResult {
        var history = history
        if history == nil, filter.hasWildcards, filter.shareGroup == nil, configuration.recoverySeconds > 0,
            !configuration.conformanceMode, bus.streams.covering(filter) != nil
        {
            history = .last(0)
        }
        let result = bus.subscribe(
            filter, subscriber: socket, subscriberID: info.id,
            options: socket.identity.subscriptionOptions(), presence: info.presence,
            history: history,
            streamEnded: { [weak self, weak socket] _ in
                // The stream the room followed is gone: the room ends, as a left one.
                guard let self, let socket, let slot = socket.roomSlots[channel],
                    socket.rooms[slot]?.subscription.isActive == false
                else { return }
                _ = self.leave(socket, channel: channel)
            })
        let roomSlot = socket.rooms.firstIndex(where: { $0 == nil }) ?? socket.rooms.count
        result.subscription.localIndex = slot << 16 | roomSlot
        let room = SocketIORoom(
            channel: channel, subscription: result.subscription, position: result.position,
            lastOffset: result.position?.offset, joinedAt: socket.deliveryCount)
        if roomSlot == socket.rooms.count { socket.rooms.append(room) } else { socket.rooms[roomSlot] = room }
        socket.roomSlots[channel] = roomSlot
        socket.roomCount += 1
        lifecycle.update { $0.subscriptions.append(channel) }
        shareLiveRecord(socket)
        return result
    }

    /// Leaves one room.
    func leave(_ socket: SocketIOSocket, channel: String) -> Bool {
        guard let roomSlot = socket.roomSlots.removeValue(forKey: channel), let room = socket.rooms[roomSlot] else {
            return false
        }
        bus.unsubscribe(room.subscription, presenceClientID: info.id)
        socket.rooms[roomSlot] = nil
        socket.roomCount -= 1
        socket.recent.removeAll { $0.room == Int32(roomSlot) }
        lifecycle.update { info in
            if let index = info.subscriptions.firstIndex(of: channel) { info.subscriptions.remove(at: index) }
        }
        shareLiveRecord(socket)
        return true
    }

    /// A socket leaves: its rooms end (presence left); kept for recovery when its transport was lost.
    func endSocket(slot: Int, keepForRecovery: Bool) {
        guard let socket = sockets[slot] else { return }
        // Forgotten before its record is kept: a session that recovers the socket registers the id anew.
        if socket.isPausablePublisher {
            socket.isPausablePublisher = false
            services.connections.setPausablePublisher(socket.socketID, nil)
        }
        if keepForRecovery,
            let record = socket.recoveryRecord(
                now: bus.clock(), window: UInt64(configuration.recoverySeconds) * 1_000_000_000)
        {
            // With an engine the client may come back to any instance: the record waits in Redis.
            if bus.engine != nil { shareRecord(record, of: socket) } else { services.registry.keep(record) }
        } else if bus.engine != nil, let privateID = socket.privateID {
            forgetSharedRecord(privateID)
        }
        sockets[slot] = nil
        for channel in Array(socket.roomSlots.keys) { _ = leave(socket, channel: channel) }
        socket.webSocket = nil
    }
}
