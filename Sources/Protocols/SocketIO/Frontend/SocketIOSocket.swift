import BusCore
import BusRuntime
import DequeModule
import FrontendKit
import NIOCore

/// One Socket.IO socket: a namespace connected on an Engine.IO session. Its rooms are bus channels
/// under the namespace's prefix; with recovery on it remembers its last deliveries (16 bytes each).
/// It is the bus subscriber of its rooms, so a delivery over WebSocket touches this object, the
/// handler and the channel only (SocketIOSession+Deliveries.swift); confined to the session's loop.
final class SocketIOSocket: @unchecked Sendable {
    /// The session it is multiplexed on. The session holds its sockets until each ends (`endSocket`),
    /// which is where this cycle is broken.
    let session: SocketIOSession
    let eventLoop: any EventLoop
    let metricsSlot: ProtocolMetricsSlot
    var deliveryMark: UInt64 = 0
    /// The session's WebSocket while it is the transport, kept here by the session.
    var webSocket: SocketIOWebSocketHandler?
    let namespace: String
    /// `/` is 0: the key of the namespace's wire forms in the encode-once cache.
    let namespaceID: Int
    /// The channel prefix of the namespace: `""` for `/`, `chat/` for `/chat`.
    let prefix: String
    /// The public id (the CONNECT answer's `sid`) and the private one recovery is asked with (`pid`).
    let socketID: String
    let privateID: String?
    var identity: ClientIdentity
    /// Rooms by slot (`BusSubscription.localIndex & 0xFFFF`); nil for a room that was left.
    var rooms: [SocketIORoom?] = []
    var roomSlots: [String: Int] = [:]
    /// Rooms joined and not left: with more than one, rooms may overlap.
    var roomCount = 0
    /// With recovery on: the last deliveries on rooms with history, oldest first.
    var recent = Deque<SocketIODeliveryRecord>()
    let recentCapacity: Int
    /// The message last delivered in this batch, to send it once through overlapping rooms.
    var lastDelivered: BusMessage?
    /// Deliveries with a position so far (`SocketIOOffset.Vector.count`).
    var deliveryCount: UInt64 = 0
    /// Its room emits carry its id as their publisher (`socket.to(room).emit` skips the sender), so publisher
    /// flow control finds the session by it (`ConnectionRegistry.setPausablePublisher`) once it has emitted.
    var isPausablePublisher = false
    /// With an engine: this instance has written the socket's shared record, so each later write only
    /// replaces it (`onlyIfKept`). Another instance that took it meanwhile — the client came back there
    /// before this one noticed the drop — has used it; a late refresh here must not bring it back.
    var sharedRecordKept = false

    init(
        session: SocketIOSession, namespace: String, namespaceID: Int, socketID: String, privateID: String?,
        identity: ClientIdentity, recentCapacity: Int
    ) {
        self.session = session
        self.eventLoop = session.eventLoop
        self.metricsSlot = session.metricsSlot
        self.namespace = namespace
        self.namespaceID = namespaceID
        self.prefix = namespace == "/" ? "" : String(namespace.dropFirst()) + "/"
        self.socketID = socketID
        self.privateID = privateID
        self.identity = identity
        self.recentCapacity = recentCapacity
    }

    var canRecover: Bool { privateID != nil }

    /// The bus channel of a room name the client used.
    func channel(_ room: String) -> String { prefix + room }

    /// Notes a delivery on the room at `slot` (recovery on, message with a position).
    func recordDelivery(slot: Int, position: LogPosition) {
        guard var room = rooms[slot] else { return }
        deliveryCount &+= 1
        room.lastOffset = position.offset
        rooms[slot] = room
        if room.position?.epoch != position.epoch {
            // The log was reset: the room restarts from here, its older deliveries are meaningless.
            room.position = position
            rooms[slot] = room
            recent.removeAll { $0.room == Int32(slot) }
            return
        }
        if recent.count == recentCapacity, let oldest = recent.popFirst(), var base = rooms[Int(oldest.room)],
            let epoch = base.position?.epoch
        {
            base.position = LogPosition(offset: oldest.offset, epoch: epoch)
            rooms[Int(oldest.room)] = base
        }
        recent.append(SocketIODeliveryRecord(room: Int32(slot), offset: position.offset))
    }

    /// What recovery keeps when the transport is lost.
    func recoveryRecord(now: UInt64, window: UInt64) -> SocketIORecoveryRecord? {
        guard let privateID else { return nil }
        return SocketIORecoveryRecord(
            privateID: privateID, socketID: socketID, namespace: namespace, identity: identity,
            rooms: rooms.map {
                $0.map {
                    SocketIORecoveryRecord.Room(channel: $0.channel, position: $0.position, joinedAt: $0.joinedAt)
                }
            },
            recent: Array(recent), keptAt: now, expiresAt: now + window)
    }

    /// Whether this socket's events carry a vector offset (`SocketIOOffset.Vector`): recovery on, instances
    /// sharing an engine, and two or more rooms with history.
    var usesVectorOffsets: Bool {
        guard canRecover, session.bus.engine != nil else { return false }
        var withHistory = 0
        for case let room? in rooms where room.position != nil {
            withHistory += 1
            if withHistory == 2 { return true }
        }
        return false
    }

    /// The vector offset of a delivery about to be recorded on `slot` at `offset`.
    func vectorOffset(slot: Int, offset: UInt64, channel: String) -> String {
        var positions: [(slot: Int, offset: UInt64)] = []
        for (index, room) in rooms.enumerated() {
            guard let room, room.position != nil else { continue }
            let last = index == slot ? offset : room.lastOffset ?? room.position?.offset
            if let last { positions.append((index, last)) }
        }
        return SocketIOOffset.vector(count: deliveryCount &+ 1, rooms: positions, offset: offset, channel: channel)
    }
}
