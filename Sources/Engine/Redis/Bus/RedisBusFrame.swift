package import BusCore
package import NIOCore
import Storage

/// A publication as it travels between instances: who sent it, its topic, and the message in the store's
/// encoding (`StoredMessageCodec`: timestamp, headers, payload). Every length is checked on the way in; a
/// frame that is not whole and valid reads as nil.
///
///     u8  version (1)
///     u16 instance id length, id (UTF-8)
///     u64 sequence: one more for each frame the instance sends (a receiver drops a frame it had already:
///         Redis delivers a message once per matching subscription, channel and pattern alike)
///     u16 topic length, topic (UTF-8)
///     the stored message
package enum RedisBusFrame {
    static let version: UInt8 = 1

    package static func encode(_ message: BusMessage, instance: String) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.reserveCapacity(message.payload.readableBytes + message.topic.name.utf8.count + 64)
        buffer.writeInteger(version)
        buffer.writeInteger(UInt16(instance.utf8.count), endianness: .little)
        buffer.writeString(instance)
        buffer.writeInteger(UInt64(0), endianness: .little)
        buffer.writeInteger(UInt16(message.topic.name.utf8.count), endianness: .little)
        buffer.writeString(message.topic.name)
        StoredMessageCodec.encode(message, into: &buffer)
        return buffer
    }

    /// Numbers a frame `encode` made for `instance` (under the sender's lock, in sending order).
    static func setSequence(_ sequence: UInt64, in frame: inout ByteBuffer, instance: String) {
        frame.setInteger(sequence, at: frame.readerIndex + 3 + instance.utf8.count, endianness: .little)
    }

    /// The topic of a frame this instance made (for its channel name).
    static func topic(of frame: ByteBuffer) -> String? {
        var buffer = frame
        guard buffer.readInteger(as: UInt8.self) == version,
            let idLength = buffer.readInteger(endianness: .little, as: UInt16.self),
            buffer.readSlice(length: Int(idLength)) != nil,
            buffer.readInteger(endianness: .little, as: UInt64.self) != nil,
            let topicLength = buffer.readInteger(endianness: .little, as: UInt16.self)
        else { return nil }
        return buffer.readString(length: Int(topicLength))
    }

    package static func decode(_ frame: ByteBuffer) -> (instance: String, sequence: UInt64, message: BusMessage)? {
        var buffer = frame
        guard buffer.readInteger(as: UInt8.self) == version,
            let idLength = buffer.readInteger(endianness: .little, as: UInt16.self),
            let instance = buffer.readString(length: Int(idLength)),
            let sequence = buffer.readInteger(endianness: .little, as: UInt64.self),
            let topicLength = buffer.readInteger(endianness: .little, as: UInt16.self),
            let name = buffer.readString(length: Int(topicLength)),
            let topic = try? Topic(name),
            let message = StoredMessageCodec.decode(buffer, topic: topic, position: nil)
        else { return nil }
        return (instance, sequence, message.fromRemoteInstance())
    }
}
