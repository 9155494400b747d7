import MQTTWire
import NIOCore
import Testing

/// Event → action sequences of the connection state machine's deadlines, refusals and closes: the
/// keep-alive and connect timeout (time injected as `now`), CONNACK refusals, DISCONNECT building, and
/// the one error → reason code map.
@Suite struct MQTTConnectionStateMachineCloseTests {
    let start = NIODeadline.uptimeNanoseconds(1_000_000_000)
    let nothing = MQTTConnectionStateMachine.Action.none

    /// A machine past CONNACK.
    func connected(
        _ version: MQTTProtocolVersion = .v5, keepAlive: UInt16 = 0, properties: MQTTProperties = MQTTProperties(),
        settings: MQTTServerSettings = MQTTServerSettings()
    ) -> MQTTConnectionStateMachine {
        var machine = MQTTConnectionStateMachine(settings: settings)
        machine.connectionOpened(now: start, connectTimeout: .seconds(10))
        let packet = MQTTConnectPacket(
            version: version, clientID: "c", keepAliveSeconds: keepAlive, properties: properties)
        guard case .accept = machine.connectReceived(packet, makeClientID: { "" }) else {
            Issue.record("CONNECT refused")
            return machine
        }
        _ = machine.connAck(sessionPresent: false, maximumPacketSize: 1 << 20)
        return machine
    }

    func disconnect(_ code: MQTTReasonCode, _ reason: String?) -> MQTTConnectionStateMachine.Action {
        var packet = MQTTDisconnectPacket(reasonCode: code)
        packet.properties.reasonString = reason
        return .sendDisconnect(packet)
    }

    // MARK: - Keep-alive and connect timeout

    @Test func keepAliveClosesAfterOneAndAHalfTimesThePeriodWithoutAPacket() {
        // [MQTT-3.1.2-24]
        var machine = connected(keepAlive: 2)
        #expect(machine.tick(now: start, credentialsExpired: false) == nothing)
        #expect(machine.tick(now: start + .milliseconds(2999), credentialsExpired: false) == nothing)
        #expect(
            machine.tick(now: start + .seconds(3), credentialsExpired: false)
                == disconnect(.keepAliveTimeout, "keep-alive timeout"))
        #expect(machine.isClosed)
        #expect(machine.tick(now: start + .seconds(4), credentialsExpired: false) == nothing, "closed once")
    }

    @Test func anyPacketRestartsTheKeepAlive() {
        // [MQTT-3.1.2-24] the period counts from the last packet received.
        var machine = connected(keepAlive: 2)
        _ = machine.tick(now: start, credentialsExpired: false)
        machine.bytesReceived()
        #expect(machine.tick(now: start + .seconds(2), credentialsExpired: false) == nothing)
        #expect(machine.tick(now: start + .milliseconds(4999), credentialsExpired: false) == nothing)
        #expect(machine.tick(now: start + .seconds(5), credentialsExpired: false) != nothing)
    }

    @Test func keepAliveZeroNeverTimesOut() {
        var machine = connected(keepAlive: 0)
        #expect(machine.tick(now: start + .seconds(100_000), credentialsExpired: false) == nothing)
    }

    @Test func serverKeepAliveIsTheOneEnforced() {
        // [MQTT-3.2.2-22] the Server Keep Alive replaces the client's.
        var settings = MQTTServerSettings()
        settings.maxKeepAliveSeconds = 4
        var machine = connected(keepAlive: 100, settings: settings)
        _ = machine.tick(now: start, credentialsExpired: false)
        #expect(machine.tick(now: start + .seconds(6), credentialsExpired: false) != nothing)
    }

    @Test func keepAliveTimeoutClosesA311ConnectionWithoutDisconnect() {
        // 3.1.1 has no DISCONNECT from servers.
        var machine = connected(.v3_1_1, keepAlive: 1)
        _ = machine.tick(now: start, credentialsExpired: false)
        #expect(machine.tick(now: start + .seconds(2), credentialsExpired: false) == .close)
    }

    @Test func noConnAckWithinTheConnectTimeoutCloses() {
        var machine = MQTTConnectionStateMachine(settings: MQTTServerSettings())
        machine.connectionOpened(now: start, connectTimeout: .seconds(10))
        #expect(machine.tick(now: start + .milliseconds(9999), credentialsExpired: false) == nothing)
        #expect(machine.tick(now: start + .seconds(10), credentialsExpired: false) == .close)
        #expect(machine.isClosed)
        // Accepted but still authenticating or finding the session: the deadline holds too.
        var connecting = MQTTConnectionStateMachine(settings: MQTTServerSettings())
        connecting.connectionOpened(now: start, connectTimeout: .seconds(10))
        _ = connecting.connectReceived(MQTTConnectPacket(version: .v5, clientID: "c"), makeClientID: { "" })
        #expect(connecting.tick(now: start + .seconds(10), credentialsExpired: false) == .close)
    }

    @Test func theConnectTimeoutEndsWithConnAck() {
        var machine = connected(keepAlive: 0)
        #expect(machine.tick(now: start + .seconds(60), credentialsExpired: false) == nothing)
    }

    @Test func expiredCredentialsDisconnectWith0x87() {
        var machine = connected()
        #expect(machine.tick(now: start, credentialsExpired: true) == disconnect(.notAuthorized, "token expired"))
    }

    // MARK: - DISCONNECT building

    @Test func disconnectCarriesTheReasonString() {
        var machine = connected()
        #expect(
            machine.errorHappened(.malformedPacket("PUBLISH with QoS 3"))
                == disconnect(.malformedPacket, "malformed packet: PUBLISH with QoS 3"))
    }

    @Test func reasonStringIsLeftOutWhenItWouldExceedTheClientsMaximumPacketSize() {
        // [MQTT-3.14.2-3] with [MQTT-3.1.2-25]: the code alone fits in 16 bytes, the reason string does not.
        var properties = MQTTProperties()
        properties.maximumPacketSize = 16
        var machine = connected(properties: properties)
        let action = machine.errorHappened(.malformedPacket("PUBLISH with QoS 3"))
        #expect(action == disconnect(.malformedPacket, nil))
        guard case .sendDisconnect(let packet) = action else { return }
        #expect(MQTTPacket.disconnect(packet).encoded(version: .v5).readableBytes <= 16)
    }

    @Test func noReasonStringWithoutProblemInformation() {
        // [MQTT-3.1.2-29] Request Problem Information 0: no reason string.
        var properties = MQTTProperties()
        properties.requestProblemInformation = 0
        var machine = connected(properties: properties)
        #expect(machine.closeRequested(.administrativeAction) == disconnect(.administrativeAction, nil))
    }

    @Test func shutdownNamesAnotherServerWhenThereIsOne() {
        // §4.11: 0x9C Use another server with Server Reference; without one, 0x8B.
        var redirected = connected()
        var packet = MQTTDisconnectPacket(reasonCode: .useAnotherServer)
        packet.properties.reasonString = "server shutting down"
        packet.properties.serverReference = "mqtt-2.example:1883"
        #expect(
            redirected.closeRequested(.serverShuttingDown(serverReference: "mqtt-2.example:1883"))
                == .sendDisconnect(packet))
        var plain = connected()
        #expect(
            plain.closeRequested(.serverShuttingDown(serverReference: nil))
                == disconnect(.serverShuttingDown, "server shutting down"))
    }

    @Test func noDisconnectIn311NorBeforeConnAck() {
        var v3 = connected(.v3_1_1)
        #expect(v3.closeRequested(.sessionTakenOver) == .close)
        // [MQTT-3.14.0-1] no DISCONNECT before CONNACK.
        var connecting = MQTTConnectionStateMachine(settings: MQTTServerSettings())
        _ = connecting.connectReceived(MQTTConnectPacket(version: .v5, clientID: "c"), makeClientID: { "" })
        #expect(connecting.closeRequested(.serverShuttingDown(serverReference: nil)) == .close)
        // A close is decided once.
        #expect(connecting.closeRequested(.administrativeAction) == nothing)
    }

    @Test func unsupportedProtocolLevelGetsConnAckInThe311Form() {
        // [MQTT-3.1.2-2] CONNACK 0x01 (5.0 clients read the 3.1.1 form too), then close.
        var machine = MQTTConnectionStateMachine(settings: MQTTServerSettings())
        guard case .refuseConnect(let connAck, .v3_1_1) = machine.errorHappened(.unsupportedProtocolVersion(3)) else {
            Issue.record("no CONNACK"); return
        }
        #expect(connAck.reasonCode == .unsupportedProtocolVersion && connAck.reasonCode.v3ConnectReturnCode == 0x01)
        // Anything else before CONNECT closes without a word ([MQTT-3.1.0-1]).
        var other = MQTTConnectionStateMachine(settings: MQTTServerSettings())
        #expect(other.errorHappened(.malformedPacket("x")) == .close)
    }

    // MARK: - CONNECT refusals

    func refusal(_ action: MQTTConnectionStateMachine.ConnectAction) -> (MQTTConnAckPacket, MQTTProtocolVersion)? {
        guard case .refuse(.refuseConnect(let connAck, let version)) = action else { return nil }
        return (connAck, version)
    }

    @Test(arguments: ["", "a/+", "a/#"])
    func willTopicMustBeAValidTopicName(topic: String) {
        // [MQTT-3.1.3-11] with [MQTT-4.7.3-1] (not empty) and [MQTT-3.3.2-2] (no wildcards): CONNACK 0x90.
        var machine = MQTTConnectionStateMachine(settings: MQTTServerSettings())
        let will = MQTTWill(topic: topic, payload: ByteBuffer())
        let refused = refusal(
            machine.connectReceived(MQTTConnectPacket(version: .v5, clientID: "c", will: will), makeClientID: { "" }))
        #expect(
            refused?.0.reasonCode == .topicNameInvalid && refused?.0.properties.reasonString == "invalid will topic")
        #expect(machine.isClosed)
    }

    @Test func willTopicTheBusRefusesIsInvalidToo() {
        var machine = MQTTConnectionStateMachine(settings: MQTTServerSettings())
        let will = MQTTWill(topic: "a/b", payload: ByteBuffer())
        let packet = MQTTConnectPacket(version: .v3_1_1, clientID: "c", will: will)
        let refused = refusal(machine.connectReceived(packet, willTopicIsBusTopic: false, makeClientID: { "" }))
        #expect(refused?.0.reasonCode == .topicNameInvalid && refused?.1 == .v3_1_1)
        var accepting = MQTTConnectionStateMachine(settings: MQTTServerSettings())
        guard case .accept = accepting.connectReceived(packet, makeClientID: { "" }) else {
            Issue.record("valid will topic refused"); return
        }
    }

    @Test func connectionLimitsRefuseTheConnectWithTheirCodes() {
        let cases: [(MQTTError.ConnectionLimit, MQTTReasonCode)] = [
            (.rate, .connectionRateExceeded), (.perAddress, .quotaExceeded), (.total, .serverBusy),
        ]
        for (limit, code) in cases {
            var machine = MQTTConnectionStateMachine(settings: MQTTServerSettings())
            let refused = refusal(
                machine.connectReceived(
                    MQTTConnectPacket(version: .v5, clientID: "c"), refusal: .connectionLimit(limit, "limit"),
                    makeClientID: { "" }))
            #expect(refused?.0.reasonCode == code && refused?.0.properties.reasonString == "limit")
            // 3.1.1: return code 3, Server Unavailable (§3.2.2.3).
            #expect(code.v3ConnectReturnCode == 0x03)
        }
    }

    @Test func refusalsAfterTheRulesAnswerConnAckInTheClientsVersion() {
        let cases: [(MQTTError, MQTTReasonCode, UInt8)] = [
            (.badUserNameOrPassword("bad password"), .badUserNameOrPassword, 4),
            (.notAuthorized("not allowed to publish the will to w"), .notAuthorized, 5),
            (.sessionLimit, .quotaExceeded, 3),
        ]
        for (error, code, returnCode) in cases {
            for version in [MQTTProtocolVersion.v5, .v3_1_1] {
                var machine = MQTTConnectionStateMachine(settings: MQTTServerSettings())
                _ = machine.connectReceived(MQTTConnectPacket(version: version, clientID: "c"), makeClientID: { "" })
                guard case .refuseConnect(let connAck, version) = machine.connectRefused(error) else {
                    Issue.record("no CONNACK for \(error)"); continue
                }
                #expect(connAck.reasonCode == code && code.v3ConnectReturnCode == returnCode)
                // A reason string in 5.0 only (3.1.1 CONNACK has no properties).
                #expect(connAck.properties.reasonString == (version == .v5 ? error.message : nil))
                #expect(machine.isClosed)
            }
        }
    }

    // MARK: - The one error → code map

    @Test func everyServerReasonHasItsCode() {
        let cases: [(MQTTError, MQTTReasonCode)] = [
            (.keepAliveTimeout, .keepAliveTimeout), (.credentialsExpired, .notAuthorized),
            (.sessionTakenOver, .sessionTakenOver), (.administrativeAction, .administrativeAction),
            (.slowConsumer, .quotaExceeded), (.sessionLimit, .quotaExceeded), (.storeFailed("disk"), .unspecifiedError),
            (.serverShuttingDown(serverReference: nil), .serverShuttingDown),
            (.serverShuttingDown(serverReference: "other"), .useAnotherServer), (.willTopicInvalid, .topicNameInvalid),
            (.badUserNameOrPassword("x"), .badUserNameOrPassword), (.notAuthorized("x"), .notAuthorized),
            (.connectionLimit(.rate, "x"), .connectionRateExceeded),
            (.connectionLimit(.perAddress, "x"), .quotaExceeded),
            (.connectionLimit(.total, "x"), .serverBusy), (.protocolError("x"), .protocolError),
            (.malformedPacket("x"), .malformedPacket), (.receiveMaximumExceeded, .receiveMaximumExceeded),
        ]
        for (error, code) in cases { #expect(MQTTReasonCode.forError(error) == code, "\(error)") }
    }
}
