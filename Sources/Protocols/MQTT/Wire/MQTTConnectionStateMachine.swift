import NIOCore

/// One network connection's protocol state: before CONNECT, connected (with what was negotiated), or
/// closed. Pure: packets in, decisions out; the handler does the IO. Session state that outlives the
/// connection is an `MQTTSessionState` passed in by the handler.
package struct MQTTConnectionStateMachine: Sendable {
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

    private enum State: Sendable {
        case awaitingConnect
        case connected(Negotiated)
        case closed
    }

    private var state: State = .awaitingConnect {
        didSet { if case .closed = state { isClosed = true } }
    }
    package let settings: MQTTServerSettings
    /// Inbound topic aliases (client → server), valid for this connection only ([MQTT-3.3.2-7]).
    private var aliases: [UInt16: String] = [:]

    package init(settings: MQTTServerSettings) {
        self.settings = settings
    }

    package var negotiated: Negotiated? {
        if case .connected(let negotiated) = state { return negotiated }
        return nil
    }

    /// Whether the connection is closed (a terminal state). Stored, not computed from `state`: the handler
    /// reads it per packet and per delivery, and matching `state` there copied the whole machine.
    package private(set) var isClosed = false

    // MARK: - CONNECT

    /// The answer to a CONNECT.
    package enum ConnectAction: Sendable, Hashable {
        case accept(Negotiated)
        /// Send CONNACK with this code, then close ([MQTT-3.2.2-6]).
        case refuse(MQTTReasonCode, String)
    }

    /// `makeClientID` is called for an empty client identifier (randomness is injected).
    package mutating func connectReceived(_ packet: MQTTConnectPacket, makeClientID: () -> String) -> ConnectAction {
        guard case .awaitingConnect = state else {
            // [MQTT-3.1.0-2] a second CONNECT is a protocol error.
            state = .closed
            return .refuse(.protocolError, "second CONNECT")
        }
        var clientID = packet.clientID
        var assigned = false
        if clientID.isEmpty {
            // [MQTT-3.1.3-8] 3.1.1: an empty id needs Clean Session = 1, else CONNACK 0x02.
            if packet.version == .v3_1_1 && !packet.cleanStart {
                state = .closed
                return .refuse(.clientIdentifierNotValid, "an empty client identifier needs clean session")
            }
            // [MQTT-3.1.3-6] assign a unique identifier.
            clientID = makeClientID()
            assigned = true
        }
        if packet.properties.authenticationMethod != nil {
            // [MQTT-4.12.0-1] no enhanced authentication methods are supported.
            state = .closed
            return .refuse(.badAuthenticationMethod, "enhanced authentication is not supported")
        }
        var keepAlive = packet.keepAliveSeconds
        var keepAliveChanged = false
        if let maximum = settings.maxKeepAliveSeconds, keepAlive == 0 || keepAlive > maximum,
            packet.version == .v5
        {
            keepAlive = maximum
            keepAliveChanged = true
        }
        var expiry: UInt32
        var lowered = false
        switch packet.version {
        case .v3_1_1:
            // 3.1.1 sessions have no expiry of their own; like mosquitto's persistent_client_expiration,
            // an abandoned one is dropped after the server's maximum so memory stays bounded.
            expiry = packet.cleanStart ? 0 : settings.maxSessionExpirySeconds
        case .v5:
            expiry = packet.properties.sessionExpiryInterval ?? 0
            if expiry > settings.maxSessionExpirySeconds {
                expiry = settings.maxSessionExpirySeconds
                lowered = true
            }
        }
        let negotiated = Negotiated(
            version: packet.version, clientID: clientID, assignedClientID: assigned, cleanStart: packet.cleanStart,
            keepAliveSeconds: keepAlive, serverKeepAliveChanged: keepAliveChanged, sessionExpirySeconds: expiry,
            sessionExpiryLowered: lowered, will: packet.will,
            clientReceiveMaximum: Int(packet.properties.receiveMaximum ?? UInt16.max),
            clientMaximumPacketSize: Int(
                packet.properties.maximumPacketSize ?? UInt32(MQTTLimits.maxVariableByteInteger + 5)),
            problemInformation: (packet.properties.requestProblemInformation ?? 1) == 1,
            clientTopicAliasMaximum: packet.version == .v5 ? Int(packet.properties.topicAliasMaximum ?? 0) : 0,
            requestResponseInformation: packet.properties.requestResponseInformation == 1)
        state = .connected(negotiated)
        return .accept(negotiated)
    }

    /// The CONNACK for an accepted connection: what differs from the defaults is stated (§3.2.2.3).
    /// `responseInformation` is the response topic base the handler offers this client (see
    /// `MQTTServerSettings.responseInformationPrefix`); it is sent only to a client that asked.
    package func connAck(sessionPresent: Bool, maximumPacketSize: Int, responseInformation: String? = nil)
        -> MQTTConnAckPacket
    {
        guard let negotiated else { preconditionFailure("CONNACK before CONNECT") }
        var properties = MQTTProperties()
        if negotiated.version == .v5 {
            if negotiated.assignedClientID { properties.assignedClientIdentifier = negotiated.clientID }
            if negotiated.serverKeepAliveChanged { properties.serverKeepAlive = negotiated.keepAliveSeconds }
            if negotiated.sessionExpiryLowered { properties.sessionExpiryInterval = negotiated.sessionExpirySeconds }
            properties.receiveMaximum = settings.receiveMaximum
            properties.topicAliasMaximum = settings.topicAliasMaximum
            properties.maximumPacketSize = UInt32(maximumPacketSize)
            // [MQTT-3.1.2-28] without Request Response Information = 1, no Response Information.
            if negotiated.requestResponseInformation { properties.responseInformation = responseInformation }
        }
        // [MQTT-3.2.2-2] Clean Start → session present 0.
        return MQTTConnAckPacket(
            sessionPresent: sessionPresent && !negotiated.cleanStart, reasonCode: .success, properties: properties)
    }

    // MARK: - After CONNECT

    /// What to do with a received PUBLISH.
    package enum PublishAction: Sendable, Hashable {
        /// Publish to the bus; then acknowledge with `ack` (nil for QoS 0).
        case publish(MQTTPublishPacket, ack: MQTTAckPacket?)
        /// A QoS 2 retransmission already published: only answer PUBREC ([MQTT-4.3.3-10]).
        case acknowledgeOnly(MQTTAckPacket)
        /// Not published; the acknowledgement carries the failure (e.g. 0x99 payload format invalid).
        case refuse(MQTTAckPacket)
    }

    /// Resolves aliases and checks a PUBLISH; throws for violations that end the connection.
    package mutating func publishReceived(_ received: MQTTPublishPacket, session: inout MQTTSessionState)
        throws(MQTTError) -> PublishAction
    {
        guard let negotiated else { throw .protocolError("PUBLISH before CONNECT") }
        var packet = received
        if let alias = packet.properties.topicAlias {
            // [MQTT-3.3.2-8] [MQTT-3.3.2-9] alias 0 or above our maximum.
            guard alias > 0, alias <= settings.topicAliasMaximum else { throw .topicAliasInvalid(alias) }
            if packet.topic.isEmpty {
                guard let topic = aliases[alias] else { throw .protocolError("topic alias \(alias) is not set") }
                packet.topic = topic
            } else {
                aliases[alias] = packet.topic
            }
            packet.properties.topicAlias = nil
        }
        // [MQTT-4.7.3-1] a topic name has at least one character.
        guard !packet.topic.isEmpty else {
            throw negotiated.version == .v5 ? .protocolError("empty topic name without alias") : .topicNameInvalid("")
        }
        // [MQTT-3.3.2-2] no wildcards in a topic name.
        if packet.topic.utf8.contains(where: { $0 == UInt8(ascii: "+") || $0 == UInt8(ascii: "#") }) {
            throw .topicNameInvalid(packet.topic)
        }
        // §3.3.2.3.2: a payload declared UTF-8 that is not may be refused with 0x99 (PUBACK/PUBREC, or
        // DISCONNECT for QoS 0, which has no acknowledgement).
        if packet.properties.payloadFormatIndicator == 1,
            packet.payload.withUnsafeReadableBytes({ String(validating: $0, as: UTF8.self) == nil })
        {
            guard let id = packet.packetID else {
                throw .unsupported(.payloadFormatInvalid, "payload is not the UTF-8 its format indicator declares")
            }
            if packet.qos == .exactlyOnce && session.inboundQoS2.contains(id) {
                return .acknowledgeOnly(MQTTAckPacket(.pubRec, packetID: id))
            }
            return .refuse(
                MQTTAckPacket(
                    packet.qos == .atLeastOnce ? .pubAck : .pubRec, packetID: id, reasonCode: .payloadFormatInvalid))
        }
        switch packet.qos {
        case .atMostOnce:
            return .publish(packet, ack: nil)
        case .atLeastOnce:
            // [MQTT-4.3.2-2] acknowledge with PUBACK carrying the same packet identifier.
            return .publish(packet, ack: MQTTAckPacket(.pubAck, packetID: packet.packetID!))
        case .exactlyOnce:
            let id = packet.packetID!
            if session.inboundQoS2.contains(id) { return .acknowledgeOnly(MQTTAckPacket(.pubRec, packetID: id)) }
            // §3.3.4: a client breaking [MQTT-3.3.4-7] (more unacknowledged QoS 2 publishes than our Receive
            // Maximum) gets DISCONNECT 0x93.
            guard session.inboundQoS2.count < Int(settings.receiveMaximum) else { throw .receiveMaximumExceeded }
            session.inboundQoS2.insert(id)
            return .publish(packet, ack: MQTTAckPacket(.pubRec, packetID: id))
        }
    }

    /// PUBREL from the client: the QoS 2 flow ends with PUBCOMP ([MQTT-4.3.3-11]); an unknown identifier
    /// gets 0x92 (5.0).
    package func pubRelReceived(_ packetID: UInt16, session: inout MQTTSessionState) -> MQTTAckPacket {
        if session.inboundQoS2.remove(packetID) != nil { return MQTTAckPacket(.pubComp, packetID: packetID) }
        return MQTTAckPacket(.pubComp, packetID: packetID, reasonCode: .packetIdentifierNotFound)
    }

    /// DISCONNECT from the client: a session expiry may not go from 0 to non-zero (MQTT 5.0 §3.14.2.2.2).
    package mutating func disconnectReceived(_ packet: MQTTDisconnectPacket) throws(MQTTError) -> Negotiated {
        guard var negotiated else { throw .protocolError("DISCONNECT before CONNECT") }
        if let expiry = packet.properties.sessionExpiryInterval {
            if negotiated.sessionExpirySeconds == 0 && expiry != 0 {
                throw .protocolError("session expiry interval changed from 0 on DISCONNECT")
            }
            negotiated.sessionExpirySeconds = min(expiry, settings.maxSessionExpirySeconds)
        }
        // [MQTT-3.14.4-3] a normal DISCONNECT discards the will; 0x04 keeps it.
        if packet.reasonCode != .disconnectWithWill { negotiated.will = nil }
        state = .closed
        return negotiated
    }

    /// The connection is gone (or being closed by us).
    package mutating func closed() {
        state = .closed
    }
}
