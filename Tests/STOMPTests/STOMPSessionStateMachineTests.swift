import NIOCore
import STOMPWire
import Testing

/// The session machine: event in, action out, time injected.
@Suite struct STOMPSessionStateMachineTests {
    let start = NIODeadline.uptimeNanoseconds(1_000_000_000)

    func connected(heartBeat: String? = nil, version: String = "1.2") -> STOMPSessionStateMachine {
        var machine = STOMPSessionStateMachine(configuration: .init(), now: start)
        var headers = STOMPHeaders([("accept-version", version)])
        if let heartBeat { headers.append("heart-beat", heartBeat) }
        guard case .authenticate = machine.frameReceived(STOMPFrame(.connect, headers: headers)) else {
            Issue.record("CONNECT did not ask for authentication")
            return machine
        }
        _ = machine.authenticated(true, sessionID: "s", serverVersion: "1")
        return machine
    }

    @Test func connectThenConnected() {
        var machine = STOMPSessionStateMachine(configuration: .init(), now: start)
        let connect = STOMPFrame(
            .stomp,
            headers: STOMPHeaders([
                ("accept-version", "1.1,1.2"), ("host", "/"), ("login", "u"), ("passcode", "p"),
                ("heart-beat", "0,1000"),
            ]))
        guard case .authenticate(let request) = machine.frameReceived(connect) else {
            Issue.record("no authentication asked")
            return
        }
        #expect(request.version == .v1_2)
        #expect(request.login == "u" && request.passcode == "p")
        guard case .sendConnected(let headers) = machine.authenticated(true, sessionID: "session-1", serverVersion: "9")
        else {
            Issue.record("not connected")
            return
        }
        #expect(headers["version"] == "1.2")
        #expect(headers["session"] == "session-1")
        #expect(headers["server"] == "Switchboard/9")
        #expect(headers["heart-beat"] == "1000,0")
        #expect(machine.escaping == .v1_2)
    }

    @Test func refusedCredentialsFail() {
        var machine = STOMPSessionStateMachine(configuration: .init(), now: start)
        _ = machine.frameReceived(STOMPFrame(.connect, headers: STOMPHeaders([("login", "u"), ("receipt", "r")])))
        guard case .fail(let error) = machine.authenticated(false, sessionID: "s", serverVersion: "1") else {
            Issue.record("no failure")
            return
        }
        #expect(error.message == "Access refused")
        #expect(error.receiptID == "r")
        #expect(machine.isClosing)
    }

    @Test func framesBeforeConnectFail() {
        var machine = STOMPSessionStateMachine(configuration: .init(), now: start)
        guard case .fail(let error) = machine.frameReceived(STOMPFrame(.send)) else {
            Issue.record("SEND before CONNECT accepted")
            return
        }
        #expect(error.message == "Illegal command")
        #expect(machine.frameReceived(STOMPFrame(.connect)) == .none, "nothing after the ERROR")
    }

    @Test func unsupportedVersionNamesTheSupportedOnes() {
        var machine = STOMPSessionStateMachine(configuration: .init(), now: start)
        guard
            case .fail(let error) = machine.frameReceived(
                STOMPFrame(.connect, headers: STOMPHeaders([("accept-version", "3.0")])))
        else {
            Issue.record("accepted 3.0")
            return
        }
        #expect(error.message == "Supported versions are 1.0,1.1,1.2")
    }

    @Test func connectedFramesAreHandledAndServerFramesRefused() {
        var machine = connected()
        #expect(machine.frameReceived(STOMPFrame(.send)) == .handle(STOMPFrame(.send)))
        guard case .fail = machine.frameReceived(STOMPFrame(.connect)) else {
            Issue.record("second CONNECT accepted")
            return
        }
        var other = connected()
        guard case .fail = other.frameReceived(STOMPFrame(.message)) else {
            Issue.record("MESSAGE from a client accepted")
            return
        }
    }

    @Test func disconnectAnswersItsReceipt() {
        var machine = connected()
        let frame = STOMPFrame(.disconnect, headers: STOMPHeaders([("receipt", "77")]))
        #expect(machine.frameReceived(frame) == .disconnect(receipt: "77"))
        #expect(machine.isClosing)
    }

    @Test func serverBeatsWhenIdleAndDropsASilentClient() {
        var machine = connected(heartBeat: "1000,1000")
        #expect(machine.tick(now: start + .milliseconds(250)) == .none)
        #expect(machine.tick(now: start + .milliseconds(750)) == .sendHeartBeat)
        #expect(machine.tick(now: start + .milliseconds(1000)) == .none, "beat just sent")
        machine.dataReceived(now: start + .milliseconds(1500))
        #expect(machine.tick(now: start + .milliseconds(3000)) == .sendHeartBeat)
        #expect(machine.tick(now: start + .milliseconds(3400)) == .none, "1.9 s of silence is within twice 1 s")
        #expect(machine.tick(now: start + .milliseconds(3600)) == .close)
    }

    @Test func noHeartBeatsNoTimeouts() {
        var machine = connected()
        #expect(machine.tick(now: start + .seconds(3600)) == .none)
    }

    @Test func connectTimeout() {
        var machine = STOMPSessionStateMachine(configuration: .init(), now: start)
        #expect(machine.tick(now: start + .seconds(9)) == .none)
        #expect(machine.tick(now: start + .seconds(10)) == .close)
    }
}
