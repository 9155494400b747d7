extension MQTTProperties {
    /// Where a property may appear (§2.2.2.2's table); a Will's properties use `willProperties`.
    package enum Context: Sendable {
        case connect, willProperties, connAck, publish, puback, subscribe, subAck, unsubscribe, unsubAck
        case disconnect, auth
    }

    private static func allowed(_ context: Context) -> Set<Identifier> {
        switch context {
        case .connect:
            [
                .sessionExpiryInterval, .authenticationMethod, .authenticationData, .requestProblemInformation,
                .requestResponseInformation, .receiveMaximum, .topicAliasMaximum, .userProperty, .maximumPacketSize,
            ]
        case .willProperties:
            [
                .payloadFormatIndicator, .messageExpiryInterval, .contentType, .responseTopic, .correlationData,
                .willDelayInterval, .userProperty,
            ]
        case .connAck:
            [
                .sessionExpiryInterval, .assignedClientIdentifier, .serverKeepAlive, .authenticationMethod,
                .authenticationData, .responseInformation, .serverReference, .reasonString, .receiveMaximum,
                .topicAliasMaximum, .maximumQoS, .retainAvailable, .userProperty, .maximumPacketSize,
                .wildcardSubscriptionAvailable, .subscriptionIdentifierAvailable, .sharedSubscriptionAvailable,
            ]
        case .publish:
            [
                .payloadFormatIndicator, .messageExpiryInterval, .contentType, .responseTopic, .correlationData,
                .subscriptionIdentifier, .topicAlias, .userProperty,
            ]
        case .puback, .subAck, .unsubAck: [.reasonString, .userProperty]
        case .subscribe: [.subscriptionIdentifier, .userProperty]
        case .unsubscribe: [.userProperty]
        case .disconnect: [.sessionExpiryInterval, .serverReference, .reasonString, .userProperty]
        case .auth: [.authenticationMethod, .authenticationData, .reasonString, .userProperty]
        }
    }

    /// The identifiers present.
    package var present: [Identifier] {
        var result: [Identifier] = []
        if payloadFormatIndicator != nil { result.append(.payloadFormatIndicator) }
        if messageExpiryInterval != nil { result.append(.messageExpiryInterval) }
        if contentType != nil { result.append(.contentType) }
        if responseTopic != nil { result.append(.responseTopic) }
        if correlationData != nil { result.append(.correlationData) }
        if !subscriptionIdentifiers.isEmpty { result.append(.subscriptionIdentifier) }
        if sessionExpiryInterval != nil { result.append(.sessionExpiryInterval) }
        if assignedClientIdentifier != nil { result.append(.assignedClientIdentifier) }
        if serverKeepAlive != nil { result.append(.serverKeepAlive) }
        if authenticationMethod != nil { result.append(.authenticationMethod) }
        if authenticationData != nil { result.append(.authenticationData) }
        if requestProblemInformation != nil { result.append(.requestProblemInformation) }
        if willDelayInterval != nil { result.append(.willDelayInterval) }
        if requestResponseInformation != nil { result.append(.requestResponseInformation) }
        if responseInformation != nil { result.append(.responseInformation) }
        if serverReference != nil { result.append(.serverReference) }
        if reasonString != nil { result.append(.reasonString) }
        if receiveMaximum != nil { result.append(.receiveMaximum) }
        if topicAliasMaximum != nil { result.append(.topicAliasMaximum) }
        if topicAlias != nil { result.append(.topicAlias) }
        if maximumQoS != nil { result.append(.maximumQoS) }
        if retainAvailable != nil { result.append(.retainAvailable) }
        if !userProperties.isEmpty { result.append(.userProperty) }
        if maximumPacketSize != nil { result.append(.maximumPacketSize) }
        if wildcardSubscriptionAvailable != nil { result.append(.wildcardSubscriptionAvailable) }
        if subscriptionIdentifierAvailable != nil { result.append(.subscriptionIdentifierAvailable) }
        if sharedSubscriptionAvailable != nil { result.append(.sharedSubscriptionAvailable) }
        return result
    }

    /// §2.2.2.2: an identifier not valid for the packet type makes the packet malformed.
    package func validate(for context: Context) throws(MQTTError) {
        let allowed = Self.allowed(context)
        for identifier in present where !allowed.contains(identifier) {
            throw .malformedPacket("property \(identifier) is not valid in \(context)")
        }
        // MQTT 5.0 §3.8.2.1.2: a SUBSCRIBE carries at most one Subscription Identifier.
        if context == .subscribe && subscriptionIdentifiers.count > 1 {
            throw .protocolError("more than one subscription identifier")
        }
    }
}
