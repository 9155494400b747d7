package import BusCore
package import NIOCore
import Storage

/// What travels between instances: a publication, a presence join or leave, or the engine's own
/// heartbeat, hello and goodbye. Little-endian; every length is checked on the way in, and a frame that is
/// not whole and valid reads as nil.
///
///     u8  version (1)
///     u16 instance id length, id (UTF-8)
///     u64 sequence: one more for each frame the instance sends (a receiver drops a frame it had already:
///         Redis delivers a message once per matching subscription, channel and pattern alike)
///     u8  kind: 0 publication, 1 join, 2 leave, 3 heartbeat, 4 hello, 5 goodbye, 6 retained message,
///         7 claim (a connection here took a client identifier: the others' connection with it ends),
///         8 group (this instance has members of a shared group, or no longer has),
///         9 interest (on Redis Cluster: every wildcard filter this instance's subscribers hold now),
///         10 connections (how many connections the instance holds, sent with each heartbeat)
///     u16 topic length, topic (UTF-8; empty for 3–5, 9 and 10; the client identifier for 7; the group's
///         key for 8)
///     kind 8: u8 1 (has members) or 0
///     kind 10: u64 count
///     kind 9: u32 count, then each filter as str
///     kind 0, 6: the message in the store's encoding (`StoredMessageCodec`: timestamp, headers, payload;
///         for 6 an empty payload clears the topic's retained message)
///     kind 1, 2: the client: str id, opt str user, opt str name, str protocol, u64 connectedAt (the
///         Double's bits), opt str remote address — str = u16 length + UTF-8, opt = u8 0/1 then str
package enum RedisBusFrame {
    static let version: UInt8 = 1

    /// A frame's content, decoded.
    package enum Event: Sendable {
        case message(BusMessage)
        case join(Topic, PresenceInfo)
        case leave(Topic, PresenceInfo)
        case heartbeat
        case hello
        case goodbye
        case retained(BusMessage)
        case claim(String)
        case group(String, members: Bool)
        case interest([String])
        /// How many connections the sending instance holds (its share of `switchboard_cluster_connections`).
        case connections(Int)
    }

    /// An instance older than kind 10 reads a frame of it as one that does not decode, and drops it.
    enum Kind: UInt8 {
        case message = 0, join, leave, heartbeat, hello, goodbye, retained, claim, group, interest, connections
    }

    /// A publication or a presence event as a frame (sequence 0 until `setSequence`).
    package static func encode(_ message: BusMessage, instance: String) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.reserveCapacity(message.payload.readableBytes + message.topic.name.utf8.count + 64)
        switch message.kind {
        case .publish:
            header(.message, instance: instance, topic: message.topic.name, into: &buffer)
            StoredMessageCodec.encode(message, into: &buffer)
        case .join(let info):
            header(.join, instance: instance, topic: message.topic.name, into: &buffer)
            write(info, into: &buffer)
        case .leave(let info):
            header(.leave, instance: instance, topic: message.topic.name, into: &buffer)
            write(info, into: &buffer)
        }
        return buffer
    }

    /// A retained message set (or cleared, with an empty payload) on `instance`.
    static func retained(_ message: BusMessage, instance: String) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.reserveCapacity(message.payload.readableBytes + message.topic.name.utf8.count + 64)
        header(.retained, instance: instance, topic: message.topic.name, into: &buffer)
        StoredMessageCodec.encode(message, into: &buffer)
        return buffer
    }

    /// A client identifier a connection on `instance` took.
    static func claim(_ publisherID: String, instance: String) -> ByteBuffer {
        var buffer = ByteBuffer()
        header(.claim, instance: instance, topic: publisherID, into: &buffer)
        return buffer
    }

    /// Whether `instance` has members of the shared group `key`.
    static func group(_ key: String, members: Bool, instance: String) -> ByteBuffer {
        var buffer = ByteBuffer()
        header(.group, instance: instance, topic: key, into: &buffer)
        buffer.writeInteger(UInt8(members ? 1 : 0))
        return buffer
    }

    /// Every wildcard filter `instance`'s subscribers hold now (Redis Cluster's interest table).
    static func interest(_ filters: [String], instance: String) -> ByteBuffer {
        var buffer = ByteBuffer()
        header(.interest, instance: instance, topic: "", into: &buffer)
        buffer.writeInteger(UInt32(filters.count), endianness: .little)
        for filter in filters { writeString(filter, &buffer) }
        return buffer
    }

    /// How many connections `instance` holds.
    static func connections(_ count: Int, instance: String) -> ByteBuffer {
        var buffer = ByteBuffer()
        header(.connections, instance: instance, topic: "", into: &buffer)
        buffer.writeInteger(UInt64(max(0, count)), endianness: .little)
        return buffer
    }

    /// A frame of the engine's own (heartbeat, hello, goodbye).
    static func control(_ kind: Kind, instance: String) -> ByteBuffer {
        var buffer = ByteBuffer()
        header(kind, instance: instance, topic: "", into: &buffer)
        return buffer
    }

    private static func header(_ kind: Kind, instance: String, topic: String, into buffer: inout ByteBuffer) {
        buffer.writeInteger(version)
        buffer.writeInteger(UInt16(instance.utf8.count), endianness: .little)
        buffer.writeString(instance)
        buffer.writeInteger(UInt64(0), endianness: .little)
        buffer.writeInteger(kind.rawValue)
        buffer.writeInteger(UInt16(topic.utf8.count), endianness: .little)
        buffer.writeString(topic)
    }

    /// Numbers a frame made for `instance` (under the sender's lock, in sending order).
    static func setSequence(_ sequence: UInt64, in frame: inout ByteBuffer, instance: String) {
        frame.setInteger(sequence, at: frame.readerIndex + 3 + instance.utf8.count, endianness: .little)
    }

    /// The kind and topic of a frame this instance made (for its channel).
    static func route(of frame: ByteBuffer) -> (kind: Kind, topic: String)? {
        var buffer = frame
        guard buffer.readInteger(as: UInt8.self) == version,
            let idLength = buffer.readInteger(endianness: .little, as: UInt16.self),
            buffer.readSlice(length: Int(idLength)) != nil,
            buffer.readInteger(endianness: .little, as: UInt64.self) != nil,
            let kind = buffer.readInteger(as: UInt8.self).flatMap(Kind.init),
            let topicLength = buffer.readInteger(endianness: .little, as: UInt16.self),
            let topic = buffer.readString(length: Int(topicLength))
        else { return nil }
        return (kind, topic)
    }

    /// A frame as the shared log's append sends it (docs/redis.md, "History across instances"): `P`, the
    /// offset in decimal, a space, the epoch, a line feed, then the frame. Any other frame as `decode`
    /// reads it, without a position.
    package static func decodePositioned(_ payload: ByteBuffer)
        -> (instance: String, sequence: UInt64, event: Event, position: LogPosition?)?
    {
        guard payload.readableBytes > 0,
            payload.getInteger(at: payload.readerIndex, as: UInt8.self) == UInt8(ascii: "P")
        else {
            return decode(payload).map { ($0.instance, $0.sequence, $0.event, nil) }
        }
        var buffer = payload
        buffer.moveReaderIndex(forwardBy: 1)
        guard let space = buffer.readableBytesView.firstIndex(of: UInt8(ascii: " ")),
            let offset = buffer.readString(length: space - buffer.readerIndex).flatMap({ UInt64($0) }),
            buffer.readInteger(as: UInt8.self) != nil,
            let newline = buffer.readableBytesView.firstIndex(of: UInt8(ascii: "\n")),
            newline - buffer.readerIndex <= 64,
            let epoch = buffer.readString(length: newline - buffer.readerIndex),
            !epoch.isEmpty, offset > 0,
            buffer.readInteger(as: UInt8.self) != nil,
            let decoded = decode(buffer), case .message = decoded.event
        else { return nil }
        return (decoded.instance, decoded.sequence, decoded.event, LogPosition(offset: offset, epoch: epoch))
    }

    package static func decode(_ frame: ByteBuffer) -> (instance: String, sequence: UInt64, event: Event)? {
        var buffer = frame
        guard buffer.readInteger(as: UInt8.self) == version,
            let idLength = buffer.readInteger(endianness: .little, as: UInt16.self),
            let instance = buffer.readString(length: Int(idLength)),
            let sequence = buffer.readInteger(endianness: .little, as: UInt64.self),
            let kind = buffer.readInteger(as: UInt8.self).flatMap(Kind.init),
            let topicLength = buffer.readInteger(endianness: .little, as: UInt16.self),
            let name = buffer.readString(length: Int(topicLength))
        else { return nil }
        switch kind {
        case .claim:
            guard !name.isEmpty, buffer.readableBytes == 0 else { return nil }
            return (instance, sequence, .claim(name))
        case .group:
            guard !name.isEmpty, let flag = buffer.readInteger(as: UInt8.self), flag <= 1, buffer.readableBytes == 0
            else { return nil }
            return (instance, sequence, .group(name, members: flag == 1))
        case .interest:
            guard name.isEmpty, let count = buffer.readInteger(endianness: .little, as: UInt32.self),
                Int(count) <= buffer.readableBytes / 2
            else { return nil }
            var filters: [String] = []
            filters.reserveCapacity(Int(count))
            for _ in 0..<count {
                guard let filter = readString(&buffer) else { return nil }
                filters.append(filter)
            }
            guard buffer.readableBytes == 0 else { return nil }
            return (instance, sequence, .interest(filters))
        case .connections:
            guard name.isEmpty, let count = buffer.readInteger(endianness: .little, as: UInt64.self),
                count <= UInt64(Int32.max), buffer.readableBytes == 0
            else { return nil }
            return (instance, sequence, .connections(Int(count)))
        case .heartbeat, .hello, .goodbye:
            guard name.isEmpty, buffer.readableBytes == 0 else { return nil }
            return (instance, sequence, kind == .heartbeat ? .heartbeat : kind == .hello ? .hello : .goodbye)
        case .message, .retained:
            guard let topic = try? Topic(name),
                let message = StoredMessageCodec.decode(buffer, topic: topic, position: nil)
            else { return nil }
            let remote = message.fromRemoteInstance()
            return (instance, sequence, kind == .message ? .message(remote) : .retained(remote))
        case .join, .leave:
            guard let topic = try? Topic(name), let info = readInfo(&buffer), buffer.readableBytes == 0 else {
                return nil
            }
            return (instance, sequence, kind == .join ? .join(topic, info) : .leave(topic, info))
        }
    }

    // MARK: - Presence entries

    private static func write(_ info: PresenceInfo, into buffer: inout ByteBuffer) {
        writeString(info.clientID, &buffer)
        writeOptional(info.userID, &buffer)
        writeOptional(info.name, &buffer)
        writeString(info.protocolName, &buffer)
        buffer.writeInteger(info.connectedAt.bitPattern, endianness: .little)
        writeOptional(info.remoteAddress, &buffer)
    }

    private static func readInfo(_ buffer: inout ByteBuffer) -> PresenceInfo? {
        guard let client = readString(&buffer), let user = readOptional(&buffer), let name = readOptional(&buffer),
            let protocolName = readString(&buffer),
            let connectedAt = buffer.readInteger(endianness: .little, as: UInt64.self),
            let address = readOptional(&buffer)
        else { return nil }
        return PresenceInfo(
            clientID: client, userID: user, name: name, protocolName: protocolName,
            connectedAt: Double(bitPattern: connectedAt), remoteAddress: address)
    }

    private static func writeString(_ value: String, _ buffer: inout ByteBuffer) {
        let bytes = value.utf8.prefix(Int(UInt16.max))
        buffer.writeInteger(UInt16(bytes.count), endianness: .little)
        buffer.writeBytes(bytes)
    }

    private static func readString(_ buffer: inout ByteBuffer) -> String? {
        guard let length = buffer.readInteger(endianness: .little, as: UInt16.self) else { return nil }
        return buffer.readString(length: Int(length))
    }

    private static func writeOptional(_ value: String?, _ buffer: inout ByteBuffer) {
        guard let value else {
            buffer.writeInteger(UInt8(0))
            return
        }
        buffer.writeInteger(UInt8(1))
        writeString(value, &buffer)
    }

    /// `.some(nil)` for an absent value, nil for a malformed one.
    private static func readOptional(_ buffer: inout ByteBuffer) -> String?? {
        switch buffer.readInteger(as: UInt8.self) {
        case 0: return .some(nil)
        case 1: return readString(&buffer).map { .some($0) }
        default: return nil
        }
    }
}
