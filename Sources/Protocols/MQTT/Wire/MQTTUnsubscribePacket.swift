package import NIOCore

/// UNSUBSCRIBE (§3.10).
package struct MQTTUnsubscribePacket: Sendable, Hashable {
    package var packetID: UInt16
    package var filters: [String]
    package var properties: MQTTProperties

    package init(packetID: UInt16, filters: [String], properties: MQTTProperties = MQTTProperties()) {
        self.packetID = packetID
        self.filters = filters
        self.properties = properties
    }

    package static func read(
        version: MQTTProtocolVersion, flags: UInt8, from body: inout ByteBuffer, limits: MQTTLimits
    )
        throws(MQTTError) -> Self
    {
        // [MQTT-3.10.1-1] flags are 0010.
        guard flags == 0x02 else { throw .malformedPacket("UNSUBSCRIBE flags must be 0010") }
        let packetID = try body.readMQTTUInt16()
        guard packetID != 0 else { throw .malformedPacket("packet identifier 0") }
        var properties = MQTTProperties()
        if version.hasProperties {
            properties = try MQTTProperties.read(from: &body, limits: limits)
            try properties.validate(for: .unsubscribe)
        }
        var filters: [String] = []
        while body.readableBytes > 0 {
            guard filters.count < limits.maxFiltersPerPacket else {
                throw .unsupported(.quotaExceeded, "more than \(limits.maxFiltersPerPacket) filters in one UNSUBSCRIBE")
            }
            filters.append(try body.readMQTTString())
        }
        // [MQTT-3.10.3-2] at least one topic filter.
        guard !filters.isEmpty else { throw .protocolError("UNSUBSCRIBE without topic filters") }
        return MQTTUnsubscribePacket(packetID: packetID, filters: filters, properties: properties)
    }

    package func writeBody(version: MQTTProtocolVersion, to buffer: inout ByteBuffer) {
        buffer.writeInteger(packetID)
        if version.hasProperties { properties.write(to: &buffer) }
        for filter in filters { buffer.writeMQTTString(filter) }
    }
}
