package import BusCore
package import NIOCore

/// Writes the server's JSON shapes (docs/protocols/websocket.md). Every function appends to a buffer,
/// so a reply is one allocation and a push is encoded once per message.
package enum NativeWSEncoder {
    /// `{"id":…,"type":"<type>"` — the caller adds members and the closing brace.
    package static func openReply(_ buffer: inout ByteBuffer, id: ByteBuffer?, type: StaticString) {
        buffer.writeInteger(UInt8(ascii: "{"))
        if let id {
            buffer.writeStaticString("\"id\":")
            buffer.writeImmutableBuffer(id)
            buffer.writeInteger(UInt8(ascii: ","))
        }
        buffer.writeStaticString("\"type\":\"")
        buffer.writeStaticString(type)
        buffer.writeInteger(UInt8(ascii: "\""))
    }

    package static func error(_ buffer: inout ByteBuffer, id: ByteBuffer?, code: NativeWSErrorCode, message: String) {
        openReply(&buffer, id: id, type: "error")
        buffer.writeStaticString(",\"code\":")
        buffer.writeJSONString(code.rawValue)
        buffer.writeStaticString(",\"message\":")
        buffer.writeJSONString(message)
        buffer.writeInteger(UInt8(ascii: "}"))
    }
}
