import NIOCore
import SSEWire
import Testing

/// Event → action sequences of the stream and poll state machines (no clock: times are given).
@Suite struct SSEStateMachineTests {
    let start = NIODeadline.uptimeNanoseconds(1_000_000_000)

    @Test func keepAliveEveryIntervalOfSilence() {
        var machine = SSEStreamStateMachine(now: start, keepAliveInterval: .seconds(15), inactivityTimeout: nil)
        #expect(machine.tick(now: start + .seconds(14)) == .none)
        #expect(machine.tick(now: start + .seconds(15)) == .sendKeepAlive)
        #expect(machine.tick(now: start + .seconds(29)) == .none)
        // Bytes written move the next keep-alive out.
        machine.activity(now: start + .seconds(29), wroteBytes: true)
        #expect(machine.tick(now: start + .seconds(30)) == .none)
        #expect(machine.tick(now: start + .seconds(44)) == .sendKeepAlive)
        // Without an inactivity timeout a silent stream lives on.
        #expect(machine.tick(now: start + .seconds(100_000)) == .sendKeepAlive)
    }

    @Test func realtimeClientDroppedAfterInactivity() {
        var machine = SSEStreamStateMachine(
            now: start, keepAliveInterval: .seconds(15), inactivityTimeout: .seconds(60))
        machine.activity(now: start + .seconds(50), wroteBytes: false)  // a subscription change
        #expect(machine.tick(now: start + .seconds(100)) == .sendKeepAlive)
        #expect(machine.tick(now: start + .seconds(110)) == .finish)
        #expect(!machine.isStreaming)
        #expect(machine.tick(now: start + .seconds(200)) == .none)
        #expect(machine.closeRequested() == .none)
        #expect(machine.connectionEnded() == .cleanUp)
        #expect(machine.connectionEnded() == .none)
    }

    @Test func closeOnceThenCleanUpOnce() {
        var machine = SSEStreamStateMachine(now: start, keepAliveInterval: .seconds(15), inactivityTimeout: nil)
        #expect(machine.closeRequested() == .finish)
        #expect(machine.closeRequested() == .none)
        #expect(machine.tick(now: start + .seconds(60)) == .none)
        #expect(machine.connectionEnded() == .cleanUp)
    }

    @Test func clientGoneWithoutCloseRequest() {
        var machine = SSEStreamStateMachine(now: start, keepAliveInterval: .seconds(15), inactivityTimeout: nil)
        #expect(machine.connectionEnded() == .cleanUp)
        #expect(machine.closeRequested() == .none)
        #expect(!machine.isStreaming)
    }

    @Test func pollAnsweredExactlyOnce() {
        var machine = SSEPollStateMachine()
        #expect(machine.messagesArrived() == .answerWithMessages)
        #expect(machine.timeoutFired() == .none)
        #expect(machine.clientLeft() == .none)
        #expect(!machine.isWaiting)

        var timedOut = SSEPollStateMachine()
        #expect(timedOut.timeoutFired() == .answerNoContent)
        #expect(timedOut.messagesArrived() == .none)

        var closed = SSEPollStateMachine()
        #expect(closed.closeRequested() == .answerNoContent)

        var left = SSEPollStateMachine()
        #expect(left.clientLeft() == .abandon)
        #expect(left.messagesArrived() == .none)
    }
}
