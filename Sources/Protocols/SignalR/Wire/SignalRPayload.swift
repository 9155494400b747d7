import BusCore
package import NIOCore

/// An argument, stream item or completion result as it travels: a value whose meaning only the hub
/// method knows (§JSON Payload Encoding), so it stays as it arrived and the frontend maps it.
///
/// Each encoding writes the other's form too, by the spec's type mapping (§Type Mappings): JSON numbers
/// become MessagePack integers when they are integers that fit, else floats; a MessagePack bin becomes a
/// base64 JSON string (`byte[]`'s mapping), a timestamp an ISO 8601 string, another ext its data in
/// base64, a non-string map key its JSON text, a NaN or infinity `null`.
package enum SignalRPayload: Sendable, Equatable {
    /// The JSON text of one value: valid JSON, a slice of the message it came in.
    case json(ByteBuffer)
    /// A MessagePack value.
    case messagePack(MessagePackValue)

    /// JSON text, from a string (for tests and values the server makes).
    package static func json(_ text: String) -> SignalRPayload { .json(ByteBuffer(string: text)) }

    /// Writes the payload as JSON.
    package func writeJSON(into buffer: inout ByteBuffer) {
        switch self {
        case .json(let text): buffer.writeImmutableBuffer(text)
        case .messagePack(let value): Self.writeJSON(value, into: &buffer)
        }
    }

    /// Writes the payload as MessagePack.
    package func writeMessagePack(into buffer: inout ByteBuffer) {
        switch self {
        case .messagePack(let value): buffer.writeMessagePack(value)
        case .json: buffer.writeMessagePack(messagePackValue)
        }
    }

    /// A member of an object payload (a JSON object's member as it is written, a MessagePack map's value
    /// under a string key); nil when the payload is not an object or has no such member.
    package func member(_ key: String) -> SignalRPayload? {
        switch self {
        case .json(let text):
            guard text.readableBytesView.first == UInt8(ascii: "{"), let object = try? SignalRJSONObject(text) else {
                return nil
            }
            return object.raw(key).map(SignalRPayload.json)
        case .messagePack(.map(let fields)):
            return fields.last { $0.key == .string(key) }.map { .messagePack($0.value) }
        case .messagePack:
            return nil
        }
    }

    /// The payload as a MessagePack value (JSON converted; nil for text that is not JSON, which no
    /// decoder produces).
    package var messagePackValue: MessagePackValue {
        switch self {
        case .messagePack(let value): return value
        case .json(let text):
            let parsed = try? text.withUnsafeReadableBytes { raw throws(JSONError) in try JSONParser.parse(raw) }
            guard let parsed else {
                assertionFailure("a JSON payload that is not JSON")
                return .nil
            }
            return Self.messagePackValue(parsed)
        }
    }

    private static func messagePackValue(_ value: JSONValue) -> MessagePackValue {
        switch value {
        case .null: return .nil
        case .bool(let flag): return .bool(flag)
        case .number(let text):
            if let integer = Int64(text) { return .int(integer) }
            if let integer = UInt64(text) { return .uint(integer) }
            return .double(Double(text) ?? .nan)
        case .string(let text): return .string(text)
        case .array(let elements): return .array(elements.map(messagePackValue))
        case .object(let fields):
            return .map(fields.map { (key: MessagePackValue.string($0.key), value: messagePackValue($0.value)) })
        }
    }

    private static func writeJSON(_ value: MessagePackValue, into buffer: inout ByteBuffer) {
        switch value {
        case .nil: buffer.writeStaticString("null")
        case .bool(let flag): buffer.writeStaticString(flag ? "true" : "false")
        case .int(let integer): buffer.writeDecimal(integer)
        case .uint(let integer): buffer.writeDecimal(integer)
        case .float(let float): writeJSONNumber(Double(float), into: &buffer)
        case .double(let double): writeJSONNumber(double, into: &buffer)
        case .string(let text): buffer.writeJSONString(text)
        case .binary(let bytes): buffer.writeBase64JSONString(bytes)
        case .array(let elements):
            buffer.writeInteger(UInt8(ascii: "["))
            for (index, element) in elements.enumerated() {
                if index > 0 { buffer.writeInteger(UInt8(ascii: ",")) }
                writeJSON(element, into: &buffer)
            }
            buffer.writeInteger(UInt8(ascii: "]"))
        case .map(let pairs):
            buffer.writeInteger(UInt8(ascii: "{"))
            for (index, pair) in pairs.enumerated() {
                if index > 0 { buffer.writeInteger(UInt8(ascii: ",")) }
                if case .string(let key) = pair.key {
                    buffer.writeJSONString(key)
                } else {
                    var key = ByteBuffer()
                    writeJSON(pair.key, into: &key)
                    buffer.writeJSONString(String(buffer: key))
                }
                buffer.writeInteger(UInt8(ascii: ":"))
                writeJSON(pair.value, into: &buffer)
            }
            buffer.writeInteger(UInt8(ascii: "}"))
        case .ext(_, let data):
            // Years 0001 to 9999 as ISO 8601 (how .NET writes a DateTime); anything else as its bytes.
            if let timestamp = value.timestampValue, (-62_135_596_800..<253_402_300_800).contains(timestamp.seconds) {
                let seconds = Double(timestamp.seconds) + Double(timestamp.nanoseconds) / 1e9
                buffer.writeJSONString(ISO8601.format(secondsSince1970: seconds))
            } else {
                buffer.writeBase64JSONString(data)
            }
        }
    }

    /// A finite double in Swift's shortest round-trip form (valid JSON: `1.0`, `1e-07`); NaN and
    /// infinities, which JSON cannot spell, as `null` (what `JSON.stringify` writes).
    private static func writeJSONNumber(_ value: Double, into buffer: inout ByteBuffer) {
        guard value.isFinite else {
            buffer.writeStaticString("null")
            return
        }
        buffer.writeString(value.description)
    }
}
