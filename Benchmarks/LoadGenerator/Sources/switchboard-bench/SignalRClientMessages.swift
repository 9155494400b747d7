import NIOCore

/// The two hub protocols a benchmark client can speak (the server's docs/protocols/signalr.md).
enum SignalRHubEncoding: Sendable {
    /// JSON text, each message ended by the record separator, in WebSocket text frames.
    case json
    /// MessagePack, each message behind its VarInt length, in WebSocket binary frames.
    case messagePack

    /// The protocol name the handshake asks for.
    var protocolName: String { self == .json ? "json" : "messagepack" }

    /// The WebSocket opcode of hub messages (the handshake is text whatever the protocol).
    var opcode: UInt8 { self == .json ? 0x1 : 0x2 }
}

/// What one hub message from the server means to a benchmark client.
enum SignalRInboundMessage: Equatable {
    /// The handshake response: `{}` when accepted; `error` is the response's text when it says `{"error":…}`.
    case handshake(error: String?)
    /// Type 1: the server invokes the client (a delivery's `Receive`, or presence `Join`/`Leave`).
    case invocation
    /// Type 3: the completion of an invocation the client gave an id; `error` when it failed.
    case completion(error: String?)
    /// Type 6: the server's keep-alive.
    case ping
    /// Type 7: the server closes the connection, with its reason when it gives one.
    case close(error: String?)
    /// Anything else (stream items, future types, what cannot be read): ignored, as clients ignore
    /// message types they do not know.
    case other
}

/// Errors in the server's framing that the client will not read past.
enum SignalRClientError: Error, CustomStringConvertible {
    /// A MessagePack length prefix of more than 5 bytes or over 2^31 − 1 (HubProtocol.md §VarInt).
    case malformedLengthPrefix
    /// A message longer than ``SignalRClientMessages/maximumMessageBytes``.
    case messageTooLarge(Int)

    var description: String {
        switch self {
        case .malformedLengthPrefix: return "signalr: malformed MessagePack length prefix"
        case .messageTooLarge(let length): return "signalr: message of \(length) bytes is too large"
        }
    }
}

/// The hub messages a benchmark client writes, the framing that splits what it reads into messages,
/// and the one function that classifies them (HubProtocol.md, cited as §section). JSON messages are
/// written and read here; MessagePack ones through ``SignalRClientMessagePack``.
enum SignalRClientMessages {
    /// §JSON Encoding: every JSON message, and the handshake in either protocol, ends with 0x1E.
    static let recordSeparator = UInt8(0x1E)
    /// Largest message the load generator reads (benchmark messages are far smaller); also bounds the
    /// bytes it keeps while a JSON message waits for its separator.
    static let maximumMessageBytes = WebSocketFrameParser.maximumFrameBytes

    /// §Overview: the handshake request, always JSON text with the separator, also for MessagePack.
    static func handshake(_ encoding: SignalRHubEncoding) -> [UInt8] {
        Array(#"{"protocol":"\#(encoding.protocolName)","version":1}"#.utf8) + [recordSeparator]
    }

    /// The `Subscribe(channel)` invocation with an id, so the server answers with a completion.
    static func subscribe(channel: String, invocationID: Int, encoding: SignalRHubEncoding) -> [UInt8] {
        switch encoding {
        case .json:
            return Array(
                #"{"type":1,"invocationId":"\#(invocationID)","target":"Subscribe","arguments":["\#(channel)"]}"#.utf8)
                + [recordSeparator]
        case .messagePack:
            return SignalRClientMessagePack.message(
                SignalRClientMessagePack.invocationHead(invocationID: invocationID, target: "Subscribe")
                    + [0x91] + SignalRClientMessagePack.string(channel) + [0x90])
        }
    }

    /// §Ping: the client's keep-alive.
    static func ping(_ encoding: SignalRHubEncoding) -> [UInt8] {
        encoding == .json
            ? Array(#"{"type":6}"#.utf8) + [recordSeparator] : SignalRClientMessagePack.message([0x91, 0x06])
    }

    /// Everything of a `Publish(channel, data)` invocation before the payload, a string of `payloadLength`
    /// bytes: fire-and-forget without an id, answered by a completion with one. For MessagePack this
    /// includes the length prefix and the payload's str header.
    static func publishPrefix(
        channel: String, invocationID: Int?, payloadLength: Int, encoding: SignalRHubEncoding
    ) -> [UInt8] {
        switch encoding {
        case .json:
            let id = invocationID.map { #""invocationId":"\#($0)","# } ?? ""
            return Array(#"{"type":1,\#(id)"target":"Publish","arguments":["\#(channel)",""#.utf8)
        case .messagePack:
            let head =
                SignalRClientMessagePack.invocationHead(invocationID: invocationID, target: "Publish") + [0x92]
                + SignalRClientMessagePack.string(channel) + SignalRClientMessagePack.stringHeader(payloadLength)
            var prefix: [UInt8] = []
            SignalRClientMessagePack.writeLengthPrefix(head.count + payloadLength + 1, into: &prefix)
            return prefix + head
        }
    }

    /// What follows the payload of a publish: the end of the string, the arguments and the message
    /// (MessagePack: the empty stream ids).
    static func publishSuffix(_ encoding: SignalRHubEncoding) -> [UInt8] {
        encoding == .json ? Array(#""]}"#.utf8) + [recordSeparator] : [0x90]
    }

    /// The next whole message in `bytes` from `offset`: the range of its body (without separator or
    /// length prefix) and where the message after it starts; nil while it is incomplete.
    @inline(__always)
    static func nextMessage(
        in bytes: UnsafeRawBufferPointer, from offset: Int, encoding: SignalRHubEncoding
    ) throws -> (body: Range<Int>, next: Int)? {
        switch encoding {
        case .json:
            guard let end = bytes[offset...].firstIndex(of: recordSeparator) else {
                if bytes.count - offset > maximumMessageBytes {
                    throw SignalRClientError.messageTooLarge(bytes.count - offset)
                }
                return nil
            }
            return (offset..<end, end + 1)
        case .messagePack:
            guard let (length, prefixLength) = try SignalRClientMessagePack.readLengthPrefix(bytes, at: offset) else {
                return nil
            }
            guard length <= maximumMessageBytes else { throw SignalRClientError.messageTooLarge(length) }
            let start = offset + prefixLength
            guard bytes.count - start >= length else { return nil }
            return (start..<(start + length), start + length)
        }
    }

    /// The handshake response (§Overview): accepted unless it carries an `error` member.
    static func classifyHandshake(_ bytes: UnsafeRawBufferPointer) -> SignalRInboundMessage {
        guard bytes.firstRange(of: Array(#""error""#.utf8)) != nil else { return .handshake(error: nil) }
        return .handshake(error: String(decoding: bytes, as: UTF8.self))
    }

    /// Classifies one message body. For JSON this reads the `type` the server (as ASP.NET Core) writes
    /// first, `{"type":N`; an error's text is the whole message.
    @inline(__always)
    static func classify(_ bytes: UnsafeRawBufferPointer, encoding: SignalRHubEncoding) -> SignalRInboundMessage {
        guard encoding == .json else { return SignalRClientMessagePack.classify(bytes) }
        let typeAt = jsonTypePrefix.count
        guard bytes.count > typeAt + 1, bytes.starts(with: jsonTypePrefix) else { return .other }
        // Every type is one digit (1-9): a second digit is a type from a later version.
        guard !(UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[typeAt + 1]) else { return .other }
        switch bytes[typeAt] {
        case UInt8(ascii: "1"): return .invocation
        case UInt8(ascii: "3"):
            // §Completion: `error` or `result` (or neither) follows the id; a publish's result is a position.
            let failed = bytes.firstRange(of: jsonErrorMember) != nil
            return .completion(error: failed ? String(decoding: bytes, as: UTF8.self) : nil)
        case UInt8(ascii: "6"): return .ping
        case UInt8(ascii: "7"):
            let failed = bytes.firstRange(of: jsonErrorMember) != nil
            return .close(error: failed ? String(decoding: bytes, as: UTF8.self) : nil)
        default: return .other
        }
    }

    private static let jsonTypePrefix: [UInt8] = Array(#"{"type":"#.utf8)
    private static let jsonErrorMember: [UInt8] = Array(#","error":"#.utf8)
}
