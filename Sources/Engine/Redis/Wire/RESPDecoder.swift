public import NIOCore

/// An incremental RESP3 (and RESP2) decoder: a pure step parser over a `ByteBuffer`. `decode` returns
/// one whole value, or nil with the reader index unchanged when the buffer holds only part of one; it
/// throws only for malformed input or a broken `RESPLimits` bound. Bulk values are slices of the input.
public struct RESPDecoder: Sendable {
    public var limits: RESPLimits

    public init(limits: RESPLimits = RESPLimits()) {
        self.limits = limits
    }

    /// The next value at the front of `buffer` (moving its reader index past it), or nil if it is not all
    /// there yet (leaving the reader index where it was).
    public func decode(_ buffer: inout ByteBuffer) throws -> RESPValue? {
        var cursor = buffer.readerIndex
        guard let value = try parse(buffer, at: &cursor, depth: 0) else { return nil }
        buffer.moveReaderIndex(to: cursor)
        return value
    }

    private static let carriageReturn = UInt8(ascii: "\r")
    private static let lineFeed = UInt8(ascii: "\n")

    /// Parses the value starting at `index`; on success `index` is just past it.
    private func parse(_ buffer: ByteBuffer, at index: inout Int, depth: Int) throws -> RESPValue? {
        guard let type = buffer.getInteger(at: index, as: UInt8.self) else { return nil }
        guard let (line, afterLine) = try self.line(buffer, from: index + 1) else { return nil }
        var next = afterLine
        let value: RESPValue
        switch type {
        case UInt8(ascii: "+"):
            value = .simpleString(String(buffer: line))
        case UInt8(ascii: "-"):
            value = .simpleError(String(buffer: line))
        case UInt8(ascii: ":"):
            value = .integer(try Self.integer(line))
        case UInt8(ascii: "_"):
            guard line.readableBytes == 0 else { throw RESPDecodingError(.invalidNull) }
            value = .null
        case UInt8(ascii: ","):
            value = .double(try Self.double(line))
        case UInt8(ascii: "#"):
            switch line.readableBytesView.first {
            case UInt8(ascii: "t") where line.readableBytes == 1: value = .boolean(true)
            case UInt8(ascii: "f") where line.readableBytes == 1: value = .boolean(false)
            default: throw RESPDecodingError(.invalidNumber)
            }
        case UInt8(ascii: "("):
            var digits = line.readableBytesView[...]
            if digits.first == UInt8(ascii: "-") { digits = digits.dropFirst() }
            guard !digits.isEmpty, digits.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) else {
                throw RESPDecodingError(.invalidNumber)
            }
            value = .bigNumber(String(buffer: line))
        case UInt8(ascii: "$"), UInt8(ascii: "!"), UInt8(ascii: "="):
            guard let length = try bulkLength(line, nullable: type == UInt8(ascii: "$")) else {
                value = .bulkString(nil)
                break
            }
            // The bytes and their CRLF must all be here.
            guard next + length + 2 <= buffer.writerIndex else { return nil }
            guard buffer.getInteger(at: next + length, as: UInt8.self) == Self.carriageReturn,
                buffer.getInteger(at: next + length + 1, as: UInt8.self) == Self.lineFeed
            else { throw RESPDecodingError(.missingTerminator) }
            let bytes = buffer.getSlice(at: next, length: length)!
            next += length + 2
            switch type {
            case UInt8(ascii: "$"): value = .bulkString(bytes)
            case UInt8(ascii: "!"): value = .bulkError(bytes)
            default:
                // RESP3: "=<length>\r\n<3-byte format>:<data>\r\n".
                guard length >= 4, bytes.getInteger(at: bytes.readerIndex + 3, as: UInt8.self) == UInt8(ascii: ":"),
                    bytes.readableBytesView.prefix(3).allSatisfy({ $0 < 0x80 })
                else { throw RESPDecodingError(.invalidVerbatimString) }
                value = .verbatimString(
                    format: bytes.getString(at: bytes.readerIndex, length: 3)!,
                    bytes.getSlice(at: bytes.readerIndex + 4, length: length - 4)!)
            }
        case UInt8(ascii: "*"), UInt8(ascii: "~"), UInt8(ascii: ">"):
            guard let count = try aggregateCount(line, nullable: type == UInt8(ascii: "*"), depth: depth) else {
                value = .array(nil)
                break
            }
            var elements: [RESPValue] = []
            // Capacity for what the buffer can hold, not what the header claims (three bytes per element).
            elements.reserveCapacity(min(count, (buffer.writerIndex - next) / 3))
            for _ in 0..<count {
                guard let element = try parse(buffer, at: &next, depth: depth + 1) else { return nil }
                elements.append(element)
            }
            switch type {
            case UInt8(ascii: "*"): value = .array(elements)
            case UInt8(ascii: "~"): value = .set(elements)
            default: value = .push(elements)
            }
        case UInt8(ascii: "%"), UInt8(ascii: "|"):
            let count = try aggregateCount(line, nullable: false, depth: depth)!
            var pairs: [(key: RESPValue, value: RESPValue)] = []
            pairs.reserveCapacity(min(count, (buffer.writerIndex - next) / 6))
            for _ in 0..<count {
                guard let key = try parse(buffer, at: &next, depth: depth + 1),
                    let pairValue = try parse(buffer, at: &next, depth: depth + 1)
                else { return nil }
                pairs.append((key, pairValue))
            }
            if type == UInt8(ascii: "%") {
                value = .map(pairs)
            } else {
                // RESP3: an attribute describes the value that follows it; return them together.
                guard let described = try parse(buffer, at: &next, depth: depth + 1) else { return nil }
                value = .attribute(pairs, described)
            }
        default:
            throw RESPDecodingError(.unknownType(type))
        }
        index = next
        return value
    }

    /// The line starting at `start` (without its CRLF) and the index after the CRLF; nil if the CRLF has
    /// not arrived.
    private func line(_ buffer: ByteBuffer, from start: Int) throws -> (ByteBuffer, Int)? {
        let available = buffer.writerIndex - start
        guard available > 0 else { return nil }
        let window = buffer.viewBytes(at: start, length: min(available, limits.maxLineLength + 2))!
        guard let carriageReturn = window.firstIndex(of: Self.carriageReturn) else {
            if available >= limits.maxLineLength + 2 { throw RESPDecodingError(.limitExceeded("maxLineLength")) }
            return nil
        }
        let length = carriageReturn - window.startIndex
        guard length <= limits.maxLineLength else { throw RESPDecodingError(.limitExceeded("maxLineLength")) }
        guard let after = buffer.getInteger(at: start + length + 1, as: UInt8.self) else { return nil }
        guard after == Self.lineFeed else { throw RESPDecodingError(.invalidLineEnding) }
        return (buffer.getSlice(at: start, length: length)!, start + length + 2)
    }

    /// A bulk length, or nil for RESP2's null bulk string (`$-1`), checked against `maxBulkLength`.
    private func bulkLength(_ line: ByteBuffer, nullable: Bool) throws -> Int? {
        if line.readableBytesView.first == UInt8(ascii: "?") { throw RESPDecodingError(.streamedValue) }
        let length = try Self.integer(line)
        if length == -1 && nullable { return nil }
        guard length >= 0 else { throw RESPDecodingError(.invalidLength) }
        guard length <= limits.maxBulkLength else { throw RESPDecodingError(.limitExceeded("maxBulkLength")) }
        return Int(length)
    }

    /// An aggregate's count, or nil for RESP2's null array (`*-1`), checked against `maxAggregateCount` and
    /// the nesting against `maxDepth`.
    private func aggregateCount(_ line: ByteBuffer, nullable: Bool, depth: Int) throws -> Int? {
        if line.readableBytesView.first == UInt8(ascii: "?") { throw RESPDecodingError(.streamedValue) }
        let count = try Self.integer(line)
        if count == -1 && nullable { return nil }
        guard count >= 0 else { throw RESPDecodingError(.invalidLength) }
        guard count <= limits.maxAggregateCount else {
            throw RESPDecodingError(.limitExceeded("maxAggregateCount"))
        }
        guard depth < limits.maxDepth else { throw RESPDecodingError(.limitExceeded("maxDepth")) }
        return Int(count)
    }

    /// A signed decimal integer that fits 64 bits: optional sign, then at least one digit.
    private static func integer(_ line: ByteBuffer) throws -> Int64 {
        var bytes = line.readableBytesView[...]
        var negative = false
        if let sign = bytes.first, sign == UInt8(ascii: "-") || sign == UInt8(ascii: "+") {
            negative = sign == UInt8(ascii: "-")
            bytes = bytes.dropFirst()
        }
        guard !bytes.isEmpty else { throw RESPDecodingError(.invalidNumber) }
        var value: Int64 = 0
        for byte in bytes {
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else {
                throw RESPDecodingError(.invalidNumber)
            }
            let digit = Int64(byte - UInt8(ascii: "0"))
            // Accumulate negatively so Int64.min parses too.
            let (shifted, overflow1) = value.multipliedReportingOverflow(by: 10)
            let (next, overflow2) = shifted.subtractingReportingOverflow(digit)
            guard !overflow1, !overflow2 else { throw RESPDecodingError(.invalidNumber) }
            value = next
        }
        if negative { return value }
        guard value != .min else { throw RESPDecodingError(.invalidNumber) }
        return -value
    }

    /// RESP3 doubles: a decimal or exponent form, `inf`, `-inf`, `nan`.
    private static func double(_ line: ByteBuffer) throws -> Double {
        let text = String(buffer: line)
        switch text {
        case "inf", "+inf": return .infinity
        case "-inf": return -.infinity
        case "nan", "-nan": return .nan
        default:
            // Swift also reads "infinity", hex floats and "nan(…)": RESP has none of them.
            guard let first = text.utf8.first,
                first == UInt8(ascii: "-") || first == UInt8(ascii: "+")
                    || (first >= UInt8(ascii: "0") && first <= UInt8(ascii: "9")) || first == UInt8(ascii: "."),
                !text.contains(where: { $0 == "x" || $0 == "X" || $0 == "n" || $0 == "N" || $0 == "i" }),
                let value = Double(text)
            else { throw RESPDecodingError(.invalidNumber) }
            return value
        }
    }
}
