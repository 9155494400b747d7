package import BusCore
package import NIOCore

/// The JSON shapes of long-poll answers, realtime events and `reset` events (docs/protocols/sse.md).
package enum SSEMessageJSON {
    /// `{"channel":…,"event":…,"data"|"text"|"binary":…,"offset":N,"epoch":…}` — a message as a poll
    /// answer lists it and as a realtime event carries it.
    package static func message(_ buffer: inout ByteBuffer, _ message: BusMessage) {
        buffer.writeStaticString("{\"channel\":")
        buffer.writeJSONString(message.topic.name)
        switch message.kind {
        case .publish:
            buffer.writeStaticString(",\"event\":")
            buffer.writeJSONString(message.headers.eventType ?? SSEEventEncoder.defaultEventType)
            buffer.writeInteger(UInt8(ascii: ","))
            buffer.writePayloadMember(message.payload, form: message.payloadForm)
        case .join(let info), .leave(let info):
            if case .join = message.kind {
                buffer.writeStaticString(",\"event\":\"join\",\"client\":")
            } else {
                buffer.writeStaticString(",\"event\":\"leave\",\"client\":")
            }
            BusJSON.clientSummary(&buffer, info)
        }
        if let position = message.position { BusJSON.position(&buffer, position) }
        buffer.writeInteger(UInt8(ascii: "}"))
    }

    /// The data of a `join`/`leave` event on an SSE stream: `{"channel":…,"client":{…}}`.
    package static func presence(_ buffer: inout ByteBuffer, channel: String, _ info: PresenceInfo) {
        buffer.writeStaticString("{\"channel\":")
        buffer.writeJSONString(channel)
        buffer.writeStaticString(",\"client\":")
        BusJSON.clientSummary(&buffer, info)
        buffer.writeInteger(UInt8(ascii: "}"))
    }

    /// What a recovery could not restore, for `event: reset` and a poll's `"reset"` list:
    /// `{"channel":…,"reason":"epoch_changed"|"out_of_window","requested":{offset,epoch},
    /// "current":{offset,epoch}}` — the client lost the messages after `requested` up to `current`
    /// (all of them when the epoch changed) and continues live after `current`.
    package static func reset(_ buffer: inout ByteBuffer, _ reset: SSEReset) {
        buffer.writeStaticString("{\"channel\":")
        buffer.writeJSONString(reset.channel)
        buffer.writeStaticString(",\"reason\":")
        buffer.writeJSONString(reset.reason.rawValue)
        buffer.writeStaticString(",\"requested\":")
        BusJSON.positionObject(&buffer, reset.requested)
        buffer.writeStaticString(",\"current\":")
        BusJSON.positionObject(&buffer, reset.current)
        buffer.writeInteger(UInt8(ascii: "}"))
    }
}

/// A recovery that could not be met: the client's position is gone from the log.
package struct SSEReset: Equatable, Sendable {
    package enum Reason: String, Sendable {
        /// The log was lost or recreated: the position belongs to a log that no longer exists.
        case epochChanged = "epoch_changed"
        /// The messages after the position were trimmed (count, bytes or age), or the position is
        /// ahead of the log.
        case outOfWindow = "out_of_window"
    }

    package var channel: String
    package var reason: Reason
    package var requested: LogPosition
    package var current: LogPosition?

    package init(channel: String, requested: LogPosition, current: LogPosition?) {
        self.channel = channel
        self.requested = requested
        self.current = current
        self.reason = current?.epoch == requested.epoch ? .outOfWindow : .epochChanged
    }
}
