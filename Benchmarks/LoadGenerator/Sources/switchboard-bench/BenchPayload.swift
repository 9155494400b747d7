import NIOCore

/// The payload every publish carries: `ts:` + 19 zero-padded decimal digits of the send time in
/// monotonic nanoseconds + `:` + `x` padding up to the requested size. It is plain ASCII, so it is
/// valid both as raw bytes (NATS) and inside a JSON string (WebSocket), and the receiver finds the
/// timestamp with a short scan for `ts:` whatever envelope the server puts around it.
enum BenchPayload {
    /// The marker that precedes the timestamp digits.
    static let marker: [UInt8] = Array("ts:".utf8)
    /// Number of decimal digits in the timestamp.
    static let digitCount = 19
    /// The smallest payload that still holds marker, digits and separator.
    static let minimumSize = 3 + 19 + 1
    /// Raw-byte protocols (NATS) also carry payloads of 16–22 bytes (the NATS target is 16 B): `t:` and
    /// 14 hex digits of the send time (2^56 ns: two years of uptime), then `x` padding.
    static let compactMarker: [UInt8] = Array("t:".utf8)
    static let compactDigitCount = 14
    static let compactMinimumSize = 2 + 14

    /// The payload size actually sent for a requested `size` (raw protocols allow the compact form).
    static func effectiveSize(_ size: Int, compact: Bool) -> Int {
        size >= minimumSize || !compact ? max(size, minimumSize) : max(size, compactMinimumSize)
    }

    /// A template of the effective size; writers copy it and patch the timestamp with `patch`.
    static func template(size: Int, compact: Bool) -> [UInt8] {
        let size = effectiveSize(size, compact: compact)
        guard size < minimumSize else { return template(size: size) }
        return compactMarker + [UInt8](repeating: UInt8(ascii: "0"), count: compactDigitCount)
            + [UInt8](repeating: UInt8(ascii: "x"), count: size - compactMinimumSize)
    }

    /// Writes the send time into a template made by `template(size:compact:)`.
    @inline(__always)
    static func patch(_ bytes: UnsafeMutableRawBufferPointer, value: UInt64) {
        guard bytes.count < minimumSize else { return patchDigits(bytes, at: marker.count, value: value) }
        var value = value
        var index = compactMarker.count + compactDigitCount - 1
        while index >= compactMarker.count {
            let nibble = UInt8(truncatingIfNeeded: value & 0xF)
            bytes[index] = nibble < 10 ? UInt8(ascii: "0") + nibble : UInt8(ascii: "a") + nibble - 10
            value >>= 4
            index -= 1
        }
    }

    /// The send time of a payload that is exactly a benchmark payload (raw protocols): either form.
    @inline(__always)
    static func timestamp(ofPayload bytes: UnsafeRawBufferPointer) -> UInt64? {
        guard bytes.count >= compactMinimumSize, bytes.count < minimumSize else { return timestamp(in: bytes) }
        guard bytes[0] == UInt8(ascii: "t"), bytes[1] == UInt8(ascii: ":") else { return nil }
        var value: UInt64 = 0
        for index in compactMarker.count..<compactMinimumSize {
            let byte = bytes[index]
            let nibble: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): nibble = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): nibble = byte - UInt8(ascii: "a") + 10
            default: return nil
            }
            value = value << 4 | UInt64(nibble)
        }
        return value
    }

    /// A template of `size` bytes with zero digits; writers copy it and patch the digits in place.
    static func template(size: Int) -> [UInt8] {
        let size = max(size, minimumSize)
        var bytes = marker + [UInt8](repeating: UInt8(ascii: "0"), count: digitCount) + [UInt8(ascii: ":")]
        bytes += [UInt8](repeating: UInt8(ascii: "x"), count: size - bytes.count)
        return bytes
    }

    /// Writes the 19 digits of `value` at `pointer` (the byte after the marker).
    @inline(__always)
    static func patchDigits(_ pointer: UnsafeMutableRawBufferPointer, at offset: Int, value: UInt64) {
        var value = value
        var index = offset + digitCount - 1
        while index >= offset {
            pointer[index] = UInt8(truncatingIfNeeded: value % 10) &+ UInt8(ascii: "0")
            value /= 10
            index -= 1
        }
    }

    /// Finds the timestamp in `bytes` (searching at most the first `limit` bytes for the marker)
    /// and returns it, or nil when the bytes carry no benchmark payload. The default reaches past a
    /// record change event's envelope and system members (about 260 bytes before the record's first
    /// own field, which the records scenarios make the timestamp); a frame that carries a payload has
    /// it much earlier, so only replies are scanned that far.
    @inline(__always)
    static func timestamp(in bytes: UnsafeRawBufferPointer, limit: Int = 512) -> UInt64? {
        let end = min(bytes.count, limit) - (marker.count + digitCount)
        guard end >= 0 else { return nil }
        var index = 0
        while index <= end {
            if bytes[index] == UInt8(ascii: "t") && bytes[index + 1] == UInt8(ascii: "s")
                && bytes[index + 2] == UInt8(ascii: ":")
            {
                var value: UInt64 = 0
                var digit = index + 3
                let stop = digit + digitCount
                while digit < stop {
                    let byte = bytes[digit] &- UInt8(ascii: "0")
                    guard byte < 10 else { return nil }
                    value = value &* 10 &+ UInt64(byte)
                    digit += 1
                }
                return value
            }
            index += 1
        }
        return nil
    }
}

/// The clock every timestamp comes from: CLOCK_MONOTONIC, shared by all processes on the machine,
/// so a child process's send time and the parent's receive time are comparable.
enum BenchClock {
    /// Monotonic nanoseconds.
    @inline(__always)
    static func now() -> UInt64 { NIODeadline.now().uptimeNanoseconds }
}
