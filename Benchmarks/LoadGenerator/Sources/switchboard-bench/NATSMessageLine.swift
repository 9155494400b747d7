/// The control line of a message the server sends: `MSG <subject> <sid> [reply-to] <#bytes>` or
/// `HMSG <subject> <sid> [reply-to] <#header bytes> <#total bytes>` (NATS client protocol; HMSG since
/// nats-server 2.2, headers first in the payload, starting `NATS/1.0`). Positions are byte offsets into
/// the line they were parsed from, so nothing is copied on the hot path.
struct NATSMessageLine: Equatable {
    /// Where the subject is in the line.
    var subject: Range<Int>
    /// The subscription id.
    var sid: Int
    /// Where the reply subject is in the line; empty when there is none.
    var replyTo: Range<Int>
    /// Bytes of the header block at the start of the payload (0 for MSG).
    var headerBytes: Int
    /// Bytes that follow the line before its closing CRLF: headers and payload.
    var totalBytes: Int

    /// Most tokens a message line has (HMSG with a reply subject).
    static let maximumTokens = 6

    /// Parses `line` (without its CRLF); nil when it is not a well-formed MSG or HMSG line.
    static func parse(_ line: UnsafeRawBufferPointer) -> NATSMessageLine? {
        // One call per delivered message: the tokens go in a stack buffer, not an array.
        withUnsafeTemporaryAllocation(of: Range<Int>.self, capacity: maximumTokens) { tokens in
            var count = 0
            var index = 0
            while index < line.count {
                while index < line.count, line[index] == UInt8(ascii: " ") || line[index] == UInt8(ascii: "\t") {
                    index += 1
                }
                guard index < line.count else { break }
                guard count < maximumTokens else { return nil }
                let start = index
                while index < line.count, line[index] != UInt8(ascii: " "), line[index] != UInt8(ascii: "\t") {
                    index += 1
                }
                tokens.initializeElement(at: count, to: start..<index)
                count += 1
            }
            guard count > 0 else { return nil }
            let verb = line[tokens[0]]
            let headers: Bool
            if verb.elementsEqual("MSG".utf8) {
                headers = false
            } else if verb.elementsEqual("HMSG".utf8) {
                headers = true
            } else {
                return nil
            }
            // MSG: verb subject sid [reply] size; HMSG: verb subject sid [reply] header-size total-size.
            let sizes = headers ? 2 : 1
            guard count == 3 + sizes || count == 4 + sizes,
                let sid = number(line, tokens[2]),
                let total = number(line, tokens[count - 1])
            else { return nil }
            var headerBytes = 0
            if headers {
                guard let size = number(line, tokens[count - 2]), size <= total else { return nil }
                headerBytes = size
            }
            return NATSMessageLine(
                subject: tokens[1], sid: sid, replyTo: count == 4 + sizes ? tokens[3] : 0..<0,
                headerBytes: headerBytes, totalBytes: total)
        }
    }

    /// A non-negative decimal in `range` of `line`; nil when empty, not digits, or too long.
    static func number(_ line: UnsafeRawBufferPointer, _ range: Range<Int>) -> Int? {
        guard !range.isEmpty, range.count <= 18 else { return nil }
        var value = 0
        for index in range {
            let digit = line[index] &- UInt8(ascii: "0")
            guard digit < 10 else { return nil }
            value = value * 10 + Int(digit)
        }
        return value
    }

    /// The status code of a header block (`NATS/1.0 404 No Messages`), or nil when it has none.
    /// JetStream reports pull outcomes this way: 404 no messages, 408 request expired, 409 (consumer
    /// deleted, limits exceeded), 100 idle heartbeat or flow control.
    static func status(ofHeaders headers: UnsafeRawBufferPointer) -> Int? {
        let prefix = "NATS/1.0 ".utf8
        guard headers.count >= prefix.count + 3, headers.prefix(prefix.count).elementsEqual(prefix) else { return nil }
        return number(headers, prefix.count..<prefix.count + 3)
    }
}
