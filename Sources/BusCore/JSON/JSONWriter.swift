package import NIOCore

/// Writing JSON straight into a `ByteBuffer`: no intermediate strings, no Foundation.
extension ByteBuffer {
    /// Writes `string` as a JSON string literal, escaping what RFC 8259 requires.
    package mutating func writeJSONString(_ string: String) {
        writeInteger(UInt8(ascii: "\""))
        var pending = string.utf8.startIndex
        let utf8 = string.utf8
        var index = pending
        while index != utf8.endIndex {
            let byte = utf8[index]
            if byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") {
                writeBytes(utf8[pending..<index])
                switch byte {
                case UInt8(ascii: "\""): writeStaticString("\\\"")
                case UInt8(ascii: "\\"): writeStaticString("\\\\")
                case 0x0A: writeStaticString("\\n")
                case 0x0D: writeStaticString("\\r")
                case 0x09: writeStaticString("\\t")
                default:
                    writeStaticString("\\u00")
                    writeInteger(ByteBuffer.hexDigits[Int(byte >> 4)])
                    writeInteger(ByteBuffer.hexDigits[Int(byte & 0xF)])
                }
                pending = utf8.index(after: index)
            }
            index = utf8.index(after: index)
        }
        writeBytes(utf8[pending..<utf8.endIndex])
        writeInteger(UInt8(ascii: "\""))
    }

    /// Writes the readable bytes of `payload` as a JSON string (the payload must be UTF-8).
    package mutating func writeJSONString(utf8 payload: ByteBuffer) {
        writeJSONString(String(buffer: payload))
    }

    /// Writes `value` in decimal, with no intermediate string when it fits 64 bits.
    package mutating func writeDecimal<I: BinaryInteger>(_ value: I) {
        guard let value = Int64(exactly: value) else {
            writeString(String(value))
            return
        }
        var magnitude = value.magnitude
        var digits = 1
        var rest = magnitude / 10
        while rest > 0 {
            digits += 1
            rest /= 10
        }
        let length = digits + (value < 0 ? 1 : 0)
        writeWithUnsafeMutableBytes(minimumWritableBytes: length) { out in
            if value < 0 { out[0] = UInt8(ascii: "-") }
            var index = length
            repeat {
                index -= 1
                out[index] = UInt8(ascii: "0") + UInt8(magnitude % 10)
                magnitude /= 10
            } while magnitude > 0
            return length
        }
    }

    /// Writes the readable bytes of `payload` as a base64 JSON string.
    package mutating func writeBase64JSONString(_ payload: ByteBuffer) {
        writeInteger(UInt8(ascii: "\""))
        payload.withUnsafeReadableBytes { Base64.encode($0, into: &self) }
        writeInteger(UInt8(ascii: "\""))
    }

    /// Writes a parsed value back out.
    package mutating func writeJSONValue(_ value: JSONValue) {
        switch value {
        case .null: writeStaticString("null")
        case .bool(let flag): writeStaticString(flag ? "true" : "false")
        case .number(let text): writeString(text)
        case .string(let text): writeJSONString(text)
        case .array(let values):
            writeInteger(UInt8(ascii: "["))
            for (i, element) in values.enumerated() {
                if i > 0 { writeInteger(UInt8(ascii: ",")) }
                writeJSONValue(element)
            }
            writeInteger(UInt8(ascii: "]"))
        case .object(let fields):
            writeInteger(UInt8(ascii: "{"))
            for (i, field) in fields.enumerated() {
                if i > 0 { writeInteger(UInt8(ascii: ",")) }
                writeJSONString(field.key)
                writeInteger(UInt8(ascii: ":"))
                writeJSONValue(field.value)
            }
            writeInteger(UInt8(ascii: "}"))
        }
    }

    /// Writes the payload under the key the payload rule picks: `"data":…`, `"text":"…"` or `"binary":"…"`.
    package mutating func writePayloadMember(_ payload: ByteBuffer, form: PayloadForm) {
        switch form {
        case .json:
            writeStaticString("\"data\":")
            writeImmutableBuffer(payload)
        case .text:
            writeStaticString("\"text\":")
            writeJSONString(utf8: payload)
        case .binary:
            writeStaticString("\"binary\":")
            writeBase64JSONString(payload)
        }
    }

    static let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)
    static let base64Alphabet: [UInt8] = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
}

/// Base64 (RFC 4648): the `"binary"` payload form, and the WebSocket handshake's keys.
package enum Base64 {
    /// Standard alphabet with padding.
    package static func encode(_ bytes: some Collection<UInt8>) -> String {
        bytes.withContiguousStorageIfAvailable { encodedString(UnsafeRawBufferPointer($0)) }
            ?? Array(bytes).withUnsafeBytes { encodedString($0) }
    }

    private static func encodedString(_ input: UnsafeRawBufferPointer) -> String {
        String(unsafeUninitializedCapacity: encodedCount(input.count)) { out in
            write(input, to: UnsafeMutableRawBufferPointer(out))
        }
    }

    /// Appends the base64 of `bytes` to `buffer`, in one write: the Kafka REST proxy's binary records go
    /// out this way, hundreds of thousands a second, so there is no per-character `writeInteger`.
    package static func encode(_ bytes: UnsafeRawBufferPointer, into buffer: inout ByteBuffer) {
        let count = encodedCount(bytes.count)
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: count) { write(bytes, to: $0) }
    }

    /// The length of the base64 of `count` bytes, padding included.
    @inline(__always)
    static func encodedCount(_ count: Int) -> Int { (count + 2) / 3 * 4 }

    /// Writes the base64 of `input` at the start of `out` (at least `encodedCount(input.count)` bytes);
    /// returns how many bytes it wrote.
    private static func write(_ input: UnsafeRawBufferPointer, to out: UnsafeMutableRawBufferPointer) -> Int {
        alphabet.withUTF8Buffer { table in
            var i = 0
            var o = 0
            while i + 3 <= input.count {
                let n = UInt32(input[i]) << 16 | UInt32(input[i + 1]) << 8 | UInt32(input[i + 2])
                out[o] = table[Int(n >> 18 & 63)]
                out[o + 1] = table[Int(n >> 12 & 63)]
                out[o + 2] = table[Int(n >> 6 & 63)]
                out[o + 3] = table[Int(n & 63)]
                i += 3
                o += 4
            }
            let rest = input.count - i
            if rest > 0 {
                let n = UInt32(input[i]) << 16 | (rest == 2 ? UInt32(input[i + 1]) << 8 : 0)
                out[o] = table[Int(n >> 18 & 63)]
                out[o + 1] = table[Int(n >> 12 & 63)]
                out[o + 2] = rest == 2 ? table[Int(n >> 6 & 63)] : UInt8(ascii: "=")
                out[o + 3] = UInt8(ascii: "=")
                o += 4
            }
            return o
        }
    }

    private static let alphabet: StaticString = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

    /// Both alphabets (standard and URL-safe), padding optional (at most two `=`, only at the end); nil for
    /// anything else, whitespace included. Four characters at a time through a table: the Kafka REST
    /// proxy's binary records arrive this way, and decoding them was its largest single cost per record.
    package static func decode(_ text: String) -> [UInt8]? {
        var text = text
        return text.withUTF8 { decode(UnsafeRawBufferPointer($0)) }
    }

    /// `decode(_:)` of UTF-8 bytes.
    package static func decode(_ input: UnsafeRawBufferPointer) -> [UInt8]? {
        guard let capacity = decodedCapacity(input) else { return nil }
        var valid = true
        let bytes = [UInt8](unsafeUninitializedCapacity: capacity) { out, count in
            guard let written = decode(input, to: UnsafeMutableRawBufferPointer(out)) else {
                valid = false
                count = 0
                return
            }
            count = written
        }
        return valid ? bytes : nil
    }

    /// Appends the bytes `input` (UTF-8 base64, as `decode(_:)` takes it) encodes to `buffer`, decoded in
    /// place: a Kafka REST binary record becomes its payload with no array or string between. False (and
    /// `buffer` unchanged) when `input` is not base64.
    package static func decode(_ input: UnsafeRawBufferPointer, into buffer: inout ByteBuffer) -> Bool {
        guard let capacity = decodedCapacity(input) else { return false }
        var valid = true
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: capacity) { out in
            guard let written = decode(input, to: out) else {
                valid = false
                return 0
            }
            return written
        }
        return valid
    }

    /// At most how many bytes `input` decodes to; nil when its padding is already wrong.
    private static func decodedCapacity(_ input: UnsafeRawBufferPointer) -> Int? {
        var end = input.count
        while end > 0, input[end - 1] == UInt8(ascii: "=") { end -= 1 }
        guard input.count - end <= 2 else { return nil }
        return end / 4 * 3 + 2
    }

    /// Decodes `input` to the start of `out` (at least `decodedCapacity(input)` bytes); returns how many
    /// bytes it wrote, or nil for a character in neither alphabet. Four characters at a time through a
    /// table.
    private static func decode(_ input: UnsafeRawBufferPointer, to out: UnsafeMutableRawBufferPointer) -> Int? {
        var end = input.count
        while end > 0, input[end - 1] == UInt8(ascii: "=") { end -= 1 }
        let whole = end / 4 * 4
        return decodingTable.withUnsafeBufferPointer { table -> Int? in
            var i = 0
            var o = 0
            while i < whole {
                let a = table[Int(input[i])]
                let b = table[Int(input[i + 1])]
                let c = table[Int(input[i + 2])]
                let d = table[Int(input[i + 3])]
                guard (a | b | c | d) & 0x80 == 0 else { return nil }
                let n = UInt32(a) << 18 | UInt32(b) << 12 | UInt32(c) << 6 | UInt32(d)
                out[o] = UInt8(truncatingIfNeeded: n >> 16)
                out[o + 1] = UInt8(truncatingIfNeeded: n >> 8)
                out[o + 2] = UInt8(truncatingIfNeeded: n)
                o += 3
                i += 4
            }
            // One to three characters left: 6, 12 or 18 bits, of which whole bytes are kept.
            var buffer: UInt32 = 0
            var bits = 0
            while i < end {
                let value = table[Int(input[i])]
                guard value & 0x80 == 0 else { return nil }
                buffer = buffer << 6 | UInt32(value)
                bits += 6
                if bits >= 8 {
                    bits -= 8
                    out[o] = UInt8(truncatingIfNeeded: buffer >> UInt32(bits))
                    o += 1
                }
                i += 1
            }
            return o
        }
    }

    /// Each byte's 6-bit value in either alphabet; 0xFF for a byte that is in neither (`=` included).
    private static let decodingTable: [UInt8] = {
        var table = [UInt8](repeating: 0xFF, count: 256)
        for (value, byte) in ByteBuffer.base64Alphabet.enumerated() { table[Int(byte)] = UInt8(value) }
        table[Int(UInt8(ascii: "-"))] = 62
        table[Int(UInt8(ascii: "_"))] = 63
        return table
    }()
}
