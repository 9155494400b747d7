package import BusCore
package import NIOCore

/// The members of each reply (docs/protocols/websocket.md), written after `openReply`; the caller
/// closes the object.
extension NativeWSEncoder {
    /// `subscribed`: `,"channel":…[,"offset","epoch"][,"recovered"],"messages":[…]`.
    package static func subscribed(
        _ buffer: inout ByteBuffer, channel: String, position: LogPosition?, recovered: Bool?, messages: [BusMessage]
    ) {
        channelMember(&buffer, channel)
        if let position { BusJSON.position(&buffer, position) }
        recoveredMember(&buffer, recovered)
        buffer.writeStaticString(",\"messages\":")
        BusJSON.messages(&buffer, messages)
    }

    /// `unsubscribed`: `,"channel":…`.
    package static func unsubscribed(_ buffer: inout ByteBuffer, channel: String) {
        channelMember(&buffer, channel)
    }

    /// `published`: the message's place in the channel's log, when it keeps one.
    package static func published(_ buffer: inout ByteBuffer, position: LogPosition?) {
        if let position { BusJSON.position(&buffer, position) }
    }

    /// `presence`: `,"channel":…,"clients":[…]`.
    package static func presence(_ buffer: inout ByteBuffer, channel: String, clients: [PresenceInfo]) {
        channelMember(&buffer, channel)
        buffer.writeStaticString(",\"clients\":[")
        for (index, client) in clients.enumerated() {
            if index > 0 { buffer.writeInteger(UInt8(ascii: ",")) }
            BusJSON.client(&buffer, client)
        }
        buffer.writeInteger(UInt8(ascii: "]"))
    }

    /// `history`: `,"channel":…,"offset","epoch"[,"recovered"],"messages":[…]`.
    package static func history(
        _ buffer: inout ByteBuffer, channel: String, position: LogPosition, recovered: Bool?, messages: [BusMessage]
    ) {
        channelMember(&buffer, channel)
        BusJSON.position(&buffer, position)
        recoveredMember(&buffer, recovered)
        buffer.writeStaticString(",\"messages\":")
        BusJSON.messages(&buffer, messages)
    }

    /// `connected`: `,"client":…,"version":"1","ping":N[,"expires":T]`.
    package static func connected(_ buffer: inout ByteBuffer, client: String, pingSeconds: Int, expires: Double?) {
        buffer.writeStaticString(",\"client\":")
        buffer.writeJSONString(client)
        buffer.writeStaticString(",\"version\":\"1\",\"ping\":")
        buffer.writeDecimal(pingSeconds)
        expiresMember(&buffer, expires)
    }

    /// `refreshed`: `[,"expires":T]`.
    package static func refreshed(_ buffer: inout ByteBuffer, expires: Double?) {
        expiresMember(&buffer, expires)
    }

    private static func channelMember(_ buffer: inout ByteBuffer, _ channel: String) {
        buffer.writeStaticString(",\"channel\":")
        buffer.writeJSONString(channel)
    }

    private static func recoveredMember(_ buffer: inout ByteBuffer, _ recovered: Bool?) {
        if let recovered { buffer.writeStaticString(recovered ? ",\"recovered\":true" : ",\"recovered\":false") }
    }

    private static func expiresMember(_ buffer: inout ByteBuffer, _ expires: Double?) {
        guard let expires else { return }
        buffer.writeStaticString(",\"expires\":")
        buffer.writeDecimal(Int(expires))
    }
}
