package import BusCore
import NIOCore

/// The stored forms of what a durable queue keeps beside a message — its routing keys and `x-death`
/// history — and of a queue's or binding's arguments. Little-endian, length-prefixed, every length checked
/// on the way back in (a corrupted value reads as nil).
package enum StoredQueueCodec {
    private static let maxCount = 1 << 16

    package static func encode(strings: [String]) -> [UInt8] {
        var buffer = ByteBuffer()
        writeStrings(strings, &buffer)
        return Array(buffer.readableBytesView)
    }

    package static func decodeStrings(_ bytes: [UInt8]) -> [String]? {
        var buffer = ByteBuffer(bytes: bytes)
        guard let strings = readStrings(&buffer), buffer.readableBytes == 0 else { return nil }
        return strings
    }

    package static func encode(deaths: [DeathRecord]) -> [UInt8] {
        guard !deaths.isEmpty else { return [] }
        var buffer = ByteBuffer()
        buffer.writeInteger(UInt32(deaths.count), endianness: .little)
        for death in deaths {
            writeString(death.queue, &buffer)
            writeString(death.reason.rawValue, &buffer)
            buffer.writeInteger(death.count, endianness: .little)
            writeString(death.exchange, &buffer)
            writeStrings(death.routingKeys, &buffer)
            buffer.writeInteger(death.time, endianness: .little)
            if let expiration = death.originalExpiration {
                buffer.writeInteger(UInt8(1))
                writeString(expiration, &buffer)
            } else {
                buffer.writeInteger(UInt8(0))
            }
        }
        return Array(buffer.readableBytesView)
    }

    package static func decodeDeaths(_ bytes: [UInt8]) -> [DeathRecord]? {
        guard !bytes.isEmpty else { return [] }
        var buffer = ByteBuffer(bytes: bytes)
        guard let count = buffer.readInteger(endianness: .little, as: UInt32.self), count <= maxCount else {
            return nil
        }
        var deaths: [DeathRecord] = []
        for _ in 0..<count {
            guard let queue = readString(&buffer), let reasonText = readString(&buffer),
                let reason = DeadLetterReason(rawValue: reasonText),
                let number = buffer.readInteger(endianness: .little, as: Int64.self),
                let exchange = readString(&buffer), let keys = readStrings(&buffer),
                let time = buffer.readInteger(endianness: .little, as: UInt64.self),
                let hasExpiration = buffer.readInteger(as: UInt8.self)
            else { return nil }
            var expiration: String?
            if hasExpiration == 1 {
                guard let text = readString(&buffer) else { return nil }
                expiration = text
            }
            deaths.append(
                DeathRecord(
                    queue: queue, reason: reason, count: number, exchange: exchange, routingKeys: keys, time: time,
                    originalExpiration: expiration))
        }
        return buffer.readableBytes == 0 ? deaths : nil
    }

    package static func encode(arguments: [String: HeaderValue]) -> [UInt8] {
        guard !arguments.isEmpty else { return [] }
        var buffer = ByteBuffer()
        buffer.writeInteger(UInt32(arguments.count), endianness: .little)
        for (name, value) in arguments.sorted(by: { $0.key < $1.key }) {
            writeString(name, &buffer)
            switch value {
            case .string(let text):
                buffer.writeInteger(UInt8(1))
                writeString(text, &buffer)
            case .bool(let flag):
                buffer.writeInteger(UInt8(2))
                buffer.writeInteger(UInt8(flag ? 1 : 0))
            case .integer(let number):
                buffer.writeInteger(UInt8(3))
                buffer.writeInteger(number, endianness: .little)
            case .double(let number):
                buffer.writeInteger(UInt8(4))
                buffer.writeInteger(number.bitPattern, endianness: .little)
            case .bytes(let bytes):
                buffer.writeInteger(UInt8(5))
                buffer.writeInteger(UInt32(bytes.count), endianness: .little)
                buffer.writeBytes(bytes)
            case .void:
                buffer.writeInteger(UInt8(6))
            case .other(let text):
                buffer.writeInteger(UInt8(7))
                writeString(text, &buffer)
            }
        }
        return Array(buffer.readableBytesView)
    }

    package static func decodeArguments(_ bytes: [UInt8]) -> [String: HeaderValue]? {
        guard !bytes.isEmpty else { return [:] }
        var buffer = ByteBuffer(bytes: bytes)
        guard let count = buffer.readInteger(endianness: .little, as: UInt32.self), count <= maxCount else {
            return nil
        }
        var arguments: [String: HeaderValue] = [:]
        for _ in 0..<count {
            guard let name = readString(&buffer), let tag = buffer.readInteger(as: UInt8.self) else { return nil }
            let value: HeaderValue
            switch tag {
            case 1:
                guard let text = readString(&buffer) else { return nil }
                value = .string(text)
            case 2:
                guard let flag = buffer.readInteger(as: UInt8.self) else { return nil }
                value = .bool(flag != 0)
            case 3:
                guard let number = buffer.readInteger(endianness: .little, as: Int64.self) else { return nil }
                value = .integer(number)
            case 4:
                guard let bits = buffer.readInteger(endianness: .little, as: UInt64.self) else { return nil }
                value = .double(Double(bitPattern: bits))
            case 5:
                guard let length = buffer.readInteger(endianness: .little, as: UInt32.self),
                    let bytes = buffer.readBytes(length: Int(length))
                else { return nil }
                value = .bytes(bytes)
            case 6:
                value = .void
            case 7:
                guard let text = readString(&buffer) else { return nil }
                value = .other(text)
            default:
                return nil
            }
            arguments[name] = value
        }
        return buffer.readableBytes == 0 ? arguments : nil
    }

    private static func writeString(_ value: String, _ buffer: inout ByteBuffer) {
        buffer.writeInteger(UInt32(value.utf8.count), endianness: .little)
        buffer.writeString(value)
    }

    private static func readString(_ buffer: inout ByteBuffer) -> String? {
        guard let length = buffer.readInteger(endianness: .little, as: UInt32.self),
            Int(length) <= buffer.readableBytes, let bytes = buffer.readSlice(length: Int(length))
        else { return nil }
        return bytes.withUnsafeReadableBytes(UTF8Validation.string)
    }

    private static func writeStrings(_ strings: [String], _ buffer: inout ByteBuffer) {
        buffer.writeInteger(UInt32(strings.count), endianness: .little)
        for string in strings { writeString(string, &buffer) }
    }

    private static func readStrings(_ buffer: inout ByteBuffer) -> [String]? {
        guard let count = buffer.readInteger(endianness: .little, as: UInt32.self), count <= maxCount else {
            return nil
        }
        var strings: [String] = []
        for _ in 0..<count {
            guard let string = readString(&buffer) else { return nil }
            strings.append(string)
        }
        return strings
    }
}
