import Foundation
import NIOCore

/// The STOMP 1.2 frames the load generator's client sends, and an incremental parser for the ones it
/// reads (the tool does not depend on Switchboard's modules). A frame is a command line, header lines,
/// a blank line, the body and a NUL octet; lines end with LF or CRLF, and EOLs may sit between frames
/// as heart-beats (STOMP 1.2 "Augmented BNF").
enum STOMPClientFrame {
    /// Largest command line plus header block accepted: RabbitMQ's and Switchboard's MESSAGE headers
    /// are a few hundred bytes; anything near this is a broken stream, not a frame.
    static let maximumHeaderBytes = 64 * 1024
    /// Largest body accepted (the benchmark's payloads are at most a few KB).
    static let maximumBodyBytes = 16 * 1024 * 1024

    /// The server commands the client distinguishes.
    enum Command: Equatable {
        /// The answer to CONNECT.
        case connected
        /// A delivery.
        case message
        /// The answer to a frame that carried a `receipt` header.
        case receipt
        /// The server's error; it closes the connection after sending it.
        case error
        /// Any other command (none is expected from a 1.2 server).
        case unknown
    }

    /// Where one parsed frame lies in the bytes it was parsed from. Header and body ranges are offsets
    /// into those bytes; `end` is the offset just past the frame's NUL.
    struct Parsed: Equatable {
        var command: Command
        /// The header lines (without the command line and the blank line).
        var headers: Range<Int>
        /// The body (without the NUL).
        var body: Range<Int>
        /// Just past the NUL.
        var end: Int
    }

    /// The CONNECT frame: STOMP 1.2 only, virtual host `/`, guest credentials, no heart-beats, so idle
    /// connections stay quiet (STOMP 1.2 "CONNECT or STOMP Frame"). CONNECT headers are not escaped.
    static func connect(host: String = "/", login: String = "guest", passcode: String = "guest") -> [UInt8] {
        frame(
            "CONNECT",
            [
                ("accept-version", "1.2"), ("host", host), ("login", login), ("passcode", passcode),
                ("heart-beat", "0,0"),
            ])
    }

    /// A SUBSCRIBE frame with its id, ack mode, receipt and (when positive) RabbitMQ's and
    /// Switchboard's `prefetch-count` extension header.
    static func subscribe(id: String, destination: String, ack: STOMPAckMode, prefetch: Int, receipt: String)
        -> [UInt8]
    {
        var headers = [("id", id), ("destination", destination), ("ack", ack.rawValue), ("receipt", receipt)]
        if prefetch > 0 { headers.append(("prefetch-count", String(prefetch))) }
        return frame("SUBSCRIBE", headers)
    }

    /// The head of a SEND frame up to and including the blank line; the body and NUL follow it.
    /// With `receipt`, the server answers with a RECEIPT once it has taken the message (RabbitMQ: when
    /// its publisher confirm arrives).
    static func sendHead(destination: String, contentLength: Int, receipt: String? = nil) -> [UInt8] {
        var head = Array("SEND\ndestination:\(escape(destination))\ncontent-length:\(contentLength)\n".utf8)
        if let receipt { head += Array("receipt:\(escape(receipt))\n".utf8) }
        return head + [UInt8(ascii: "\n")]
    }

    /// The head of an ACK frame up to `id:`; the caller appends the MESSAGE's `ack` header value as it
    /// arrived (still escaped, so it is sent back byte for byte) and ``ackTail``.
    static let ackHead: [UInt8] = Array("ACK\nid:".utf8)
    /// Ends an ACK frame after its id.
    static let ackTail: [UInt8] = [UInt8(ascii: "\n"), UInt8(ascii: "\n"), 0]

    /// The DISCONNECT frame (no receipt: the tool closes the socket right after it).
    static let disconnect: [UInt8] = Array("DISCONNECT\n\n\u{0}".utf8)

    /// A whole frame with an empty body. Header values are escaped except in CONNECT (STOMP 1.2 "Value
    /// Encoding").
    static func frame(_ command: String, _ headers: [(String, String)]) -> [UInt8] {
        var text = command + "\n"
        for (name, value) in headers {
            text += command == "CONNECT" ? "\(name):\(value)\n" : "\(escape(name)):\(escape(value))\n"
        }
        return Array((text + "\n").utf8) + [0]
    }

    /// STOMP 1.2 header escaping: `\` `\n` `\r` `:` become `\\` `\n` `\r` `\c`.
    static func escape(_ value: String) -> String {
        guard value.contains(where: { "\\\n\r:".contains($0) }) else { return value }
        var escaped = ""
        for character in value {
            switch character {
            case "\\": escaped += "\\\\"
            case "\n": escaped += "\\n"
            case "\r": escaped += "\\r"
            case ":": escaped += "\\c"
            default: escaped.append(character)
            }
        }
        return escaped
    }

    /// Skips heart-beat EOLs and parses one whole frame starting at `offset`, or returns the offset past
    /// the EOLs and nil when the frame is not complete yet. Throws on a frame that breaks the grammar or
    /// a limit: a header block without its blank line past ``maximumHeaderBytes``, a body past
    /// ``maximumBodyBytes``, a `content-length` body not followed by NUL.
    static func parse(_ bytes: UnsafeRawBufferPointer, from offset: Int) throws -> (start: Int, frame: Parsed?) {
        var start = offset
        while start < bytes.count, bytes[start] == UInt8(ascii: "\n") || bytes[start] == UInt8(ascii: "\r") {
            start += 1
        }
        guard start < bytes.count else { return (start, nil) }
        // The command line.
        guard let commandEnd = lineEnd(bytes, from: start) else { return try incompleteHeader(bytes, start) }
        let command = self.command(bytes, start..<trimmedEnd(bytes, start, commandEnd))
        // Header lines until the blank one, noting content-length (the first occurrence wins, STOMP 1.2
        // "Repeated Header Entries").
        let headerStart = commandEnd + 1
        var line = headerStart
        var contentLength: Int?
        while true {
            guard let end = lineEnd(bytes, from: line) else { return try incompleteHeader(bytes, start) }
            let trimmed = trimmedEnd(bytes, line, end)
            if trimmed == line {
                let bodyStart = end + 1
                return (start, try body(bytes, command, headerStart..<line, bodyStart, contentLength))
            }
            if contentLength == nil, let value = headerValue(bytes, line..<trimmed, named: contentLengthName) {
                contentLength = try decimal(bytes, value)
            }
            line = end + 1
        }
    }

    /// The body that starts at `bodyStart`: `contentLength` bytes then NUL, or everything up to the
    /// first NUL.
    private static func body(
        _ bytes: UnsafeRawBufferPointer, _ command: Command, _ headers: Range<Int>, _ bodyStart: Int,
        _ contentLength: Int?
    ) throws -> Parsed? {
        if let contentLength {
            guard contentLength <= maximumBodyBytes else {
                throw STOMPClientError("content-length \(contentLength) exceeds \(maximumBodyBytes)")
            }
            guard bytes.count - bodyStart > contentLength else { return nil }
            guard bytes[bodyStart + contentLength] == 0 else { throw STOMPClientError("body not ended by NUL") }
            return Parsed(
                command: command, headers: headers, body: bodyStart..<bodyStart + contentLength,
                end: bodyStart + contentLength + 1)
        }
        guard let base = bytes.baseAddress, bodyStart < bytes.count,
            let found = memchr(base + bodyStart, 0, bytes.count - bodyStart)
        else {
            if bytes.count - bodyStart > maximumBodyBytes { throw STOMPClientError("body exceeds \(maximumBodyBytes)") }
            return nil
        }
        let nul = base.distance(to: UnsafeRawPointer(found))
        return Parsed(command: command, headers: headers, body: bodyStart..<nul, end: nul + 1)
    }

    /// The value of the first header called `name` in `headers` (escaped as it arrived), or nil.
    static func header(_ name: [UInt8], in bytes: UnsafeRawBufferPointer, _ headers: Range<Int>) -> Range<Int>? {
        var line = headers.lowerBound
        while line < headers.upperBound {
            let end = lineEnd(bytes, from: line, limit: headers.upperBound) ?? headers.upperBound
            if let value = headerValue(bytes, line..<trimmedEnd(bytes, line, end), named: name) { return value }
            line = end + 1
        }
        return nil
    }

    static let contentLengthName: [UInt8] = Array("content-length".utf8)
    static let ackName: [UInt8] = Array("ack".utf8)
    static let receiptIDName: [UInt8] = Array("receipt-id".utf8)
    static let messageName: [UInt8] = Array("message".utf8)

    private static func headerValue(_ bytes: UnsafeRawBufferPointer, _ line: Range<Int>, named name: [UInt8])
        -> Range<Int>?
    {
        guard line.count > name.count, bytes[line.lowerBound + name.count] == UInt8(ascii: ":") else { return nil }
        for index in 0..<name.count where bytes[line.lowerBound + index] != name[index] { return nil }
        return line.lowerBound + name.count + 1..<line.upperBound
    }

    private static func decimal(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>) throws -> Int {
        guard !range.isEmpty, range.count <= 10 else { throw STOMPClientError("bad content-length") }
        var value = 0
        for index in range {
            let digit = bytes[index] &- UInt8(ascii: "0")
            guard digit < 10 else { throw STOMPClientError("bad content-length") }
            value = value * 10 + Int(digit)
        }
        return value
    }

    private static func command(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>) -> Command {
        let text = UnsafeRawBufferPointer(rebasing: bytes[range])
        if text.elementsEqual("MESSAGE".utf8) { return .message }
        if text.elementsEqual("RECEIPT".utf8) { return .receipt }
        if text.elementsEqual("CONNECTED".utf8) { return .connected }
        if text.elementsEqual("ERROR".utf8) { return .error }
        return .unknown
    }

    /// The offset of the next LF at or after `from` (before `limit`), or nil.
    private static func lineEnd(_ bytes: UnsafeRawBufferPointer, from: Int, limit: Int? = nil) -> Int? {
        let limit = limit ?? bytes.count
        guard from < limit, let base = bytes.baseAddress,
            let found = memchr(base + from, Int32(UInt8(ascii: "\n")), limit - from)
        else { return nil }
        return base.distance(to: UnsafeRawPointer(found))
    }

    /// `end` (an LF's offset), moved before a CR that precedes it.
    private static func trimmedEnd(_ bytes: UnsafeRawBufferPointer, _ start: Int, _ end: Int) -> Int {
        end > start && bytes[end - 1] == UInt8(ascii: "\r") ? end - 1 : end
    }

    private static func incompleteHeader(_ bytes: UnsafeRawBufferPointer, _ start: Int) throws -> (Int, Parsed?) {
        guard bytes.count - start <= maximumHeaderBytes else {
            throw STOMPClientError("header block exceeds \(maximumHeaderBytes) bytes")
        }
        return (start, nil)
    }
}

/// A protocol error the client detected, or the server's ERROR.
struct STOMPClientError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
