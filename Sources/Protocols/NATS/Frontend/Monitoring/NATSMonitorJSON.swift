import BusCore
package import NIOCore

/// Writes the monitoring documents the way nats-server prints them: members in its order, two-space
/// indentation. Straight into a `ByteBuffer`, like the rest of the server's JSON.
struct NATSMonitorJSON {
    private(set) var buffer = ByteBuffer()
    /// One entry per open object or array: whether it has a member yet.
    private var hasMember: [Bool] = []

    init() {}

    mutating func beginObject(_ key: String? = nil) {
        member(key)
        buffer.writeInteger(UInt8(ascii: "{"))
        hasMember.append(false)
    }

    mutating func endObject() { close(UInt8(ascii: "}")) }

    mutating func beginArray(_ key: String) {
        member(key)
        buffer.writeInteger(UInt8(ascii: "["))
        hasMember.append(false)
    }

    mutating func endArray() { close(UInt8(ascii: "]")) }

    mutating func field(_ key: String, _ value: Int) {
        member(key)
        buffer.writeString(String(value))
    }

    mutating func field(_ key: String, _ value: UInt64) {
        member(key)
        buffer.writeString(String(value))
    }

    mutating func field(_ key: String, _ value: Double) {
        member(key)
        buffer.writeString(value == value.rounded() && abs(value) < 1e15 ? String(Int(value)) : String(value))
    }

    mutating func field(_ key: String, _ value: Bool) {
        member(key)
        buffer.writeString(value ? "true" : "false")
    }

    mutating func field(_ key: String?, _ value: String) {
        member(key)
        buffer.writeJSONString(value)
    }

    /// Left out when nil (Go's `omitempty`).
    mutating func field(_ key: String, omittingNil value: String?) {
        guard let value, !value.isEmpty else { return }
        field(key, value)
    }

    /// `"key": {}`.
    mutating func emptyObject(_ key: String) {
        member(key)
        buffer.writeStaticString("{}")
    }

    private mutating func member(_ key: String?) {
        if let last = hasMember.indices.last {
            if hasMember[last] { buffer.writeInteger(UInt8(ascii: ",")) }
            hasMember[last] = true
            newline(depth: hasMember.count)
        }
        if let key {
            buffer.writeJSONString(key)
            buffer.writeStaticString(": ")
        }
    }

    private mutating func close(_ byte: UInt8) {
        let hadMembers = hasMember.removeLast()
        if hadMembers { newline(depth: hasMember.count) }
        buffer.writeInteger(byte)
    }

    private mutating func newline(depth: Int) {
        buffer.writeInteger(UInt8(ascii: "\n"))
        buffer.writeRepeatingByte(UInt8(ascii: " "), count: 2 * depth)
    }
}

/// The string forms nats-server's monitoring uses.
package enum NATSMonitorFormat {
    /// A timestamp (bus clock, ns since the epoch) in RFC 3339, UTC.
    package static func time(_ nanoseconds: UInt64) -> String {
        ISO8601.format(secondsSince1970: Double(nanoseconds) / 1e9)
    }

    /// nats-server's `myUptime`: whole seconds as `1y2d3h4m5s`, leading zero units left out.
    package static func uptime(nanoseconds: UInt64) -> String {
        let seconds = nanoseconds / 1_000_000_000
        let minutes = seconds / 60
        let hours = minutes / 60
        let days = hours / 24
        let years = days / 365
        if years > 0 { return "\(years)y\(days % 365)d\(hours % 24)h\(minutes % 60)m\(seconds % 60)s" }
        if days > 0 { return "\(days)d\(hours % 24)h\(minutes % 60)m\(seconds % 60)s" }
        if hours > 0 { return "\(hours)h\(minutes % 60)m\(seconds % 60)s" }
        if minutes > 0 { return "\(minutes)m\(seconds % 60)s" }
        return "\(seconds)s"
    }
}
