import AMQPWire
import NIOCore
import Testing

/// Channel 0's rules as events and actions (AMQP 0-9-1 §2.2.4, §4.2.3, §4.2.7): the handshake, tuning,
/// heartbeats and their deadlines, and closing.
@Suite struct AMQPConnectionStateMachineTests {
    let start = NIODeadline.uptimeNanoseconds(1_000_000_000)

    func opened(heartbeat: UInt16 = 10) -> AMQPConnectionStateMachine {
        var machine = AMQPConnectionStateMachine(limits: AMQPLimits(), now: start)
        #expect(machine.protocolHeaderReceived(.amqp0_9_1, now: start) == .sendStart)
        let startOk = AMQPConnectionStartOk(
            clientProperties: [:], mechanism: "PLAIN", response: AMQPSASL.plainResponse(username: "u", password: "p"),
            locale: "en_US")
        #expect(
            machine.connectionMethodReceived(.startOk(startOk))
                == .authenticate(AMQPSASLCredentials(username: "u", password: "p"), mechanism: "PLAIN"))
        #expect(machine.authenticated(true) == .sendTune(AMQPConnectionTune(limits: AMQPLimits())))
        #expect(
            machine.connectionMethodReceived(
                .tuneOk(AMQPConnectionTune(channelMax: 2047, frameMax: 131_072, heartbeat: heartbeat)))
                == .tuned(.init(frameMax: 131_072, channelMax: 2047, heartbeatSeconds: heartbeat)))
        #expect(machine.connectionMethodReceived(.open(virtualHost: "/")) == .openVirtualHost("/"))
        #expect(machine.virtualHostChecked(.accepted) == .sendOpenOk)
        #expect(machine.isOpen)
        return machine
    }

    @Test func theHandshakeInOrder() {
        _ = opened()
    }

    @Test func tuneOkOutsideTheLimitsIsRefusedWith530() {
        var machine = AMQPConnectionStateMachine(limits: AMQPLimits(), now: start)
        _ = machine.protocolHeaderReceived(.amqp0_9_1, now: start)
        _ = machine.connectionMethodReceived(
            .startOk(
                AMQPConnectionStartOk(
                    clientProperties: [:], mechanism: "PLAIN",
                    response: AMQPSASL.plainResponse(username: "u", password: "p"),
                    locale: "en_US")))
        _ = machine.authenticated(true)
        guard
            case .sendClose(let close) = machine.connectionMethodReceived(
                .tuneOk(AMQPConnectionTune(channelMax: 10, frameMax: 1024, heartbeat: 0)))
        else {
            Issue.record("expected a close")
            return
        }
        #expect(close.replyCode == 530)
    }

    @Test func anUnknownVirtualHostIsRefused() {
        var machine = AMQPConnectionStateMachine(limits: AMQPLimits(), now: start)
        _ = machine.protocolHeaderReceived(.amqp0_9_1, now: start)
        _ = machine.connectionMethodReceived(
            .startOk(
                AMQPConnectionStartOk(
                    clientProperties: [:], mechanism: "AMQPLAIN",
                    response: AMQPSASL.amqplainResponse(username: "u", password: "p"), locale: "en_US")))
        _ = machine.authenticated(true)
        _ = machine.connectionMethodReceived(.tuneOk(AMQPConnectionTune(channelMax: 10, frameMax: 4096, heartbeat: 0)))
        #expect(machine.connectionMethodReceived(.open(virtualHost: "/other")) == .openVirtualHost("/other"))
        guard case .sendClose(let close) = machine.virtualHostChecked(.notFound("/other")) else {
            Issue.record("expected a close")
            return
        }
        #expect(close.replyCode == 530 && machine.isClosing)
    }

    @Test func heartbeatsGoOutAtHalfTheIntervalAndSilenceClosesAfterTwo() {
        var machine = opened(heartbeat: 10)
        #expect(machine.tick(now: start + .seconds(4)) == .none)
        #expect(machine.tick(now: start + .seconds(5)) == .sendHeartbeat)
        machine.frameReceived(now: start + .seconds(12))
        #expect(machine.tick(now: start + .seconds(25)) == .sendHeartbeat)
        #expect(machine.tick(now: start + .seconds(32)) == .closeConnection)
    }

    @Test func aHandshakeThatStallsIsClosed() {
        var machine = AMQPConnectionStateMachine(limits: AMQPLimits(), now: start)
        _ = machine.protocolHeaderReceived(.amqp0_9_1, now: start)
        #expect(machine.tick(now: start + .seconds(9)) == .none)
        #expect(machine.tick(now: start + .seconds(10)) == .closeConnection)
    }

    @Test func theHandshakeTimeoutIsConfigured() {
        var machine = AMQPConnectionStateMachine(limits: AMQPLimits(handshakeTimeoutSeconds: 60), now: start)
        _ = machine.protocolHeaderReceived(.amqp0_9_1, now: start)
        #expect(machine.tick(now: start + .seconds(59)) == .none)
        #expect(machine.tick(now: start + .seconds(60)) == .closeConnection)
    }

    @Test func closingWaitsForCloseOkThenGivesUp() {
        var machine = opened()
        guard case .sendClose(let close) = machine.closeRequested(.connectionForced, "shutdown") else {
            Issue.record("expected a close")
            return
        }
        #expect(close.replyCode == 320 && close.replyText == "CONNECTION_FORCED - shutdown")
        machine.closeSent(now: start)
        // Anything but close / close-ok is dropped now (§4.2.6).
        #expect(machine.connectionMethodReceived(.open(virtualHost: "/")) == .none)
        #expect(machine.tick(now: start + .seconds(3)) == .closeConnection)
        var answered = opened()
        _ = answered.closeRequested(.connectionForced, "shutdown")
        #expect(answered.connectionMethodReceived(.closeOk) == .closeConnection)
    }

    @Test func aClientCloseIsAnsweredWithCloseOk() {
        var machine = opened()
        #expect(
            machine.connectionMethodReceived(.close(AMQPClose(replyCode: 200, replyText: "bye")))
                == .sendCloseOkAndClose)
    }
}
