import BusCore
package import NIOCore

/// One network connection's protocol state: before CONNECT, connecting (CONNECT accepted, CONNACK not yet
/// sent), connected (with what was negotiated), or closed. Pure, in the shape of postgres-nio's
/// `ConnectionStateMachine`: every event carries its input (the time, and what only the frontend can know
/// — whether the bus takes a topic, what the client's identity permits) and returns what to do; the
/// handler's one `run(_:)` does the IO. Deadlines (connect timeout, keep-alive) live here, computed from
/// the `now` each event brings. Session state that outlives the connection is an `MQTTSessionState`
/// passed in by the handler. PUBLISH, the hot path, keeps its own lean `publishReceived`.
package struct MQTTConnectionStateMachine: Sendable {
    private enum State: Sendable {
        /// No CONNECT yet.
        case awaitingConnect
        /// CONNECT accepted by the protocol's rules; the handler authenticates and finds the session.
        case connecting(Negotiated)
        /// CONNACK sent.
        case connected(Negotiated)
        /// Closed, or closing: nothing more is sent but what the closing action said.
        case closed
    }

    private var state: State = .awaitingConnect {
        didSet { if case .closed = state { isClosed = true } }
    }
    package var settings: MQTTServerSettings { _read { yield sharedSettings.value } }
    /// `settings` by reference, shared by every connection of a frontend (`SharedSettings`): 8 bytes per
    /// connection instead of ~80 (issue 25, idle memory per connection).
    private let sharedSettings: SharedSettings
    /// Inbound topic aliases (client → server), valid for this connection only ([MQTT-3.3.2-7]).
    private var aliases: [UInt16: String] = [:]
    /// Until when a CONNECT may take to be answered (set by `connectionOpened`).
    private var connectDeadline: NIODeadline?
    /// When the connection closes unless a packet arrives first ([MQTT-3.1.2-24]).
    private var keepAliveDeadline: NIODeadline?
    /// Bytes arrived since the last tick.
    private var receivedSinceTick = false

    package init(settings: MQTTServerSettings) {
        self.init(settings: SharedSettings(settings))
    }

    /// A machine on settings its frontend made once for all its connections.
    package init(settings: SharedSettings) {
        self.sharedSettings = settings
    }

    /// Server settings held by reference, which any number of machines share.
    package final class SharedSettings: Sendable {
        package let value: MQTTServerSettings

        package init(_ value: MQTTServerSettings) { self.value = value }
    }

    package var negotiated: Negotiated? {
        switch state {
        case .connecting(let negotiated), .connected(let negotiated): negotiated
        case .awaitingConnect, .closed: nil
        }
    }

    /// Whether the connection is closed (a terminal state). Stored, not computed from `state`: the handler
    /// reads it per packet and per delivery, and matching `state` there copied the whole machine.
    package private(set) var isClosed = false

    // MARK: - Opening and CONNECT

    /// The network connection is open: a CONNECT must be answered within `connectTimeout`.
    package mutating func connectionOpened(now: NIODeadline, connectTimeout: TimeAmount) {
        connectDeadline = now + connectTimeout
    }

    /// The answer to a CONNECT.
    package enum ConnectAction: Sendable, Hashable {
        /// The CONNECT passes the protocol's rules: authenticate the client and find its session, then
        /// answer with `connAck(…)` or `connectRefused(…)`.
        case accept(Negotiated)
        /// Run this (a refusing CONNACK, or DISCONNECT for a second CONNECT).
        case refuse(Action)
    }

    /// `refusal` is a refusal decided before the packet was read (a connection limit).
    /// `willTopicIsBusTopic` says whether the bus takes the will topic as a topic name (its length and
    /// level limits; the MQTT rules are checked here). `makeClientID` is called for an empty client
    /// identifier (randomness is injected).
    package mutating func connectReceived(
        _ packet: MQTTConnectPacket, refusal: MQTTError? = nil, willTopicIsBusTopic: Bool = true,
        makeClientID: () -> String
    ) -> ConnectAction {
        guard case .awaitingConnect = state else {
            // [MQTT-3.1.0-2] a second CONNECT is a protocol error.
            return .refuse(close(.protocolError("second CONNECT")))
        }
        if let refusal { return .refuse(refuse(.forError(refusal), refusal.message, version: packet.version)) }
        var clientID = packet.clientID
        var assigned = false
        if clientID.isEmpty {
            // [MQTT-3.1.3-8] 3.1.1: an empty id needs Clean Session = 1, else CONNACK 0x02.
            if packet.version == .v3_1_1 && !packet.cleanStart {
                return .refuse(
                    refuse(
                        .clientIdentifierNotValid, "an empty client identifier needs clean session",
                        version: packet.version))
            }
            // [MQTT-3.1.3-6] assign a unique identifier.
            clientID = makeClientID()
            assigned = true
        }
        if packet.properties.authenticationMethod != nil {
            // [MQTT-4.12.0-1] no enhanced authentication methods are supported.
            return .refuse(
                refuse(.badAuthenticationMethod, "enhanced authentication is not supported", version: packet.version))
        }
        if let will = packet.will {
            // [MQTT-3.1.3-11] the Will Topic is a valid topic name: not empty ([MQTT-4.7.3-1]), no wildcards
            // ([MQTT-3.3.2-2]), and one the bus takes.
            if will.topic.isEmpty || !willTopicIsBusTopic
                || will.topic.utf8.contains(where: { $0 == UInt8(ascii: "+") || $0 == UInt8(ascii: "#") })
            {
                let error = MQTTError.willTopicInvalid
                return .refuse(refuse(.forError(error), error.message, version: packet.version))
            }
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
        state = .connecting(negotiated)
        return .accept(negotiated)
    }

    /// The handler's checks of an accepted CONNECT refused it (credentials, the will's permission, the
    /// session limit): CONNACK with the reason's code, then close.
    package mutating func connectRefused(_ reason: MQTTError) -> Action {
        switch state {
        case .connecting(let negotiated):
            return refuse(.forError(reason), reason.message, version: negotiated.version)
        case .closed:
            return .none
        case .awaitingConnect, .connected:
            preconditionFailure("CONNECT refused (\(reason)) when no CONNECT is being settled")
        }
    }

    /// A refusing CONNACK, with a reason string in 5.0; the connection is over.
    private mutating func refuse(_ code: MQTTReasonCode, _ reason: String, version: MQTTProtocolVersion) -> Action {
        state = .closed
        var properties = MQTTProperties()
        if version == .v5 { properties.reasonString = reason }
        return .refuseConnect(
            MQTTConnAckPacket(sessionPresent: false, reasonCode: code, properties: properties), version)
    }

    /// The CONNACK for an accepted connection: what differs from the defaults is stated (§3.2.2.3).
    /// `responseInformation` is the response topic base the handler offers this client (see
    /// `MQTTServerSettings.responseInformationPrefix`); it is sent only to a client that asked.
    /// Sending it makes the connection connected (the connect deadline no longer applies).
    package mutating func connAck(sessionPresent: Bool, maximumPacketSize: Int, responseInformation: String? = nil)
        -> MQTTConnAckPacket
    {
        guard case .connecting(let negotiated) = state else {
            preconditionFailure("CONNACK without an accepted CONNECT")
        }
        state = .connected(negotiated)
        connectDeadline = nil
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
            !packet.payload.withUnsafeReadableBytes(UTF8Validation.isValid)
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

    /// A PUBLISH that `publishReceived` let through was refused by a payload schema (docs/topics.md,
    /// "Payload schemas"); `reason` names the failing JSON Pointer. 5.0: PUBACK/PUBREC 0x99 Payload format
    /// invalid carrying `reason` as its Reason String (§3.4.2.1: when the client did not turn problem
    /// information off), and a QoS 2 id that is forgotten, since a PUBREC of 0x80 or more ends the flow
    /// (§4.3.3); QoS 0 has no acknowledgement, so DISCONNECT 0x99 (§3.3.2.3.2 does the same for a bad
    /// UTF-8 payload). 3.1.1 has no reason codes: the connection closes (throws either way).
    package func publishInvalid(_ packet: MQTTPublishPacket, reason: String, session: inout MQTTSessionState)
        throws(MQTTError) -> MQTTAckPacket
    {
        guard let negotiated else { throw .protocolError("PUBLISH before CONNECT") }
        guard negotiated.version == .v5, let id = packet.packetID else {
            throw .unsupported(.payloadFormatInvalid, reason)
        }
        if packet.qos == .exactlyOnce { session.inboundQoS2.remove(id) }
        var ack = MQTTAckPacket(
            packet.qos == .atLeastOnce ? .pubAck : .pubRec, packetID: id, reasonCode: .payloadFormatInvalid)
        // [MQTT-3.1.2-29] no Reason String for a client that asked for none; [MQTT-3.4.2-2] none that would
        // make the packet exceed its Maximum Packet Size.
        if negotiated.problemInformation {
            ack.properties.reasonString = String(reason.prefix(200))
            if MQTTPacket.ack(ack).encoded(version: .v5).readableBytes > negotiated.clientMaximumPacketSize {
                ack.properties.reasonString = nil
            }
        }
        return ack
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

    // MARK: - SUBSCRIBE and UNSUBSCRIBE (the subscribe sub-machine)

    /// A SUBSCRIBE with one verdict per filter (see `MQTTSubscribeStateMachine.FilterVerdict`).
    package mutating func subscribeReceived(
        _ packet: MQTTSubscribePacket, verdicts: [MQTTSubscribeStateMachine.FilterVerdict],
        session: inout MQTTSessionState
    ) -> [Action] {
        guard case .connected = state else { return [errorHappened(.protocolError("SUBSCRIBE before CONNACK"))] }
        let subscribing = MQTTSubscribeStateMachine(
            maxSubscriptions: settings.maxSubscriptions, refusal: MQTTReasonCode(settings.subscribeRefusalReason))
        return run(subscribing.subscribeReceived(packet, verdicts: verdicts, session: &session))
    }

    /// An UNSUBSCRIBE.
    package mutating func unsubscribeReceived(_ packet: MQTTUnsubscribePacket, session: inout MQTTSessionState)
        -> [Action]
    {
        guard case .connected = state else { return [errorHappened(.protocolError("UNSUBSCRIBE before CONNACK"))] }
        let subscribing = MQTTSubscribeStateMachine(
            maxSubscriptions: settings.maxSubscriptions, refusal: MQTTReasonCode(settings.subscribeRefusalReason))
        return run(subscribing.unsubscribeReceived(packet, session: &session))
    }

    /// The sub-machine's actions as this machine's: a violation ends the connection.
    private mutating func run(_ steps: [MQTTSubscribeStateMachine.Action]) -> [Action] {
        var actions: [Action] = []
        actions.reserveCapacity(steps.count)
        for step in steps {
            switch step {
            case .subscribe(let subscription): actions.append(.subscribe(subscription))
            case .unsubscribe(let filter): actions.append(.unsubscribe(filter))
            case .sendSubAck(let packet, let retained): actions.append(.sendSubAck(packet, retained: retained))
            case .fail(let error): actions.append(errorHappened(error))
            }
        }
        return actions
    }

    // MARK: - Time and closing

    /// Bytes arrived (any packet resets the keep-alive, [MQTT-3.1.2-24]). Called once per read.
    @inline(__always)
    package mutating func bytesReceived() {
        receivedSinceTick = true
    }

    /// The periodic check (every `KeepAliveSweeper.tick`). `credentialsExpired`: the token the client
    /// connected with has run out (asked only once connected).
    package mutating func tick(now: NIODeadline, credentialsExpired: Bool) -> Action {
        switch state {
        case .awaitingConnect, .connecting:
            // No CONNACK within the connect timeout: closed without a word.
            guard let deadline = connectDeadline, now >= deadline else { return .none }
            connectDeadline = nil
            state = .closed
            return .close
        case .connected(let negotiated):
            // The client reconnects with a new token (5.0 re-authentication through AUTH is not supported).
            if credentialsExpired { return close(.credentialsExpired) }
            guard negotiated.keepAliveSeconds > 0 else { return .none }
            if receivedSinceTick || keepAliveDeadline == nil {
                receivedSinceTick = false
                // [MQTT-3.1.2-24] one and a half times the keep-alive without a packet closes the connection.
                keepAliveDeadline = now + .milliseconds(Int64(negotiated.keepAliveSeconds) * 1500)
                return .none
            }
            guard let deadline = keepAliveDeadline, now >= deadline else { return .none }
            keepAliveDeadline = nil
            return close(.keepAliveTimeout)
        case .closed:
            return .none
        }
    }

    /// A violation by the client, or a failure on our side.
    package mutating func errorHappened(_ error: MQTTError) -> Action {
        close(error)
    }

    /// The server ends the connection (shutdown, the administrator, a slow consumer, a session takeover).
    package mutating func closeRequested(_ reason: MQTTError) -> Action {
        close(reason)
    }

    /// Ends the connection for `reason`, telling the client as far as the protocol lets us.
    private mutating func close(_ reason: MQTTError) -> Action {
        let previous = state
        state = .closed
        switch previous {
        case .closed:
            return .none
        case .awaitingConnect:
            guard case .unsupportedProtocolVersion = reason else { return .close }
            // [MQTT-3.1.2-2] CONNACK 0x01 (3.1.1) / 0x84 (5.0), in the 3.1.1 form (which 5.0 clients read
            // too: the level they sent is not one we speak), then close.
            return .refuseConnect(MQTTConnAckPacket(sessionPresent: false, reasonCode: .forError(reason)), .v3_1_1)
        case .connecting:
            // [MQTT-3.14.0-1] no DISCONNECT before CONNACK.
            return .close
        case .connected(let negotiated):
            // 3.1.1 has no DISCONNECT from servers: the connection just closes.
            guard negotiated.version == .v5 else { return .close }
            return .sendDisconnect(Self.disconnect(for: reason, negotiated))
        }
    }
}
