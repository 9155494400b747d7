import Testing

@testable import NATSWire

/// Event → action sequences of the session state machine.
@Suite struct NATSSessionStateMachineTests {
    @Test func withoutAuthenticationOperationsMayPrecedeConnect() {
        var machine = NATSSessionStateMachine(authenticationRequired: false, maxPingsOut: 2)
        #expect(machine.operationReceived() == .handle(acknowledge: false))
        var options = NATSConnectOptions()
        options.verbose = true
        #expect(machine.connectReceived(options, authenticated: true) == .accept(acknowledge: true))
        #expect(machine.operationReceived() == .handle(acknowledge: true))
    }

    @Test func withAuthenticationAnythingBeforeConnectIsAViolation() {
        var machine = NATSSessionStateMachine(authenticationRequired: true, maxPingsOut: 2)
        #expect(machine.operationReceived() == .refuse(.authorizationViolation))
        #expect(machine.isClosed)
        #expect(machine.operationReceived() == .ignore)
    }

    @Test func refusedCredentials() {
        var machine = NATSSessionStateMachine(authenticationRequired: true, maxPingsOut: 2)
        #expect(machine.connectReceived(NATSConnectOptions(), authenticated: false) == .refuse(.authorizationViolation))
        #expect(machine.isClosed)
    }

    @Test func connectOptionChecks() {
        var options = NATSConnectOptions()
        options.protocolLevel = 2
        var machine = NATSSessionStateMachine(authenticationRequired: false, maxPingsOut: 2)
        #expect(machine.connectReceived(options, authenticated: true) == .refuse(.badClientProtocol))
        options = NATSConnectOptions()
        options.noResponders = true
        machine = NATSSessionStateMachine(authenticationRequired: false, maxPingsOut: 2)
        #expect(machine.connectReceived(options, authenticated: true) == .refuse(.noRespondersRequiresHeaders))
    }

    @Test func authenticationTimer() {
        var machine = NATSSessionStateMachine(authenticationRequired: true, maxPingsOut: 2)
        let fired = machine.authenticationTimerFired()
        #expect(fired && machine.isClosed)
        var connected = NATSSessionStateMachine(authenticationRequired: true, maxPingsOut: 2)
        _ = connected.connectReceived(NATSConnectOptions(), authenticated: true)
        let firedAfterConnect = connected.authenticationTimerFired()
        #expect(!firedAfterConnect)
    }

    @Test func pingsUntilStale() {
        var machine = NATSSessionStateMachine(authenticationRequired: false, maxPingsOut: 2)
        #expect(machine.pingTimerFired() == .sendPing)
        machine.pongReceived()
        #expect(machine.pingTimerFired() == .sendPing)
        #expect(machine.pingTimerFired() == .sendPing)
        #expect(machine.pingTimerFired() == .closeStale)
        #expect(machine.isClosed)
        #expect(machine.pingTimerFired() == .none)
    }

    @Test func activeClientsAreNotPinged() {
        var machine = NATSSessionStateMachine(authenticationRequired: false, maxPingsOut: 2)
        machine.dataReceived()
        #expect(machine.pingTimerFired() == .none)
        #expect(machine.pingTimerFired() == .sendPing)
    }

    @Test func errorsThatKeepTheConnection() {
        var machine = NATSSessionStateMachine(authenticationRequired: false, maxPingsOut: 2)
        #expect(machine.errorOccurred(.invalidSubject) == .refuse(.invalidSubject))
        #expect(!machine.isClosed)
        #expect(machine.errorOccurred(.maxPayloadViolation) == .refuse(.maxPayloadViolation))
        #expect(machine.isClosed)
        #expect(machine.errorOccurred(.unknownOperation) == .ignore)
    }
}
