import BusCore
package import NIOCore

/// The server's `open` packet data (Engine.IO v4 §handshake):
/// `{"sid":…,"upgrades":[…],"pingInterval":ms,"pingTimeout":ms,"maxPayload":bytes}`.
package struct EngineIOHandshake: Sendable, Equatable {
    package var sessionID: String
    /// `["websocket"]` for a polling session; `[]` once on WebSocket.
    package var upgrades: [String]
    package var pingIntervalMilliseconds: Int
    package var pingTimeoutMilliseconds: Int
    package var maxPayload: Int

    package init(
        sessionID: String, upgrades: [String], pingIntervalMilliseconds: Int, pingTimeoutMilliseconds: Int,
        maxPayload: Int
    ) {
        self.sessionID = sessionID
        self.upgrades = upgrades
        self.pingIntervalMilliseconds = pingIntervalMilliseconds
        self.pingTimeoutMilliseconds = pingTimeoutMilliseconds
        self.maxPayload = maxPayload
    }

    /// The `open` packet.
    package var packet: EngineIOPacket {
        var data = ByteBuffer()
        data.writeStaticString("{\"sid\":")
        data.writeJSONString(sessionID)
        data.writeStaticString(",\"upgrades\":[")
        for (index, upgrade) in upgrades.enumerated() {
            if index > 0 { data.writeInteger(UInt8(ascii: ",")) }
            data.writeJSONString(upgrade)
        }
        data.writeStaticString("],\"pingInterval\":")
        data.writeDecimal(pingIntervalMilliseconds)
        data.writeStaticString(",\"pingTimeout\":")
        data.writeDecimal(pingTimeoutMilliseconds)
        data.writeStaticString(",\"maxPayload\":")
        data.writeDecimal(maxPayload)
        data.writeInteger(UInt8(ascii: "}"))
        return EngineIOPacket(.open, data: data)
    }
}
