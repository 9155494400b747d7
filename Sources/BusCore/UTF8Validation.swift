/// UTF-8 validation for the decoders (JSON strings, MQTT and AMQP strings, WebSocket text frames).
///
/// `String(validating:as:)` answers the same question, but on Linux each call looks its generic
/// metadata up at run time: in a Socket.IO 1 → 1 profile that lookup was a tenth of the server's time.
/// This is the Unicode well-formed table (Unicode §3.9, table 3-7): no overlong forms, no surrogates,
/// nothing above U+10FFFF, with an ASCII fast path eight bytes at a time.
package enum UTF8Validation {
    /// Whether the bytes are well-formed UTF-8.
    package static func isValid(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard let base = bytes.baseAddress else { return true }
        let count = bytes.count
        var index = 0
        while index < count {
            // ASCII eight bytes at a time, then one sequence at a time.
            while index + 8 <= count,
                base.loadUnaligned(fromByteOffset: index, as: UInt64.self) & 0x8080_8080_8080_8080 == 0
            {
                index += 8
            }
            guard index < count else { return true }
            let lead = base.load(fromByteOffset: index, as: UInt8.self)
            if lead < 0x80 {
                index += 1
                continue
            }
            let length: Int
            var low: UInt8 = 0x80
            var high: UInt8 = 0xBF
            switch lead {
            case 0xC2...0xDF: length = 2
            case 0xE0:
                length = 3
                low = 0xA0  // overlong below U+0800
            case 0xE1...0xEC, 0xEE...0xEF: length = 3
            case 0xED:
                length = 3
                high = 0x9F  // U+D800…U+DFFF, the surrogates
            case 0xF0:
                length = 4
                low = 0x90  // overlong below U+10000
            case 0xF1...0xF3: length = 4
            case 0xF4:
                length = 4
                high = 0x8F  // above U+10FFFF
            default: return false  // a continuation byte, C0/C1, F5…FF
            }
            guard index + length <= count else { return false }
            let second = base.load(fromByteOffset: index + 1, as: UInt8.self)
            guard second >= low, second <= high else { return false }
            for offset in 2..<length where base.load(fromByteOffset: index + offset, as: UInt8.self) & 0xC0 != 0x80 {
                return false
            }
            index += length
        }
        return true
    }

    /// The string the bytes spell, or nil when they are not well-formed UTF-8.
    package static func string(_ bytes: UnsafeRawBufferPointer) -> String? {
        isValid(bytes) ? String(decoding: bytes, as: UTF8.self) : nil
    }
}
