import BusCore
import FrontendKit
import NIOCore

/// A recovery record as the instances share it (`BusEngine.keepRecord`, docs/protocols/socketio.md
/// "Recovery on another instance"): JSON under `socketio.pid:<pid>`, so a client whose transport dropped on
/// one instance recovers on whichever instance it comes back to. Its identity travels as the user id
/// only: the instance it comes back to authenticates the CONNECT again, and the two must name one user.
extension SocketIORecoveryRecord {
    /// The engine's key for a private id.
    static func sharedKey(_ privateID: String) -> String { "socketio.pid:" + privateID }

    /// `{"pid","sid","ns","user","rooms":[{"c","o","e"} | null],"recent":[slot, offset, …],"live":true?}`.
    var shared: ByteBuffer {
        var fields: [JSONField] = [
            JSONField(key: "pid", value: .string(privateID)),
            JSONField(key: "sid", value: .string(socketID)),
            JSONField(key: "ns", value: .string(namespace)),
            JSONField(key: "user", value: identity.userID.map { .string($0) } ?? .null),
        ]
        let rooms: [JSONValue] = rooms.map { room in
            guard let room else { return .null }
            var members = [JSONField(key: "c", value: .string(room.channel))]
            if let position = room.position {
                members.append(JSONField(key: "o", value: .number(String(position.offset))))
                members.append(JSONField(key: "e", value: .string(position.epoch)))
            }
            if room.joinedAt > 0 { members.append(JSONField(key: "j", value: .number(String(room.joinedAt)))) }
            return .object(members)
        }
        fields.append(JSONField(key: "rooms", value: .array(rooms)))
        var recentValues: [JSONValue] = []
        recentValues.reserveCapacity(recent.count * 2)
        for delivery in recent {
            recentValues.append(.number(String(delivery.room)))
            recentValues.append(.number(String(delivery.offset)))
        }
        fields.append(JSONField(key: "recent", value: .array(recentValues)))
        if isLive { fields.append(JSONField(key: "live", value: .bool(true))) }
        var buffer = ByteBuffer()
        buffer.writeJSONValue(.object(fields))
        return buffer
    }

    /// The record another instance kept (`shared`), for a CONNECT authenticated as `identity`; nil when the
    /// bytes are not one, or it names another user.
    init?(shared buffer: ByteBuffer, identity: ClientIdentity, now: UInt64, window: UInt64) {
        guard let value = try? buffer.withUnsafeReadableBytes({ try JSONParser.parse($0) }),
            let privateID = value["pid"]?.stringValue, let socketID = value["sid"]?.stringValue,
            let namespace = value["ns"]?.stringValue, let roomValues = value["rooms"]?.arrayValue,
            let recentValues = value["recent"]?.arrayValue, recentValues.count.isMultiple(of: 2)
        else { return nil }
        guard value["user"]?.stringValue == identity.userID else { return nil }
        var rooms: [Room?] = []
        for roomValue in roomValues {
            guard case .object = roomValue else {
                rooms.append(nil)
                continue
            }
            guard let channel = roomValue["c"]?.stringValue else { return nil }
            var position: LogPosition?
            if let offset = roomValue["o"]?.uint64Value, let epoch = roomValue["e"]?.stringValue {
                position = LogPosition(offset: offset, epoch: epoch)
            }
            rooms.append(Room(channel: channel, position: position, joinedAt: roomValue["j"]?.uint64Value ?? 0))
        }
        var recent: [SocketIODeliveryRecord] = []
        recent.reserveCapacity(recentValues.count / 2)
        var index = 0
        while index < recentValues.count {
            guard let slot = recentValues[index].intValue, rooms.indices.contains(slot),
                let offset = recentValues[index + 1].uint64Value
            else { return nil }
            recent.append(SocketIODeliveryRecord(room: Int32(slot), offset: offset))
            index += 2
        }
        self.init(
            privateID: privateID, socketID: socketID, namespace: namespace, identity: identity, rooms: rooms,
            recent: recent, keptAt: now, expiresAt: now + window)
        if case .bool(true)? = value["live"] { isLive = true }
    }
}
