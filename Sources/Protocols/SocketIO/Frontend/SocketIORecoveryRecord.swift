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

    /// A live record knows no deliveries: the client's last offset places the one room with history it
    /// names, and nothing places any other. So it resumes exactly only a socket with at most one room
    /// with history (the others, without history, have nothing to replay); any other is not recovered.
    private func liveResumePositions(after clientOffset: String) -> [Room]? {
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
        guard let colon = text.firstIndex(of: ":"), let offset = UInt64(text[..<colon]) else { return nil }
        return (offset, String(text[text.index(after: colon)...]))
    }
}
