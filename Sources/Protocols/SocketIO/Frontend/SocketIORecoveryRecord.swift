import BusCore
import BusRuntime
import DequeModule
import FrontendKit
import NIOCore

/// One room of a socket: the channel, its subscription, and the last log position the socket was sent
/// on it (from the join, then from each delivery), for connection state recovery.
struct SocketIORoom {
    var channel: String
    var subscription: BusSubscription
    var position: LogPosition?
    /// The offset last sent on the room (from the join, then each delivery), for vector offsets.
    var lastOffset: UInt64?
    /// The socket's `deliveryCount` when it joined: a client whose last event came before it had nothing
    /// of this room after its start.
    var joinedAt: UInt64 = 0
}

/// One delivery a socket was sent on a room with history: which room (its slot) and the message offset.
/// 16 bytes, so the recovery ring costs little per message.
struct SocketIODeliveryRecord: Sendable {
    var room: Int32
    var offset: UInt64
}

/// What connection state recovery keeps of a socket after its transport dropped (socket.io 4.6's
/// `connectionStateRecovery`): its ids, its identity, its rooms and its last deliveries; with the client's
/// last offset they tell exactly which events it missed.
struct SocketIORecoveryRecord: Sendable {
    struct Room: Sendable {
        var channel: String
        /// The position the socket had been sent on the room before `recent` starts (or at its join).
        var position: LogPosition?
        /// The socket's delivery count at its join (`SocketIORoom.joinedAt`).
        var joinedAt: UInt64 = 0
    }

    var privateID: String
    var socketID: String
    var namespace: String
    var identity: ClientIdentity
    /// By slot; nil for a slot whose room was left.
    var rooms: [Room?]
    var recent: [SocketIODeliveryRecord]
    /// When it was kept and when it goes (bus clock, ns).
    var keptAt: UInt64
    var expiresAt: UInt64
    /// A connected socket's record shared across instances (`SocketIOSession.shareLiveRecord`): rooms at
    /// their starting positions, no deliveries.
    var isLive = false

    /// Where each room resumes, given the last offset the client got (`SocketIOOffset`); nil when the
    /// offset is not one this socket was sent (too old, or made up): recovery then fails, as socket.io's
    /// does, and the client gets a new socket.
    func resumePositions(after clientOffset: String) -> [Room]? {
        if isLive { return liveResumePositions(after: clientOffset) }
        guard let (offset, channel) = SocketIOOffset.parse(clientOffset),
            let last = recent.lastIndex(where: { delivery in
                guard delivery.offset == offset, let room = rooms[Int(delivery.room)] else { return false }
                // A room on a filter follows a stream: its events name their own topic.
                return room.channel == channel || Self.filter(room.channel, matches: channel)
            })
        else { return nil }
        var reached = rooms
        for delivery in recent[...last] {
            guard var room = reached[Int(delivery.room)], let epoch = room.position?.epoch else { continue }
            room.position = LogPosition(offset: delivery.offset, epoch: epoch)
            reached[Int(delivery.room)] = room
        }
        return reached.compactMap { $0 }
    }

    /// A live record knows no deliveries: the client's last offset places the rooms. A vector offset (two
    /// or more rooms with history) places each; the shared form places the one room with history it
    /// names, so with it only a socket with at most one room with history resumes (the others, without
    /// history, have nothing to replay).
    private func liveResumePositions(after clientOffset: String) -> [Room]? {
        if let vector = SocketIOOffset.parseVector(clientOffset) { return vectorResumePositions(vector) }
        guard let (offset, channel) = SocketIOOffset.parse(clientOffset) else { return nil }
        var kept = rooms.compactMap { $0 }
        let withHistory = kept.indices.filter { kept[$0].position != nil }
        guard withHistory.count == 1, let index = withHistory.first, let start = kept[index].position,
            kept[index].channel == channel || Self.filter(kept[index].channel, matches: channel),
            offset >= start.offset
        else { return nil }
        kept[index].position = LogPosition(offset: offset, epoch: start.epoch)
        return kept
    }

    /// A vector offset (a socket in two or more rooms with history, with an engine) places every room
    /// with history: a room the client had joined by its last event resumes from the offset the vector
    /// gives for its slot; one joined after it, from its start (nothing of it had been sent before). A
    /// room the vector should name and does not, or places before its start, fails the recovery.
    private func vectorResumePositions(_ vector: SocketIOOffset.Vector) -> [Room]? {
        guard !vector.rooms.isEmpty else { return nil }
        var resumed: [Room] = []
        for (slot, room) in rooms.enumerated() {
            guard var room else { continue }
            guard let start = room.position, room.joinedAt < vector.count else {
                resumed.append(room)
                continue
            }
            guard let offset = vector.rooms[slot], offset >= start.offset else { return nil }
            room.position = LogPosition(offset: offset, epoch: start.epoch)
            resumed.append(room)
        }
        return resumed
    }

    private static func filter(_ filter: String, matches topic: String) -> Bool {
        guard let filter = try? TopicFilter(filter), filter.hasWildcards, let topic = try? Topic(topic) else {
            return false
        }
        return filter.matches(topic)
    }
}

/// The offset a socket's events carry as their last argument when recovery is on: the message's offset
/// and channel (`17:chat/room1`). A function of the message alone, so the same bytes serve every socket
/// (encoded once per message), and a client's last offset names exactly one of its deliveries.
enum SocketIOOffset {
    static func write(_ buffer: inout ByteBuffer, channel: String, offset: UInt64) {
        buffer.writeInteger(UInt8(ascii: "\""))
        buffer.writeDecimal(offset)
        buffer.writeInteger(UInt8(ascii: ":"))
        // Inside a JSON string: the channel is escaped as any string member.
        var escaped = ByteBuffer()
        escaped.writeJSONString(channel)
        buffer.writeImmutableBuffer(escaped.getSlice(at: 1, length: escaped.readableBytes - 2)!)
        buffer.writeInteger(UInt8(ascii: "\""))
    }

    static func parse(_ text: String) -> (UInt64, String)? {
        if text.hasPrefix("~") { return parseVector(text).map { ($0.offset, $0.channel) } }
        guard let colon = text.firstIndex(of: ":"), let offset = UInt64(text[..<colon]) else { return nil }
        return (offset, String(text[text.index(after: colon)...]))
    }

    /// A vector offset: `~<delivery count>;<slot>.<offset>,…;<offset>:<channel>` — the socket's deliveries
    /// so far, the offset last sent on each of its rooms with history (by slot), then the message's own
    /// offset and channel. Sent instead of the shared form to a socket in two or more rooms with history
    /// when instances share an engine, so that after its instance dies (`kill -9`) the client's last offset
    /// places every room (docs/protocols/socketio.md, "Recovery on another instance"). Per socket, so
    /// such a socket's events are encoded for it alone.
    struct Vector: Equatable {
        var count: UInt64
        var rooms: [Int: UInt64]
        var offset: UInt64
        var channel: String
    }

    static func vector(count: UInt64, rooms: [(slot: Int, offset: UInt64)], offset: UInt64, channel: String) -> String {
        var text = "~\(count);"
        for (index, room) in rooms.enumerated() {
            if index > 0 { text += "," }
            text += "\(room.slot).\(room.offset)"
        }
        return text + ";\(offset):\(channel)"
    }

    static func parseVector(_ text: String) -> Vector? {
        guard text.hasPrefix("~") else { return nil }
        let body = text.dropFirst()
        guard let firstSemicolon = body.firstIndex(of: ";"), let count = UInt64(body[..<firstSemicolon]) else {
            return nil
        }
        let afterCount = body[body.index(after: firstSemicolon)...]
        guard let secondSemicolon = afterCount.firstIndex(of: ";") else { return nil }
        var rooms: [Int: UInt64] = [:]
        for pair in afterCount[..<secondSemicolon].split(separator: ",", omittingEmptySubsequences: false) {
            let parts = pair.split(separator: ".", omittingEmptySubsequences: false)
            guard parts.count == 2, let slot = Int(parts[0]), slot >= 0, slot <= 0xFFFF, let offset = UInt64(parts[1]),
                rooms[slot] == nil
            else { return nil }
            rooms[slot] = offset
        }
        let last = afterCount[afterCount.index(after: secondSemicolon)...]
        guard let colon = last.firstIndex(of: ":"), let offset = UInt64(last[..<colon]) else { return nil }
        return Vector(count: count, rooms: rooms, offset: offset, channel: String(last[last.index(after: colon)...]))
    }
}
