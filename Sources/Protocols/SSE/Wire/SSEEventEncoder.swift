package import BusCore
package import NIOCore

/// Writes the `text/event-stream` format (WHATWG HTML §9.2.6 "Server-sent events", "Parsing an event
/// stream"). Every function appends to a buffer, so one event is one buffer shared by every stream
/// that receives it. Lines end with LF only; field values never contain CR or LF.
package enum SSEEventEncoder {
    /// The event type when the publisher set none (the type `EventSource` dispatches as `message`).
    package static let defaultEventType = "message"

    /// A whole message event: `id:` (when given), `event:`, the payload as `data:` lines, blank line.
    package static func message(_ buffer: inout ByteBuffer, _ message: BusMessage, id: String?) {
        if let id { self.id(&buffer, id) }
        switch message.kind {
        case .publish:
            buffer.writeStaticString("event: ")
            buffer.writeString(message.headers.eventType ?? defaultEventType)
            buffer.writeInteger(UInt8(ascii: "\n"))
            payload(&buffer, message.payload, form: message.payloadForm)
        case .join(let info), .leave(let info):
            if case .join = message.kind {
                buffer.writeStaticString("event: join\n")
            } else {
                buffer.writeStaticString("event: leave\n")
            }
            var json = ByteBuffer()
            SSEMessageJSON.presence(&json, channel: message.topic.name, info)
            data(&buffer, json)
        }
        buffer.writeInteger(UInt8(ascii: "\n"))
    }

    /// The payload per the payload rule (docs/topics.md): JSON and text as they are, binary as base64.
    package static func payload(_ buffer: inout ByteBuffer, _ payload: ByteBuffer, form: PayloadForm) {
        switch form {
        case .json, .text:
            data(&buffer, payload)
        case .binary:
            data(&buffer, ByteBuffer(string: Base64.encode(payload.readableBytesView)))
        }
    }

    /// `bytes` as `data:` lines. A line break in the data (CRLF, CR or LF — all three end a line in the
    /// stream, §9.2.6) starts a new `data:` line; the client joins them with LF. Empty data is one
    /// empty `data:` line, which still dispatches an event with empty data.
    package static func data(_ buffer: inout ByteBuffer, _ bytes: ByteBuffer) {
        buffer.writeStaticString("data: ")
        bytes.withUnsafeReadableBytes { raw in
            var start = 0
            var index = 0
            while index < raw.count {
                let byte = raw[index]
                if byte == UInt8(ascii: "\n") || byte == UInt8(ascii: "\r") {
                    buffer.writeBytes(UnsafeRawBufferPointer(rebasing: raw[start..<index]))
                    buffer.writeStaticString("\ndata: ")
                    if byte == UInt8(ascii: "\r"), index + 1 < raw.count, raw[index + 1] == UInt8(ascii: "\n") {
                        index += 1
                    }
                    start = index + 1
                }
                index += 1
            }
            buffer.writeBytes(UnsafeRawBufferPointer(rebasing: raw[start..<raw.count]))
        }
        buffer.writeInteger(UInt8(ascii: "\n"))
    }

    /// `id: <id>` — ids are cursor texts (`SSECursor`), never containing CR, LF or NUL (§9.2.6 ignores
    /// an `id` field containing NUL).
    package static func id(_ buffer: inout ByteBuffer, _ id: String) {
        buffer.writeStaticString("id: ")
        buffer.writeString(id)
        buffer.writeInteger(UInt8(ascii: "\n"))
    }

    /// An event of `type` whose data is `json` (control events: `connect`, `reset`).
    package static func event(_ buffer: inout ByteBuffer, type: String, data json: ByteBuffer) {
        buffer.writeStaticString("event: ")
        buffer.writeString(type)
        buffer.writeInteger(UInt8(ascii: "\n"))
        data(&buffer, json)
        buffer.writeInteger(UInt8(ascii: "\n"))
    }

    /// The stream's opening: `retry:` (the reconnection time, §9.2.6 "retry" field, milliseconds) and,
    /// when the stream has a position, an `id:`-only event. An event without data is not dispatched, but
    /// its id still becomes the source's last event id (§9.2.6 "dispatch the event", step 1), so a
    /// client that drops before any message still resumes from where it started.
    package static func opening(_ buffer: inout ByteBuffer, retryMilliseconds: Int, id: String?) {
        buffer.writeStaticString("retry: ")
        buffer.writeString(String(retryMilliseconds))
        buffer.writeInteger(UInt8(ascii: "\n"))
        if let id { self.id(&buffer, id) }
        buffer.writeInteger(UInt8(ascii: "\n"))
    }

    /// A comment line (`:` first, ignored by clients): the keep-alive that stops proxies from timing
    /// the stream out.
    package static func comment(_ buffer: inout ByteBuffer, _ text: StaticString) {
        buffer.writeStaticString(": ")
        buffer.writeStaticString(text)
        buffer.writeStaticString("\n\n")
    }
}
