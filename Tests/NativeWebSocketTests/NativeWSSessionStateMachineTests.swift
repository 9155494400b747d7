import BusCore
import NIOCore
import NativeWebSocketWire
import Testing

@Suite struct NativeWSSessionStateMachineTests {
    @Test func anonymousClientsNeedNoConnect() {
        var machine = NativeWSSessionStateMachine(anonymousAllowed: true)
        guard case .handle = machine.requestReceived(.presence(channel: "a")) else { Issue.record("refused"); return }
    }

    @Test func closedServerRequiresConnectFirst() {
        var machine = NativeWSSessionStateMachine(anonymousAllowed: false)
        guard case .refuse(.unauthorized, _) = machine.requestReceived(.presence(channel: "a")) else {
            Issue.record("expected unauthorized"); return
        }
        guard case .handle = machine.requestReceived(.ping) else { Issue.record("ping refused"); return }
        guard case .handle = machine.requestReceived(.connect(token: "bad", name: nil)) else {
            Issue.record("connect refused"); return
        }
        guard case .refuse(.badRequest, _) = machine.requestReceived(.presence(channel: "a")) else {
            Issue.record("requests during authentication must wait"); return
        }
        machine.authenticated(false)
        guard case .refuse(.unauthorized, _) = machine.requestReceived(.presence(channel: "a")) else {
            Issue.record("expected unauthorized after a refused connect"); return
        }
        guard case .handle = machine.requestReceived(.connect(token: "good", name: nil)) else {
            Issue.record("retry refused"); return
        }
        machine.authenticated(true)
        guard case .handle = machine.requestReceived(.presence(channel: "a")) else {
            Issue.record("refused after connect"); return
        }
        guard case .refuse(.badRequest, _) = machine.requestReceived(.connect(token: "good", name: nil)) else {
            Issue.record("second connect accepted"); return
        }
    }

    @Test func keepAliveClosesOnlyWithoutTraffic() {
        var machine = NativeWSSessionStateMachine(anonymousAllowed: true)
        #expect(machine.pingTimerFired() == .sendPing)
        machine.frameReceived()  // the pong
        #expect(machine.pongDeadlinePassed() == .none)
        #expect(machine.pingTimerFired() == .sendPing)
        #expect(machine.pongDeadlinePassed() == .closeForTimeout)
        #expect(machine.isClosing)
        #expect(machine.pingTimerFired() == .none)
    }

    @Test func connectDeadlineClosesOnlyUnauthenticatedClients() {
        var waiting = NativeWSSessionStateMachine(anonymousAllowed: false)
        #expect(waiting.connectDeadlinePassed() == .closeForTimeout)
        var connected = NativeWSSessionStateMachine(anonymousAllowed: false)
        _ = connected.requestReceived(.connect(token: "t", name: nil))
        connected.authenticated(true)
        #expect(connected.connectDeadlinePassed() == .none)
        #expect(!connected.isClosing)
    }

    @Test func closingHandshake() {
        var machine = NativeWSSessionStateMachine(anonymousAllowed: true)
        #expect(machine.closeReceived(code: 1000) == .sendCloseAndClose(code: 1000, reason: ""))
        #expect(machine.closeRequested(code: 1001, reason: "x") == .closeConnection)
        guard case .ignore = machine.requestReceived(.ping) else {
            Issue.record("closing must ignore requests"); return
        }
    }
}
