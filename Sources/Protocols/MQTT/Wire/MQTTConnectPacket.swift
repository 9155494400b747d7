package import NIOCore

/// CONNECT (§3.1). The version comes from the packet itself, so it is read before the codec knows it.
package struct MQTTConnectPacket: Sendable, Hashable {
    package var version: MQTTProtocolVersion
    package var clientID: String
    /// Clean Session (3.1.1) / Clean Start (5.0).
    package var cleanStart: Bool
    package var keepAliveSeconds: UInt16
    package var username: String?
    package var password: ByteBuffer?
    package var will: MQTTWill?
    package var properties: MQTTProperties

    package init(
        version: MQTTProtocolVersion, clientID: String, cleanStart: Bool = true, keepAliveSeconds: UInt16 = 60,
        username: String? = nil, password: ByteBuffer? = nil, will: MQTTWill? = nil,
        properties: MQTTProperties = MQTTProperties()
    ) {
        self.version = version
        self.clientID = clientID
        self.cleanStart = cleanStart
        self.keepAliveSeconds = keepAliveSeconds
        self.username = username
        self.password = password
        self.will = will
        self.properties = properties
    }

    package static func read(flags: UInt8, from body: inout ByteBuffer, limits: MQTTLimits) throws(MQTTError) -> Self {
        // [MQTT-2.1.3-1] reserved flags of CONNECT are 0.
        guard flags == 0 else { throw .malformedPacket("CONNECT flags must be 0") }
        let name = try body.readMQTTString()
        let level = try body.readMQTTByte()
        // [MQTT-3.1.2-1] protocol name "MQTT"; [MQTT-3.1.2-2] unsupported level → CONNACK 0x01/0x84.
        guard name == "MQTT" || (name == "MQIsdp" && level == 3) else {
            throw .malformedPacket("protocol name \(name)")
        }
        guard let version = MQTTProtocolVersion(rawValue: level) else { throw .unsupportedProtocolVersion(level) }
        let connectFlags = try body.readMQTTByte()
        // [MQTT-3.1.2-3] the reserved flag is 0.
        guard connectFlags & 0x01 == 0 else { throw .malformedPacket("reserved connect flag set") }
        let keepAlive = try body.readMQTTUInt16()
        var properties = MQTTProperties()
        if version.hasProperties {
            properties = try MQTTProperties.read(from: &body, limits: limits)
            try properties.validate(for: .connect)
        }
        let clientID = try body.readMQTTString()
        let hasWill = connectFlags & 0x04 != 0
        let willQoSBits = (connectFlags >> 3) & 0x03
        let willRetain = connectFlags & 0x20 != 0
        var will: MQTTWill?
        if hasWill {
            // [MQTT-3.1.2-12] will QoS 3 is malformed.
            guard let qos = MQTTQoS(rawValue: willQoSBits) else { throw .malformedPacket("will QoS 3") }
            var willProperties = MQTTProperties()
            if version.hasProperties {
                willProperties = try MQTTProperties.read(from: &body, limits: limits)
                try willProperties.validate(for: .willProperties)
            }
            let topic = try body.readMQTTString()
            let payload = try body.readMQTTBinary()
            will = MQTTWill(topic: topic, payload: payload, qos: qos, retain: willRetain, properties: willProperties)
        } else if willQoSBits != 0 || willRetain {
            // [MQTT-3.1.2-11] / [MQTT-3.1.2-13]: no will → will QoS and will retain are 0.
            throw .malformedPacket("will QoS or retain set without a will")
        }
        let hasUsername = connectFlags & 0x80 != 0
        let hasPassword = connectFlags & 0x40 != 0
        // [MQTT-3.1.2-22] (3.1.1 only): a password needs a user name.
        if version == .v3_1_1 && hasPassword && !hasUsername {
            throw .malformedPacket("password flag without user name flag")
        }
        let username = hasUsername ? try body.readMQTTString() : nil
        let password = hasPassword ? try body.readMQTTBinary() : nil
        guard body.readableBytes == 0 else { throw .malformedPacket("bytes after the CONNECT payload") }
        return MQTTConnectPacket(
            version: version, clientID: clientID, cleanStart: connectFlags & 0x02 != 0, keepAliveSeconds: keepAlive,
            username: username, password: password, will: will, properties: properties)
    }

    package func writeBody(to buffer: inout ByteBuffer) {
        buffer.writeMQTTString("MQTT")
        buffer.writeInteger(version.rawValue)
        var flags: UInt8 = cleanStart ? 0x02 : 0
        if let will {
            flags |= 0x04 | (will.qos.rawValue << 3) | (will.retain ? 0x20 : 0)
        }
        if username != nil { flags |= 0x80 }
        if password != nil { flags |= 0x40 }
        buffer.writeInteger(flags)
        buffer.writeInteger(keepAliveSeconds)
        if version.hasProperties { properties.write(to: &buffer) }
        buffer.writeMQTTString(clientID)
        if let will {
            if version.hasProperties { will.properties.write(to: &buffer) }
            buffer.writeMQTTString(will.topic)
            buffer.writeMQTTBinary(will.payload)
        }
        if let username { buffer.writeMQTTString(username) }
        if let password { buffer.writeMQTTBinary(password) }
    }
}

/// The Will Message of a CONNECT (§3.1.2.5, §3.1.3.2).
package struct MQTTWill: Sendable, Hashable {
    package var topic: String
    package var payload: ByteBuffer
    package var qos: MQTTQoS
    package var retain: Bool
    package var properties: MQTTProperties

    package init(
        topic: String, payload: ByteBuffer, qos: MQTTQoS = .atMostOnce, retain: Bool = false,
        properties: MQTTProperties = MQTTProperties()
    ) {
        self.topic = topic
        self.payload = payload
        self.qos = qos
        self.retain = retain
        self.properties = properties
    }
}
