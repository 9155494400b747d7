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
    /// and returns it, or nil when the bytes carry no benchmark payload.
    @inline(__always)
    static func timestamp(in bytes: UnsafeRawBufferPointer, limit: Int = 256) -> UInt64? {
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
