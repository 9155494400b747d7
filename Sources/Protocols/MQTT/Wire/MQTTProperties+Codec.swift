package import NIOCore

extension MQTTProperties {
    /// Reads a property block: its Variable Byte Integer length, then the properties.
    /// [MQTT-2.2.2-2] a property other than User Property / Subscription Identifier appears at most once.
    package static func read(from buffer: inout ByteBuffer, limits: MQTTLimits) throws(MQTTError) -> MQTTProperties {
        let length = try buffer.readMQTTVariableByteInteger()
        guard length <= buffer.readableBytes, var block = buffer.readSlice(length: length) else {
            throw .malformedPacket("property length exceeds the packet")
        }
        var properties = MQTTProperties()
        var seen: UInt64 = 0
        while block.readableBytes > 0 {
            let raw = try block.readMQTTVariableByteInteger()
            guard raw <= 0xFF, let identifier = Identifier(rawValue: UInt8(raw)) else {
                throw .malformedPacket("unknown property identifier \(raw)")
            }
            let bit: UInt64 = 1 << UInt64(identifier.rawValue)
            if identifier != .userProperty && identifier != .subscriptionIdentifier {
                if seen & bit != 0 { throw .protocolError("property \(identifier) appears twice") }
                seen |= bit
            }
            try properties.readValue(identifier, from: &block, limits: limits)
        }
        return properties
    }

    private mutating func readValue(_ identifier: Identifier, from block: inout ByteBuffer, limits: MQTTLimits)
        throws(MQTTError)
    {
        switch identifier {
        case .payloadFormatIndicator:
            let value = try block.readMQTTByte()
            guard value <= 1 else { throw .protocolError("payload format indicator must be 0 or 1") }
            payloadFormatIndicator = value
        case .messageExpiryInterval: messageExpiryInterval = try block.readMQTTUInt32()
        case .contentType: contentType = try block.readMQTTString()
        case .responseTopic: responseTopic = try block.readMQTTString()
        case .correlationData: correlationData = try block.readMQTTBinary()
        case .subscriptionIdentifier:
            let value = try block.readMQTTVariableByteInteger()
            // MQTT 5.0 §3.8.2.1.2: a subscription identifier of 0 is a protocol error.
            guard value > 0 else { throw .protocolError("subscription identifier 0") }
            subscriptionIdentifiers.append(value)
        case .sessionExpiryInterval: sessionExpiryInterval = try block.readMQTTUInt32()
        case .assignedClientIdentifier: assignedClientIdentifier = try block.readMQTTString()
        case .serverKeepAlive: serverKeepAlive = try block.readMQTTUInt16()
        case .authenticationMethod: authenticationMethod = try block.readMQTTString()
        case .authenticationData: authenticationData = try block.readMQTTBinary()
        case .requestProblemInformation:
            let value = try block.readMQTTByte()
            guard value <= 1 else { throw .protocolError("request problem information must be 0 or 1") }
            requestProblemInformation = value
        case .willDelayInterval: willDelayInterval = try block.readMQTTUInt32()
        case .requestResponseInformation:
            let value = try block.readMQTTByte()
            guard value <= 1 else { throw .protocolError("request response information must be 0 or 1") }
            requestResponseInformation = value
        case .responseInformation: responseInformation = try block.readMQTTString()
        case .serverReference: serverReference = try block.readMQTTString()
        case .reasonString: reasonString = try block.readMQTTString()
        case .receiveMaximum:
            let value = try block.readMQTTUInt16()
            guard value > 0 else { throw .protocolError("receive maximum 0") }  // MQTT 5.0 §3.1.2.11.3
            receiveMaximum = value
        case .topicAliasMaximum: topicAliasMaximum = try block.readMQTTUInt16()
        case .topicAlias: topicAlias = try block.readMQTTUInt16()
        case .maximumQoS: maximumQoS = try block.readMQTTByte()
        case .retainAvailable: retainAvailable = try block.readMQTTByte()
        case .userProperty:
            guard userProperties.count < limits.maxUserProperties else {
                throw .unsupported(
                    .implementationSpecificError, "more than \(limits.maxUserProperties) user properties")
            }
            let name = try block.readMQTTString()
            let value = try block.readMQTTString()
            userProperties.append(MQTTUserProperty(name: name, value: value))
        case .maximumPacketSize:
            let value = try block.readMQTTUInt32()
            guard value > 0 else { throw .protocolError("maximum packet size 0") }  // §3.1.2.11.4
            maximumPacketSize = value
        case .wildcardSubscriptionAvailable: wildcardSubscriptionAvailable = try block.readMQTTByte()
        case .subscriptionIdentifierAvailable: subscriptionIdentifierAvailable = try block.readMQTTByte()
        case .sharedSubscriptionAvailable: sharedSubscriptionAvailable = try block.readMQTTByte()
        }
    }

    /// Writes the block: length, then each present property in identifier order.
    package func write(to buffer: inout ByteBuffer) {
        var body = ByteBuffer()
        writeBody(to: &body)
        buffer.writeMQTTVariableByteInteger(body.readableBytes)
        buffer.writeImmutableBuffer(body)
    }

    private func writeBody(to body: inout ByteBuffer) {
        func id(_ identifier: Identifier) { body.writeMQTTVariableByteInteger(Int(identifier.rawValue)) }
        if let value = payloadFormatIndicator { id(.payloadFormatIndicator); body.writeInteger(value) }
        if let value = messageExpiryInterval { id(.messageExpiryInterval); body.writeInteger(value) }
        if let value = contentType { id(.contentType); body.writeMQTTString(value) }
        if let value = responseTopic { id(.responseTopic); body.writeMQTTString(value) }
        if let value = correlationData { id(.correlationData); body.writeMQTTBinary(value) }
        for value in subscriptionIdentifiers { id(.subscriptionIdentifier); body.writeMQTTVariableByteInteger(value) }
        if let value = sessionExpiryInterval { id(.sessionExpiryInterval); body.writeInteger(value) }
        if let value = assignedClientIdentifier { id(.assignedClientIdentifier); body.writeMQTTString(value) }
        if let value = serverKeepAlive { id(.serverKeepAlive); body.writeInteger(value) }
        if let value = authenticationMethod { id(.authenticationMethod); body.writeMQTTString(value) }
        if let value = authenticationData { id(.authenticationData); body.writeMQTTBinary(value) }
        if let value = requestProblemInformation { id(.requestProblemInformation); body.writeInteger(value) }
        if let value = willDelayInterval { id(.willDelayInterval); body.writeInteger(value) }
        if let value = requestResponseInformation { id(.requestResponseInformation); body.writeInteger(value) }
        if let value = responseInformation { id(.responseInformation); body.writeMQTTString(value) }
        if let value = serverReference { id(.serverReference); body.writeMQTTString(value) }
        if let value = reasonString { id(.reasonString); body.writeMQTTString(value) }
        if let value = receiveMaximum { id(.receiveMaximum); body.writeInteger(value) }
        if let value = topicAliasMaximum { id(.topicAliasMaximum); body.writeInteger(value) }
        if let value = topicAlias { id(.topicAlias); body.writeInteger(value) }
        if let value = maximumQoS { id(.maximumQoS); body.writeInteger(value) }
        if let value = retainAvailable { id(.retainAvailable); body.writeInteger(value) }
        for pair in userProperties {
            id(.userProperty)
            body.writeMQTTString(pair.name)
            body.writeMQTTString(pair.value)
        }
        if let value = maximumPacketSize { id(.maximumPacketSize); body.writeInteger(value) }
        if let value = wildcardSubscriptionAvailable { id(.wildcardSubscriptionAvailable); body.writeInteger(value) }
        if let value = subscriptionIdentifierAvailable {
            id(.subscriptionIdentifierAvailable)
            body.writeInteger(value)
        }
        if let value = sharedSubscriptionAvailable { id(.sharedSubscriptionAvailable); body.writeInteger(value) }
    }
}
