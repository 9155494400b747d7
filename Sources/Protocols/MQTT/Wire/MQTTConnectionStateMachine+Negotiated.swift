extension MQTTConnectionStateMachine {
    /// What a CONNECT settled.
    package struct Negotiated: Sendable, Hashable {
        package var version: MQTTProtocolVersion
        package var clientID: String
        /// True when the server assigned the identifier (empty client id).
        package var assignedClientID: Bool
        package var cleanStart: Bool
        /// Keep-alive in force (the client's, or the server's replacement).
        package var keepAliveSeconds: UInt16
        /// Whether CONNACK must tell the client the replacement ([MQTT-3.2.2-21]).
        package var serverKeepAliveChanged: Bool
        /// Session expiry in seconds; 3.1.1 persistent sessions get the server's maximum.
        package var sessionExpirySeconds: UInt32
        package var sessionExpiryLowered: Bool
        package var will: MQTTWill?
        /// The client's Receive Maximum: our outbound window.
        package var clientReceiveMaximum: Int
        /// The client's Maximum Packet Size: larger outbound packets are not sent ([MQTT-3.1.2-25]).
        package var clientMaximumPacketSize: Int
        /// Whether the client wants reason strings and user properties on failures ([MQTT-3.1.2-29]).
        package var problemInformation: Bool
        /// The client's Topic Alias Maximum: aliases we may use towards it (0: none, [MQTT-3.1.2-26]).
        package var clientTopicAliasMaximum: Int = 0
        /// Whether the client asked for Response Information in CONNACK (§3.1.2.11.7).
        package var requestResponseInformation: Bool = false
    }
}
