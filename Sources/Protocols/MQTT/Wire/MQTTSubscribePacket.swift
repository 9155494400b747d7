package import NIOCore

/// SUBSCRIBE (§3.8).
package struct MQTTSubscribePacket: Sendable, Hashable {
    package var packetID: UInt16
    package var subscriptions: [MQTTSubscription]
    package var properties: MQTTProperties

    package init(packetID: UInt16, subscriptions: [MQTTSubscription], properties: MQTTProperties = MQTTProperties()) {
        self.packetID = packetID
        self.subscriptions = subscriptions
        self.properties = properties
    }

    package static func read(
        version: MQTTProtocolVersion, flags: UInt8, from body: inout ByteBuffer, limits: MQTTLimits
    )
        throws(MQTTError) -> Self
    {
        // [MQTT-3.8.1-1] flags are 0010.
        guard flags == 0x02 else { throw .malformedPacket("SUBSCRIBE flags must be 0010") }
        let packetID = try body.readMQTTUInt16()
        guard packetID != 0 else { throw .malformedPacket("packet identifier 0") }
        var properties = MQTTProperties()
        if version.hasProperties {
            properties = try MQTTProperties.read(from: &body, limits: limits)
            try properties.validate(for: .subscribe)
        }
        var subscriptions: [MQTTSubscription] = []
        while body.readableBytes > 0 {
            guard subscriptions.count < limits.maxFiltersPerPacket else {
                throw .unsupported(.quotaExceeded, "more than \(limits.maxFiltersPerPacket) filters in one SUBSCRIBE")
            }
            let filter = try body.readMQTTString()
            let options = try body.readMQTTByte()
            // [MQTT-3.8.3-5] (5.0) reserved bits 6-7 are 0; [MQTT-3-8.3-4] (3.1.1) bits 2-7 are 0.
            let reserved: UInt8 = version == .v5 ? 0xC0 : 0xFC
            guard options & reserved == 0 else { throw .malformedPacket("reserved subscription option bits set") }
            guard let qos = MQTTQoS(rawValue: options & 0x03) else { throw .malformedPacket("subscription QoS 3") }
            let retainHandling = (options >> 4) & 0x03
            guard retainHandling < 3 else { throw .malformedPacket("retain handling 3") }
            subscriptions.append(
                MQTTSubscription(
                    filter: filter, maxQoS: qos, noLocal: options & 0x04 != 0, retainAsPublished: options & 0x08 != 0,
                    retainHandling: retainHandling))
        }
        // [MQTT-3.8.3-3] at least one topic filter.
        guard !subscriptions.isEmpty else { throw .protocolError("SUBSCRIBE without topic filters") }
        return MQTTSubscribePacket(packetID: packetID, subscriptions: subscriptions, properties: properties)
    }

    package func writeBody(version: MQTTProtocolVersion, to buffer: inout ByteBuffer) {
        buffer.writeInteger(packetID)
        if version.hasProperties { properties.write(to: &buffer) }
        for subscription in subscriptions {
            buffer.writeMQTTString(subscription.filter)
            var options = subscription.maxQoS.rawValue
            if version.hasProperties {
                if subscription.noLocal { options |= 0x04 }
                if subscription.retainAsPublished { options |= 0x08 }
                options |= subscription.retainHandling << 4
            }
            buffer.writeInteger(options)
        }
    }
}

/// One filter of a SUBSCRIBE with its options (§3.8.3.1).
package struct MQTTSubscription: Sendable, Hashable {
    package var filter: String
    package var maxQoS: MQTTQoS
    package var noLocal: Bool
    package var retainAsPublished: Bool
    /// 0: send retained on subscribe; 1: only if the subscription is new; 2: never.
    package var retainHandling: UInt8

    package init(
        filter: String, maxQoS: MQTTQoS, noLocal: Bool = false, retainAsPublished: Bool = false,
        retainHandling: UInt8 = 0
    ) {
        self.filter = filter
        self.maxQoS = maxQoS
        self.noLocal = noLocal
        self.retainAsPublished = retainAsPublished
        self.retainHandling = retainHandling
    }
}
