import NIOCore

extension MQTTConnectionStateMachine {
    /// DISCONNECT for `reason` as `negotiated` allows it.
    static func disconnect(for reason: MQTTError, _ negotiated: Negotiated) -> MQTTDisconnectPacket {
        var packet = MQTTDisconnectPacket(reasonCode: .forError(reason))
        // [MQTT-3.1.2-29] a client that set Request Problem Information to 0 gets no reason string.
        if negotiated.problemInformation { packet.properties.reasonString = String(reason.message.prefix(200)) }
        // §4.11: a shutdown may name another server to use (0x9C, `MQTTServerSettings.serverReference`).
        if case .serverShuttingDown(let reference) = reason { packet.properties.serverReference = reference }
        // [MQTT-3.14.2-3] no Reason String that would make the packet exceed the client's Maximum Packet
        // Size ([MQTT-3.1.2-25]); the reason code alone still fits.
        if packet.properties.reasonString != nil,
            MQTTPacket.disconnect(packet).encoded(version: .v5).readableBytes > negotiated.clientMaximumPacketSize
        {
            packet.properties.reasonString = nil
        }
        return packet
    }
}
