public import NIOCore

extension ByteBuffer {
    /// Writes a command as Redis expects it: an array of bulk strings. Argument bytes are copied once,
    /// into this buffer, so a batch of commands is one buffer and one write.
    public mutating func writeRESPCommand(_ command: RESPCommand) {
        writeRESPHeader(UInt8(ascii: "*"), command.arguments.count)
        for argument in command.arguments {
            writeRESPHeader(UInt8(ascii: "$"), argument.readableBytes)
            writeImmutableBuffer(argument)
            writeStaticString("\r\n")
        }
    }

    /// Writes any value in its RESP3 form (RESP2's nulls as RESP2 wrote them). Simple strings and simple
    /// errors must hold no CR or LF: the caller's contract, as for Redis's own `addReplyStatus`.
    public mutating func writeRESPValue(_ value: RESPValue) {
        switch value {
        case .simpleString(let text):
            writeInteger(UInt8(ascii: "+"))
            writeString(text)
            writeStaticString("\r\n")
        case .simpleError(let text):
            writeInteger(UInt8(ascii: "-"))
            writeString(text)
            writeStaticString("\r\n")
        case .integer(let number):
            writeInteger(UInt8(ascii: ":"))
            writeString(String(number))
            writeStaticString("\r\n")
        case .bulkString(nil):
            writeStaticString("$-1\r\n")
        case .bulkString(let bytes?):
            writeRESPBulk(UInt8(ascii: "$"), bytes)
        case .array(nil):
            writeStaticString("*-1\r\n")
        case .array(let elements?):
            writeRESPAggregate(UInt8(ascii: "*"), elements)
        case .null:
            writeStaticString("_\r\n")
        case .double(let number):
            writeInteger(UInt8(ascii: ","))
            if number.isNaN {
                writeStaticString("nan")
            } else if number.isInfinite {
                writeString(number < 0 ? "-inf" : "inf")
            } else {
                writeString(String(number))
            }
            writeStaticString("\r\n")
        case .boolean(let flag):
            writeString(flag ? "#t\r\n" : "#f\r\n")
        case .bigNumber(let digits):
            writeInteger(UInt8(ascii: "("))
            writeString(digits)
            writeStaticString("\r\n")
        case .bulkError(let bytes):
            writeRESPBulk(UInt8(ascii: "!"), bytes)
        case .verbatimString(let format, let bytes):
            writeRESPHeader(UInt8(ascii: "="), bytes.readableBytes + 4)
            writeString(format)
            writeInteger(UInt8(ascii: ":"))
            writeImmutableBuffer(bytes)
            writeStaticString("\r\n")
        case .map(let pairs):
            writeRESPPairs(UInt8(ascii: "%"), pairs)
        case .set(let elements):
            writeRESPAggregate(UInt8(ascii: "~"), elements)
        case .attribute(let pairs, let described):
            writeRESPPairs(UInt8(ascii: "|"), pairs)
            writeRESPValue(described)
        case .push(let elements):
            writeRESPAggregate(UInt8(ascii: ">"), elements)
        }
    }

    private mutating func writeRESPHeader(_ type: UInt8, _ count: Int) {
        writeInteger(type)
        writeString(String(count))
        writeStaticString("\r\n")
    }

    private mutating func writeRESPBulk(_ type: UInt8, _ bytes: ByteBuffer) {
        writeRESPHeader(type, bytes.readableBytes)
        writeImmutableBuffer(bytes)
        writeStaticString("\r\n")
    }

    private mutating func writeRESPAggregate(_ type: UInt8, _ elements: [RESPValue]) {
        writeRESPHeader(type, elements.count)
        for element in elements { writeRESPValue(element) }
    }

    private mutating func writeRESPPairs(_ type: UInt8, _ pairs: [(key: RESPValue, value: RESPValue)]) {
        writeRESPHeader(type, pairs.count)
        for pair in pairs {
            writeRESPValue(pair.key)
            writeRESPValue(pair.value)
        }
    }
}
