extension MQTTConnectionStateMachine {
    /// What the handler does for a control-plane event (CONNECT refusals, closes, SUBSCRIBE, UNSUBSCRIBE).
    package enum Action: Sendable, Hashable {
        /// Nothing.
        case none
        /// Send this refusing CONNACK in `version`'s form, then close ([MQTT-3.2.2-6]).
        case refuseConnect(MQTTConnAckPacket, MQTTProtocolVersion)
        /// Send this DISCONNECT, then close ([MQTT-4.13.1-1]; 5.0 only, after CONNACK, [MQTT-3.14.0-1]).
        case sendDisconnect(MQTTDisconnectPacket)
        /// Close without a packet (3.1.1 has no DISCONNECT from servers; nothing is sent before CONNACK).
        case close
        /// Subscribe the session as `options` asks, replacing a subscription to the same filter ([MQTT-3.8.4-3]).
        case subscribe(MQTTSessionState.Subscription)
        /// Take the session's subscription to this filter away.
        case unsubscribe(String)
        /// Send this SUBACK or UNSUBACK, then the retained messages `retained` asks for ([MQTT-3.3.1-8]).
        case sendSubAck(MQTTSubAckPacket, retained: [MQTTSubscribeStateMachine.RetainedRequest])
    }
}
