import NIOCore

/// What one Engine.IO v4 text packet from the server means to a benchmark client (Socket.IO v5 in the
/// main namespace only). The benchmark's clients never send or expect binary packets.
enum SocketIOInboundPacket: Equatable {
    /// `0{…}`: the Engine.IO handshake; the client connects the main namespace next.
    case open
    /// `2`: the server's heartbeat; the client answers `3`.
    case ping
    /// `1`: the server closed the session.
    case close
    /// `40{"sid":…}`: the main namespace is connected.
    case connected
    /// `44{"message":…}`: the namespace refused the connection.
    case connectError
    /// `41`: the server disconnected the namespace.
    case disconnected
    /// `42[…]`: an event (a delivery, or a presence event that carries no benchmark payload).
    case event
    /// `43<id>[…]`: the answer to a request that asked for an ack; `isError` when it is `{"error":…}`.
    case ack(isError: Bool)
    /// Anything else (`6` noop, `3` pong, other namespaces): ignored.
    case other
}

/// The Engine.IO/Socket.IO text a benchmark client writes and the one function that classifies what it
/// reads. Engine.IO v4 packet types: 0 open, 1 close, 2 ping, 3 pong, 4 message, 6 noop; a message
/// carries a Socket.IO packet: 0 CONNECT, 1 DISCONNECT, 2 EVENT, 3 ACK, 4 CONNECT_ERROR.
enum SocketIOClientPackets {
    /// Engine.IO `4` + Socket.IO CONNECT to the main namespace, no auth.
    static let connect: [UInt8] = Array("40".utf8)
    /// Engine.IO pong, the answer to the server's ping.
    static let pong: [UInt8] = Array("3".utf8)
    /// Engine.IO v4 polling payloads separate packets with the record separator.
    static let recordSeparator = UInt8(0x1E)

    /// The query that selects Engine.IO v4 and a transport (`websocket` or `polling`).
    static func query(transport: String) -> String { "EIO=4&transport=\(transport)" }

    /// `42<id>["subscribe",{"channel":"C"}]`: the hub's subscribe event, asking for an ack.
    static func subscribe(channel: String, ackID: Int) -> [UInt8] {
        Array(#"42\#(ackID)["subscribe",{"channel":"\#(channel)"}]"#.utf8)
    }

    /// What precedes the payload in a `publish` event after `42[` or `42<id>[`.
    static func publishBody(channel: String) -> [UInt8] {
        Array(#""publish",{"channel":"\#(channel)","data":""#.utf8)
    }

    /// What follows the payload: the end of the data string, the object and the arguments.
    static let publishEnd: [UInt8] = Array(#""}]"#.utf8)

    /// The `sid` of an open packet `0{"sid":"…",…}` (Engine.IO session ids are URL-safe, unescaped).
    static func sessionID(inOpen bytes: UnsafeRawBufferPointer) -> String? {
        let key = Array(#""sid":""#.utf8)
        guard bytes.count > key.count else { return nil }
        for start in 0...(bytes.count - key.count) where bytes[start..<(start + key.count)].elementsEqual(key) {
            let valueStart = start + key.count
            guard let end = bytes[valueStart...].firstIndex(of: UInt8(ascii: "\"")) else { return nil }
            return String(decoding: UnsafeRawBufferPointer(rebasing: bytes[valueStart..<end]), as: UTF8.self)
        }
        return nil
    }

    /// Classifies one packet's text (one WebSocket frame, or one record of a polling payload).
    static func classify(_ bytes: UnsafeRawBufferPointer) -> SocketIOInboundPacket {
        guard let first = bytes.first else { return .other }
        switch first {
        case UInt8(ascii: "0"): return .open
        case UInt8(ascii: "1"): return .close
        case UInt8(ascii: "2"): return .ping
        case UInt8(ascii: "4"): break
        default: return .other
        }
        guard bytes.count >= 2 else { return .other }
        // A namespace other than the main one starts with `/` after the type: not ours.
        if bytes.count > 2, bytes[2] == UInt8(ascii: "/") { return .other }
        switch bytes[1] {
        case UInt8(ascii: "0"): return .connected
        case UInt8(ascii: "1"): return .disconnected
        case UInt8(ascii: "2"): return .event
        case UInt8(ascii: "4"): return .connectError
        case UInt8(ascii: "3"):
            // `43<id>[{"error":{…}}]`: the hub's refusal; a success names the channel (or the rooms) first.
            var index = 2
            while index < bytes.count, bytes[index] != UInt8(ascii: "[") { index += 1 }
            let error = Array(#"[{"error":"#.utf8)
            let isError =
                bytes.count - index >= error.count
                && zip(error, bytes[index..<(index + error.count)]).allSatisfy { $0 == $1 }
            return .ack(isError: isError)
        default: return .other
        }
    }
}
