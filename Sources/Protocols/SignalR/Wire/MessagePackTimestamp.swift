package import NIOCore

/// The timestamp extension (type −1, msgpack spec.md §Timestamp extension type): seconds since
/// 1970-01-01 00:00:00 UTC and nanoseconds, in the 32-, 64- or 96-bit form.
package struct MessagePackTimestamp: Sendable, Hashable {
    /// The extension type of a timestamp.
    package static let extensionType: Int8 = -1

    package var seconds: Int64
    /// 0 to 999,999,999.
    package var nanoseconds: UInt32

    package init(seconds: Int64, nanoseconds: UInt32 = 0) {
        precondition(nanoseconds <= 999_999_999, "nanoseconds must be below one second")
        self.seconds = seconds
        self.nanoseconds = nanoseconds
    }

    /// Reads the extension's data: 4 bytes (seconds), 8 (30-bit nanoseconds, 34-bit seconds) or 12
    /// (32-bit nanoseconds, 64-bit signed seconds). nil for any other length or nanoseconds over
    /// 999,999,999 ("nanoseconds must not be larger than 999999999").
    package init?(data: ByteBuffer) {
        var data = data
        switch data.readableBytes {
        case 4:
            self.init(seconds: Int64(data.readInteger(as: UInt32.self)!))
        case 8:
            let packed = data.readInteger(as: UInt64.self)!
            let nanoseconds = UInt32(packed >> 34)
            guard nanoseconds <= 999_999_999 else { return nil }
            self.init(seconds: Int64(packed & 0x3_FFFF_FFFF), nanoseconds: nanoseconds)
        case 12:
            let nanoseconds = data.readInteger(as: UInt32.self)!
            guard nanoseconds <= 999_999_999 else { return nil }
            self.init(seconds: data.readInteger(as: Int64.self)!, nanoseconds: nanoseconds)
        default:
            return nil
        }
    }

    /// The extension's data in the smallest form that holds the value (the spec's serialization
    /// pseudo code): 32-bit when there are no nanoseconds and the seconds fit, 64-bit when the seconds
    /// fit 34 bits, else 96-bit.
    package var data: ByteBuffer {
        var buffer = ByteBuffer()
        if seconds >= 0, seconds >> 34 == 0 {
            let packed = UInt64(nanoseconds) << 34 | UInt64(seconds)
            if packed >> 32 == 0 {
                buffer.writeInteger(UInt32(packed))
            } else {
                buffer.writeInteger(packed)
            }
        } else {
            buffer.writeInteger(nanoseconds)
            buffer.writeInteger(seconds)
        }
        return buffer
    }

    /// The timestamp as a MessagePack value.
    package var value: MessagePackValue { .ext(type: Self.extensionType, data: data) }
}

extension MessagePackValue {
    /// The timestamp, when the value is a well-formed timestamp extension.
    package var timestampValue: MessagePackTimestamp? {
        guard case .ext(MessagePackTimestamp.extensionType, let data) = self else { return nil }
        return MessagePackTimestamp(data: data)
    }
}
