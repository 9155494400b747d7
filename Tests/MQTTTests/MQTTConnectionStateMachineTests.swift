import MQTTWire
import NIOCore
import Testing

/// Event → decision sequences of the connection state machine and the session state.
@Suite struct MQTTConnectionStateMachineTests {
    var machine = MQTTConnectionStateMachine(settings: MQTTServerSettings())
    var session = MQTTSessionState(maxQueued: 3)

    mutating func accept(_ packet: MQTTConnectPacket) -> MQTTConnectionStateMachine.Negotiated? {
        if case .accept(let negotiated) = machine.connectReceived(packet, makeClientID: { "assigned" }) {
            return negotiated
        }
        return nil
    }

    @Test mutating func emptyClientIdentifier() {
        // [MQTT-3.1.3-6] assigned for 5.0 and for 3.1.1 with clean session.
        let negotiated = accept(MQTTConnectPacket(version: .v5, clientID: ""))
        #expect(negotiated?.clientID == "assigned" && negotiated?.assignedClientID == true)
        #expect(
            machine.connAck(sessionPresent: false, maximumPacketSize: 1000).properties.assignedClientIdentifier
                == "assigned")
        // [MQTT-3.1.3-8] 3.1.1 without clean session: CONNACK 0x02.
        var other = MQTTConnectionStateMachine(settings: MQTTServerSettings())
        let refused = other.connectReceived(
            MQTTConnectPacket(version: .v3_1_1, clientID: "", cleanStart: false), makeClientID: { "x" })
        guard case .refuse(.refuseConnect(let connAck, .v3_1_1)) = refused else { Issue.record("accepted"); return }
        #expect(connAck.reasonCode.v3ConnectReturnCode == 0x02)
    }

    @Test mutating func secondConnectIsAProtocolError() {
        _ = accept(MQTTConnectPacket(version: .v5, clientID: "a"))
        _ = machine.connAck(sessionPresent: false, maximumPacketSize: 1000)
        // [MQTT-3.1.0-2] DISCONNECT 0x82 (after CONNACK).
        guard
            case .refuse(.sendDisconnect(let disconnect)) = machine.connectReceived(
                MQTTConnectPacket(version: .v5, clientID: "a"), makeClientID: { "" })
        else { Issue.record("accepted"); return }
        #expect(disconnect.reasonCode == .protocolError)
        #expect(machine.isClosed)
    }

    @Test mutating func sessionExpiryAndCleanStart() {
        let v3 = accept(MQTTConnectPacket(version: .v3_1_1, clientID: "a", cleanStart: false))
        #expect(v3?.sessionExpirySeconds == MQTTServerSettings().maxSessionExpirySeconds)
        var properties = MQTTProperties()
        properties.sessionExpiryInterval = .max
        var v5 = MQTTConnectionStateMachine(settings: MQTTServerSettings())
        guard
            case .accept(let negotiated) = v5.connectReceived(
                MQTTConnectPacket(version: .v5, clientID: "b", cleanStart: true, properties: properties),
                makeClientID: { "" })
        else { Issue.record("refused"); return }
        // Lowered to the server's maximum and told in CONNACK; Clean Start → session present 0 ([MQTT-3.2.2-2]).
        #expect(negotiated.sessionExpirySeconds == MQTTServerSettings().maxSessionExpirySeconds)
        let connAck = v5.connAck(sessionPresent: true, maximumPacketSize: 1000)
        #expect(connAck.sessionPresent == false)
        #expect(connAck.properties.sessionExpiryInterval == MQTTServerSettings().maxSessionExpirySeconds)
    }

    /// Issue 25: the machines of a frontend's connections share one `SharedSettings` (a copy of the
    /// settings in each was ~80 B per idle connection); each applies them as its own.
    @Test func machinesShareTheirSettings() {
        var settings = MQTTServerSettings()
        settings.maxSessionExpirySeconds = 60
        let shared = MQTTConnectionStateMachine.SharedSettings(settings)
        var machines = [MQTTConnectionStateMachine(settings: shared), MQTTConnectionStateMachine(settings: shared)]
        for index in machines.indices {
            #expect(machines[index].settings == settings)
            let packet = MQTTConnectPacket(version: .v3_1_1, clientID: "c\(index)", cleanStart: false)
            guard case .accept(let negotiated) = machines[index].connectReceived(packet, makeClientID: { "" })
            else { Issue.record("refused"); return }
            #expect(negotiated.sessionExpirySeconds == 60)
        }
    }

    @Test mutating func responseInformationOnlyWhenRequested() {
        var properties = MQTTProperties()
        properties.requestResponseInformation = 1
        _ = accept(MQTTConnectPacket(version: .v5, clientID: "asker", properties: properties))
        #expect(
            machine.connAck(sessionPresent: false, maximumPacketSize: 1000, responseInformation: "$rpc/mqtt/asker")
                .properties.responseInformation == "$rpc/mqtt/asker")
        // [MQTT-3.1.2-28] Request Response Information 0 (or absent): none, whatever the handler offers.
        properties.requestResponseInformation = 0
        var other = MQTTConnectionStateMachine(settings: MQTTServerSettings())
        _ = other.connectReceived(
            MQTTConnectPacket(version: .v5, clientID: "quiet", properties: properties), makeClientID: { "" })
        #expect(
            other.connAck(sessionPresent: false, maximumPacketSize: 1000, responseInformation: "$rpc/mqtt/quiet")
                .properties.responseInformation == nil)
    }

    @Test mutating func enhancedAuthenticationIsRefused() {
        var properties = MQTTProperties()
        properties.authenticationMethod = "SCRAM-SHA-1"
        guard
            case .refuse(.refuseConnect(let connAck, .v5)) = machine.connectReceived(
                MQTTConnectPacket(version: .v5, clientID: "a", properties: properties), makeClientID: { "" })
        else { Issue.record("accepted"); return }
        #expect(connAck.reasonCode == .badAuthenticationMethod)
    }

    @Test mutating func topicAliases() throws {
        _ = accept(MQTTConnectPacket(version: .v5, clientID: "a"))
        var first = MQTTPublishPacket(topic: "a/b", payload: ByteBuffer(string: "1"))
        first.properties.topicAlias = 3
        guard case .publish(let resolved, nil) = try machine.publishReceived(first, session: &session) else {
            Issue.record("not published"); return
        }
        #expect(resolved.topic == "a/b" && resolved.properties.topicAlias == nil)
        var second = MQTTPublishPacket(topic: "", payload: ByteBuffer(string: "2"))
        second.properties.topicAlias = 3
        guard case .publish(let again, nil) = try machine.publishReceived(second, session: &session) else {
            Issue.record("not published"); return
        }
        #expect(again.topic == "a/b")
        // [MQTT-3.3.2-9] above the maximum; unknown alias with an empty topic is a protocol error.
        var tooHigh = second
        tooHigh.properties.topicAlias = 1000
        #expect(throws: MQTTError.topicAliasInvalid(1000)) { try machine.publishReceived(tooHigh, session: &session) }
        var unknown = second
        unknown.properties.topicAlias = 4
        #expect(throws: MQTTError.self) { try machine.publishReceived(unknown, session: &session) }
    }

    @Test mutating func qos2DuplicateIsAcknowledgedNotRepublished() throws {
        _ = accept(MQTTConnectPacket(version: .v3_1_1, clientID: "a"))
        let packet = MQTTPublishPacket(topic: "t", payload: ByteBuffer(), qos: .exactlyOnce, packetID: 9)
        guard case .publish(_, let ack) = try machine.publishReceived(packet, session: &session) else {
            Issue.record("first copy not published"); return
        }
        #expect(ack == MQTTAckPacket(.pubRec, packetID: 9))
        var duplicate = packet
        duplicate.duplicate = true
        // [MQTT-4.3.3-10] not delivered again before PUBREL.
        #expect(
            try machine.publishReceived(duplicate, session: &session)
                == .acknowledgeOnly(MQTTAckPacket(.pubRec, packetID: 9)))
        #expect(machine.pubRelReceived(9, session: &session) == MQTTAckPacket(.pubComp, packetID: 9))
        // After PUBREL the identifier is free: a new message with it is published.
        guard case .publish = try machine.publishReceived(packet, session: &session) else {
            Issue.record("reused identifier not published"); return
        }
        // 0x92 for an unknown PUBREL.
        #expect(machine.pubRelReceived(77, session: &session).reasonCode == .packetIdentifierNotFound)
    }

    @Test mutating func receiveMaximumIsEnforcedForQoS2() throws {
        var settings = MQTTServerSettings()
        settings.receiveMaximum = 2
        machine = MQTTConnectionStateMachine(settings: settings)
        _ = accept(MQTTConnectPacket(version: .v5, clientID: "a"))
        for id: UInt16 in 1...2 {
            _ = try machine.publishReceived(
                MQTTPublishPacket(topic: "t", payload: ByteBuffer(), qos: .exactlyOnce, packetID: id), session: &session
            )
        }
        // §3.3.4: the client broke [MQTT-3.3.4-7] → DISCONNECT 0x93.
        #expect(throws: MQTTError.receiveMaximumExceeded) {
            try machine.publishReceived(
                MQTTPublishPacket(topic: "t", payload: ByteBuffer(), qos: .exactlyOnce, packetID: 3), session: &session)
        }
    }

    @Test mutating func payloadThatIsNotTheDeclaredUTF8IsRefusedWith0x99() throws {
        _ = accept(MQTTConnectPacket(version: .v5, clientID: "a"))
        var packet = MQTTPublishPacket(topic: "t", payload: ByteBuffer(bytes: [0xFF]), qos: .atLeastOnce, packetID: 3)
        packet.properties.payloadFormatIndicator = 1
        #expect(
            try machine.publishReceived(packet, session: &session)
                == .refuse(MQTTAckPacket(.pubAck, packetID: 3, reasonCode: .payloadFormatInvalid)))
        packet.qos = .atMostOnce
        packet.packetID = nil
        #expect(throws: MQTTError.self) { try machine.publishReceived(packet, session: &session) }
        packet.payload = ByteBuffer(string: "é")
        guard case .publish = try machine.publishReceived(packet, session: &session) else {
            Issue.record("valid UTF-8 refused"); return
        }
    }

    @Test mutating func wildcardTopicNameIsInvalid() {
        _ = accept(MQTTConnectPacket(version: .v5, clientID: "a"))
        // [MQTT-3.3.2-2]
        #expect(throws: MQTTError.topicNameInvalid("a/#")) {
            try machine.publishReceived(MQTTPublishPacket(topic: "a/#", payload: ByteBuffer()), session: &session)
        }
    }

    @Test mutating func disconnectCannotTurnOnSessionExpiry() throws {
        _ = accept(MQTTConnectPacket(version: .v5, clientID: "a"))
        var properties = MQTTProperties()
        properties.sessionExpiryInterval = 60
        #expect(throws: MQTTError.self) {
            try machine.disconnectReceived(MQTTDisconnectPacket(properties: properties))
        }
    }

    @Test mutating func disconnectWithWillKeepsTheWill() throws {
        let will = MQTTWill(topic: "w", payload: ByteBuffer(string: "x"))
        _ = accept(MQTTConnectPacket(version: .v5, clientID: "a", will: will))
        #expect(try machine.disconnectReceived(MQTTDisconnectPacket(reasonCode: .disconnectWithWill)).will == will)
        var other = MQTTConnectionStateMachine(settings: MQTTServerSettings())
        _ = other.connectReceived(MQTTConnectPacket(version: .v5, clientID: "a", will: will), makeClientID: { "" })
        // [MQTT-3.14.4-3] a normal disconnect discards the will.
        #expect(try other.disconnectReceived(MQTTDisconnectPacket()).will == nil)
    }
}

@Suite struct MQTTSessionStateTests {
    func packet(_ text: String, qos: MQTTQoS = .atLeastOnce) -> MQTTPublishPacket {
        MQTTPublishPacket(topic: "t", payload: ByteBuffer(string: text), qos: qos)
    }

    @Test func windowQueueAndDrain() {
        var session = MQTTSessionState(maxQueued: 2)
        // [MQTT-4.9.0-2] at most Receive Maximum (here 1) unacknowledged.
        guard case .send(let first) = session.offer(packet("a"), expiresAt: nil, window: 1, canSend: true) else {
            Issue.record("not sent"); return
        }
        #expect(first.packetID == 1)
        #expect(session.offer(packet("b"), expiresAt: nil, window: 1, canSend: true) == .queued)
        #expect(session.offer(packet("c"), expiresAt: 5, window: 1, canSend: true) == .queued)
        #expect(session.offer(packet("d"), expiresAt: nil, window: 1, canSend: true) == .dropped)
        #expect(session.acknowledged(.pubAck, packetID: 1) == .completed)
        let drained = session.drain(window: 1, now: 0)
        #expect(drained.map { String(buffer: $0.packet.payload) } == ["b"])
        #expect(drained.first?.packet.packetID == 2)
        #expect(session.acknowledged(.pubAck, packetID: 2) == .completed)
        // "c" expired at 5 ns: discarded, never sent ([MQTT-3.3.2-5]).
        #expect(session.drain(window: 1, now: 10).isEmpty)
        #expect(session.queuedCount == 0)
    }

    @Test func qos0IsSentOrDroppedNeverQueued() {
        var session = MQTTSessionState(maxQueued: 2)
        #expect(session.offer(packet("a", qos: .atMostOnce), expiresAt: nil, window: 1, canSend: false) == .dropped)
        guard
            case .send(let sent) = session.offer(
                packet("a", qos: .atMostOnce), expiresAt: nil, window: 0, canSend: true)
        else { Issue.record("not sent"); return }
        #expect(sent.packetID == nil)
    }

    @Test func qos2FlowAndResendOnResume() {
        var session = MQTTSessionState(maxQueued: 10)
        _ = session.offer(packet("one", qos: .exactlyOnce), expiresAt: nil, window: 10, canSend: true)
        _ = session.offer(packet("two", qos: .exactlyOnce), expiresAt: nil, window: 10, canSend: true)
        #expect(session.acknowledged(.pubAck, packetID: 1) == .unknown, "PUBACK does not complete QoS 2")
        #expect(session.acknowledged(.pubRec, packetID: 1) == .sendPubRel)
        // [MQTT-4.4.0-1] resend in order: PUBREL for the released one, PUBLISH with DUP for the other.
        let resend = session.resendOnResume()
        #expect(resend.count == 2)
        #expect(resend.first == .pubRel(1))
        guard case .publish(let again, _) = resend.last else { Issue.record("no publish"); return }
        #expect(again.duplicate && again.packetID == 2)
        #expect(session.acknowledged(.pubComp, packetID: 1) == .completed)
        #expect(session.inflight.count == 1)
    }

    @Test func packetIdentifiersSkipThoseInUse() {
        var session = MQTTSessionState(maxQueued: 0)
        var ids: Set<UInt16> = []
        for _ in 0..<3 {
            if case .send(let p) = session.offer(packet("x"), expiresAt: nil, window: 100, canSend: true) {
                ids.insert(p.packetID!)
            }
        }
        #expect(ids == [1, 2, 3])
    }
}

@Suite struct MQTTOutboundTopicAliasesTests {
    @Test func aliasesAreAssignedUpToTheClientsMaximum() {
        var aliases = MQTTOutboundTopicAliases(maximum: 1)
        var first = MQTTPublishPacket(topic: "a", payload: ByteBuffer())
        aliases.apply(to: &first)
        #expect(first.topic == "a" && first.properties.topicAlias == 1)
        var second = MQTTPublishPacket(topic: "a", payload: ByteBuffer())
        aliases.apply(to: &second)
        #expect(second.topic == "" && second.properties.topicAlias == 1)
        // [MQTT-3.3.2-10] no alias beyond the maximum: the topic goes in full.
        var other = MQTTPublishPacket(topic: "b", payload: ByteBuffer())
        aliases.apply(to: &other)
        #expect(other.topic == "b" && other.properties.topicAlias == nil)
        var none = MQTTOutboundTopicAliases(maximum: 0)
        var plain = MQTTPublishPacket(topic: "a", payload: ByteBuffer())
        none.apply(to: &plain)
        #expect(plain.topic == "a" && plain.properties.topicAlias == nil)
    }
}
