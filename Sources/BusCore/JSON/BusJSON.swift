package import NIOCore

/// The one JSON shape of messages, log positions and presence entries, shared by the native WebSocket
/// protocol, the HTTP API, SSE and every frontend that speaks JSON (docs/protocols/websocket.md). Every
/// function appends to a buffer, so a reply is one allocation and a push is encoded once per message.
package enum BusJSON {
    /// `,"offset":N,"epoch":"…"`
    package static func position(_ buffer: inout ByteBuffer, _ position: LogPosition) {
        buffer.writeStaticString(",\"offset\":")
        buffer.writeDecimal(position.offset)
        buffer.writeStaticString(",\"epoch\":")
        buffer.writeJSONString(position.epoch)
    }

    /// A message as pushed and as listed in `subscribed`/`history`: `message`, `request` (it carries a
    /// reply token), or a presence event.
    package static func message(_ buffer: inout ByteBuffer, _ message: BusMessage) {
        switch message.kind {
        case .publish:
            if let reply = message.headers.replyTo {
                buffer.writeStaticString("{\"type\":\"request\",\"channel\":")
                buffer.writeJSONString(message.topic.name)
                buffer.writeInteger(UInt8(ascii: ","))
                buffer.writePayloadMember(message.payload, form: message.payloadForm)
                buffer.writeStaticString(",\"reply\":")
                buffer.writeJSONString(reply)
            } else {
                buffer.writeStaticString("{\"type\":\"message\",\"channel\":")
                buffer.writeJSONString(message.topic.name)
                buffer.writeInteger(UInt8(ascii: ","))
                buffer.writePayloadMember(message.payload, form: message.payloadForm)
                if let event = message.headers.eventType {
                    buffer.writeStaticString(",\"event\":")
                    buffer.writeJSONString(event)
                }
            }
            if let position = message.position { self.position(&buffer, position) }
            buffer.writeInteger(UInt8(ascii: "}"))
        case .join(let info), .leave(let info):
            if case .join = message.kind {
                buffer.writeStaticString("{\"type\":\"join\",\"channel\":")
            } else {
                buffer.writeStaticString("{\"type\":\"leave\",\"channel\":")
            }
            buffer.writeJSONString(message.topic.name)
            buffer.writeStaticString(",\"client\":")
            client(&buffer, info)
            buffer.writeInteger(UInt8(ascii: "}"))
        }
    }

    /// `[m1,m2,…]`
    package static func messages(_ buffer: inout ByteBuffer, _ messages: [BusMessage]) {
        buffer.writeInteger(UInt8(ascii: "["))
        for (index, item) in messages.enumerated() {
            if index > 0 { buffer.writeInteger(UInt8(ascii: ",")) }
            message(&buffer, item)
        }
        buffer.writeInteger(UInt8(ascii: "]"))
    }

    /// A presence entry: `{"client","user","name","protocol","connected_at","remote"}`.
    package static func client(_ buffer: inout ByteBuffer, _ info: PresenceInfo) {
        clientMembers(&buffer, info)
        buffer.writeStaticString(",\"connected_at\":")
        buffer.writeJSONString(ISO8601.format(secondsSince1970: info.connectedAt))
        buffer.writeStaticString(",\"remote\":")
        optionalString(&buffer, info.remoteAddress)
        buffer.writeInteger(UInt8(ascii: "}"))
    }

    /// A presence entry in its short form: `{"client","user","name","protocol"}` (SSE events).
    package static func clientSummary(_ buffer: inout ByteBuffer, _ info: PresenceInfo) {
        clientMembers(&buffer, info)
        buffer.writeInteger(UInt8(ascii: "}"))
    }

    /// `{"client":…,"user":…,"name":…,"protocol":…` — the caller adds members and the closing brace.
    private static func clientMembers(_ buffer: inout ByteBuffer, _ info: PresenceInfo) {
        buffer.writeStaticString("{\"client\":")
        buffer.writeJSONString(info.clientID)
        buffer.writeStaticString(",\"user\":")
        optionalString(&buffer, info.userID)
        buffer.writeStaticString(",\"name\":")
        optionalString(&buffer, info.name)
        buffer.writeStaticString(",\"protocol\":")
        buffer.writeJSONString(info.protocolName)
    }

    package static func optionalString(_ buffer: inout ByteBuffer, _ value: String?) {
        if let value { buffer.writeJSONString(value) } else { buffer.writeStaticString("null") }
    }

    /// `{"offset":N,"epoch":"…"}`, or `null`.
    package static func positionObject(_ buffer: inout ByteBuffer, _ position: LogPosition?) {
        guard let position else {
            buffer.writeStaticString("null")
            return
        }
        buffer.writeStaticString("{\"offset\":")
        buffer.writeDecimal(position.offset)
        buffer.writeStaticString(",\"epoch\":")
        buffer.writeJSONString(position.epoch)
        buffer.writeInteger(UInt8(ascii: "}"))
    }
}

/// RFC 3339 timestamps without Foundation's formatter (UTC, milliseconds).
package enum ISO8601 {
    package static func format(secondsSince1970 seconds: Double) -> String {
        let millis = Int64((seconds * 1000).rounded(.down))
        var days = millis / 86_400_000
        var rest = millis % 86_400_000
        if rest < 0 {
            rest += 86_400_000
            days -= 1
        }
        // Civil-from-days (Howard Hinnant's algorithm).
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = doy - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        let year = yoe + era * 400 + (month <= 2 ? 1 : 0)
        func pad(_ value: Int64, _ width: Int) -> String {
            let text = String(value)
            return String(repeating: "0", count: max(0, width - text.count)) + text
        }
        return
            "\(pad(year, 4))-\(pad(month, 2))-\(pad(day, 2))T\(pad(rest / 3_600_000, 2)):\(pad(rest / 60_000 % 60, 2)):\(pad(rest / 1000 % 60, 2)).\(pad(rest % 1000, 3))Z"
    }
}
