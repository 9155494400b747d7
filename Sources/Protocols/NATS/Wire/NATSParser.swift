package import NIOCore

/// Splits a client's byte stream into operations, the way the reference server's parser does but
/// without calling anything: it returns each operation and the handler decides what it means.
///
/// `next` returns nil when the buffer holds no complete operation yet (the reader index is left where
/// it was), and throws only for malformed input. Payloads and subjects are slices of the buffer: a
/// message is copied only when it spans two reads (the handler keeps the unread tail).
package struct NATSParser: Sendable {
    /// The limits by reference: a copy of this parser shares them, so every connection of a frontend holds
    /// 8 bytes here instead of its own 56 (issue 25, idle memory per connection).
    private let shared: SharedLimits
    package var limits: NATSLimits { _read { yield shared.value } }

    package init(limits: NATSLimits = NATSLimits()) { self.shared = SharedLimits(limits) }

    private final class SharedLimits: Sendable {
        let value: NATSLimits

        init(_ value: NATSLimits) { self.value = value }
    }

    /// The next complete operation in `buffer`, consuming it; nil when more bytes are needed.
    package func next(_ buffer: inout ByteBuffer) throws(NATSProtocolError) -> NATSClientOperation? {
        switch try nextInPlace(&buffer) {
        case nil: return nil
        case .publish(let layout):
            let operation = NATSClientOperation.publish(layout.publish(in: buffer))
            buffer.moveReaderIndex(forwardBy: layout.length)
            return operation
        case .other(let operation): return operation
        }
    }

    /// Like `next`, for a reader that works in `buffer` itself (the connection handler): a `PUB` or `HPUB`
    /// is left in the buffer and comes back as where its parts are, from the reader index; the caller
    /// reads them there and then skips `layout.length` bytes. No slice is made, so the commonest operation
    /// costs no reference count to parse. Other operations are consumed and returned as `next` does.
    package func nextInPlace(_ buffer: inout ByteBuffer) throws(NATSProtocolError) -> NATSParsedOperation? {
        guard buffer.readableBytes > 0 else { return nil }
        let line = try buffer.withUnsafeReadableBytes { bytes throws(NATSProtocolError) in
            try Self.scanControlLine(bytes, limits: limits)
        }
        guard let line else { return nil }
        let base = buffer.readerIndex
        switch line.operation {
        case .publish, .headerPublish:
            return try publish(line, in: &buffer, base: base).map { .publish($0) }
        case .subscribe:
            // SUB <subject> [queue group] <sid>
            guard line.tokens.count == 3 || line.tokens.count == 4 else {
                throw .malformed("SUB <subject> [queue] <sid>")
            }
            let subject = Self.string(buffer, base, line.tokens.range(1))
            let queue = line.tokens.count == 4 ? Self.string(buffer, base, line.tokens.range(2)) : nil
            let sid = Self.string(buffer, base, line.tokens.range(line.tokens.count - 1))
            buffer.moveReaderIndex(forwardBy: line.consumed)
            return .other(.subscribe(subject: subject, queue: queue, sid: sid))
        case .unsubscribe:
            // UNSUB <sid> [max_msgs]
            guard line.tokens.count == 2 || line.tokens.count == 3 else { throw .malformed("UNSUB <sid> [max_msgs]") }
            let sid = Self.string(buffer, base, line.tokens.range(1))
            var maximum: Int?
            if line.tokens.count == 3 {
                guard let value = Self.decimal(buffer, base, line.tokens.range(2)) else {
                    throw .malformed("UNSUB max_msgs must be a number")
                }
                maximum = value
            }
            buffer.moveReaderIndex(forwardBy: line.consumed)
            return .other(.unsubscribe(sid: sid, maxMessages: maximum))
        case .connect:
            let options = try buffer.withUnsafeReadableBytes { bytes throws(NATSProtocolError) in
                try NATSConnectOptions.parse(UnsafeRawBufferPointer(rebasing: bytes[line.argumentStart..<line.end]))
            }
            buffer.moveReaderIndex(forwardBy: line.consumed)
            return .other(.connect(options))
        case .ping, .pong:
            guard line.tokens.count == 1 else { throw .malformed("\(line.operation) takes no arguments") }
            buffer.moveReaderIndex(forwardBy: line.consumed)
            return .other(line.operation == .ping ? .ping : .pong)
        case .ignored:
            buffer.moveReaderIndex(forwardBy: line.consumed)
            return .other(.ignored)
        }
    }

    /// `PUB <subject> [reply] <size>` / `HPUB <subject> [reply] <header size> <total size>`, then the
    /// payload and CRLF.
    private func publish(
        _ line: ControlLine, in buffer: inout ByteBuffer, base: Int
    ) throws(NATSProtocolError) -> NATSPublishLayout? {
        let tokens = line.tokens
        let sizes = line.operation == .headerPublish ? 2 : 1
        guard tokens.count == 2 + sizes || tokens.count == 3 + sizes else {
            throw .malformed(
                sizes == 2 ? "HPUB <subject> [reply] <header size> <size>" : "PUB <subject> [reply] <size>")
        }
        let total = line.lastNumber
        guard total >= 0 else { throw .malformed("message size must be a number") }
        // The size is checked before a byte of the payload is waited for: nothing unbounded is buffered.
        guard total <= limits.maxPayload else { throw .maxPayloadViolation }
        var headerSize = 0
        if sizes == 2 {
            let value = line.secondLastNumber
            guard value >= 4, value <= total else {
                throw .malformed("header size must be a number between 4 and the total size")
            }
            headerSize = value
        }
        let needed = line.consumed + total + 2
        guard buffer.readableBytes >= needed else { return nil }
        let end = base + line.consumed + total
        guard buffer.getInteger(at: end, as: UInt16.self) == 0x0D0A else {
            throw .malformed("payload must be followed by CRLF")
        }
        let payloadStart = line.consumed + headerSize
        return NATSPublishLayout(
            subject: tokens.range(1), replyTo: tokens.count == 3 + sizes ? tokens.range(2) : nil,
            headers: sizes == 2 ? line.consumed..<payloadStart : nil, payload: payloadStart..<(line.consumed + total),
            length: needed)
    }

    // MARK: - Control line

    enum Operation: CustomStringConvertible {
        case publish, headerPublish, subscribe, unsubscribe, connect, ping, pong, ignored

        var description: String {
            switch self {
            case .publish: "PUB"
            case .headerPublish: "HPUB"
            case .subscribe: "SUB"
            case .unsubscribe: "UNSUB"
            case .connect: "CONNECT"
            case .ping: "PING"
            case .pong: "PONG"
            case .ignored: "INFO"
            }
        }
    }

    /// Where a control line's parts are, relative to the reader index.
    struct ControlLine {
        var operation: Operation
        var tokens: Tokens
        /// After the operation name and its whitespace (CONNECT's JSON starts here).
        var argumentStart: Int
        /// End of the line, without CR LF.
        var end: Int
        /// Bytes up to and including LF.
        var consumed: Int
        /// PUB/HPUB: the last token (total size) and the one before it (HPUB header size) as numbers,
        /// -1 when not a number; read here, where the bytes are at hand.
        var lastNumber = -1
        var secondLastNumber = -1
    }

    static func scanControlLine(
        _ bytes: UnsafeRawBufferPointer, limits: NATSLimits
    ) throws(NATSProtocolError) -> ControlLine? {
        let searchLimit = min(bytes.count, limits.maxControlLine + 2)
        var newline = -1
        if searchLimit > 0, let base = bytes.baseAddress, let found = memchr(base, 0x0A, searchLimit) {
            newline = base.distance(to: UnsafeRawPointer(found))
        }
        guard newline >= 0 else {
            if bytes.count > limits.maxControlLine + 1 { throw .maxControlLineExceeded }
            return nil
        }
        var end = newline
        if end > 0 && bytes[end - 1] == 0x0D { end -= 1 }
        if end > limits.maxControlLine { throw .maxControlLineExceeded }

        var tokens = Tokens()
        var index = 0
        var argumentStart = end
        while index < end {
            while index < end && Self.isSpace(bytes[index]) { index += 1 }
            guard index < end else { break }
            let start = index
            while index < end && !Self.isSpace(bytes[index]) { index += 1 }
            if tokens.count == 0 {
                var rest = index
                while rest < end && Self.isSpace(bytes[rest]) { rest += 1 }
                argumentStart = rest
            }
            guard tokens.append(start, index) else { break }  // CONNECT's JSON may hold any number of spaces
        }
        guard tokens.count > 0 else { throw .unknownOperation }
        let operation = try Self.operation(bytes, tokens.range(0))
        if tokens.isFull && operation != .connect && operation != .ignored { throw .malformed("too many arguments") }
        var line = ControlLine(
            operation: operation, tokens: tokens, argumentStart: argumentStart, end: end, consumed: newline + 1)
        if operation == .publish || operation == .headerPublish, tokens.count >= 2 {
            line.lastNumber = decimal(bytes, tokens.range(tokens.count - 1))
            if tokens.count >= 3 { line.secondLastNumber = decimal(bytes, tokens.range(tokens.count - 2)) }
        }
        return line
    }

    private static func operation(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>) throws(NATSProtocolError)
        -> Operation
    {
        // Operation names are case-insensitive (as in the reference server).
        var name: UInt64 = 0
        guard range.count <= 7 else { throw .unknownOperation }
        for index in range { name = name << 8 | UInt64(bytes[index] | (bytes[index] >= 0x41 ? 0x20 : 0)) }
        switch name {
        case 0x70_75_62: return .publish  // pub
        case 0x68_70_75_62: return .headerPublish  // hpub
        case 0x73_75_62: return .subscribe  // sub
        case 0x75_6E_73_75_62: return .unsubscribe  // unsub
        case 0x70_69_6E_67: return .ping  // ping
        case 0x70_6F_6E_67: return .pong  // pong
        case 0x63_6F_6E_6E_65_63_74: return .connect  // connect
        case 0x69_6E_66_6F, 0x2B_6F_6B, 0x2D_65_72_72: return .ignored  // info, +ok, -err
        default: throw .unknownOperation
        }
    }

    @inline(__always)
    private static func isSpace(_ byte: UInt8) -> Bool { byte == 0x20 || byte == 0x09 }

    /// A non-negative decimal of at most 10 digits (sizes are bounded long before that), or -1.
    @inline(__always)
    private static func decimal(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>) -> Int {
        guard range.count > 0, range.count <= 10 else { return -1 }
        var value = 0
        for index in range {
            let digit = bytes[index] &- 0x30
            guard digit < 10 else { return -1 }
            value = value * 10 + Int(digit)
        }
        return value
    }

    private static func string(_ buffer: ByteBuffer, _ base: Int, _ range: Range<Int>) -> String {
        buffer.getString(at: base + range.lowerBound, length: range.count)!
    }

    /// A non-negative decimal of at most 10 digits (sizes are bounded long before that).
    private static func decimal(_ buffer: ByteBuffer, _ base: Int, _ range: Range<Int>) -> Int? {
        guard range.count > 0, range.count <= 10 else { return nil }
        var value = 0
        for index in range {
            guard let byte = buffer.getInteger(at: base + index, as: UInt8.self), byte >= 0x30, byte <= 0x39 else {
                return nil
            }
            value = value * 10 + Int(byte - 0x30)
        }
        return value
    }
}

/// Up to five whitespace-separated tokens of a control line, without an array per line.
struct Tokens {
    private var starts: (UInt32, UInt32, UInt32, UInt32, UInt32) = (0, 0, 0, 0, 0)
    private var ends: (UInt32, UInt32, UInt32, UInt32, UInt32) = (0, 0, 0, 0, 0)
    private(set) var count = 0
    private(set) var isFull = false

    /// Adds a token; false (and `isFull`) when five are already held.
    mutating func append(_ start: Int, _ end: Int) -> Bool {
        let (start, end) = (UInt32(truncatingIfNeeded: start), UInt32(truncatingIfNeeded: end))
        switch count {
        case 0: (starts.0, ends.0) = (start, end)
        case 1: (starts.1, ends.1) = (start, end)
        case 2: (starts.2, ends.2) = (start, end)
        case 3: (starts.3, ends.3) = (start, end)
        case 4: (starts.4, ends.4) = (start, end)
        default:
            isFull = true
            return false
        }
        count += 1
        return true
    }

    func range(_ index: Int) -> Range<Int> {
        switch index {
        case 0: Int(starts.0)..<Int(ends.0)
        case 1: Int(starts.1)..<Int(ends.1)
        case 2: Int(starts.2)..<Int(ends.2)
        case 3: Int(starts.3)..<Int(ends.3)
        default: Int(starts.4)..<Int(ends.4)
        }
    }
}

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif
