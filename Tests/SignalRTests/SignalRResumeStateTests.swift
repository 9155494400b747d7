import NIOCore
import Testing

@testable import SignalRFrontend

/// Stateful reconnect's bookkeeping (HubProtocol.md §Stateful Reconnect): numbering from 1, release on
/// `Ack`, duplicates dropped after a `Sequence`, and the replay buffer's bound.
@Suite struct SignalRResumeStateTests {
    @Test func outboundMessagesWaitForTheirAck() {
        var state = SignalRResumeState(bufferLimit: 1_000)
        #expect(state.nextOutbound == 1)
        for text in ["a", "bb", "ccc"] { state.record(ByteBuffer(string: text)) }
        #expect(state.nextOutbound == 4 && state.bufferedBytes == 6)
        state.acknowledge(2)
        #expect(state.firstSequence == 3 && state.unacknowledged.map { String(buffer: $0) } == ["ccc"])
        // An old or repeated Ack changes nothing; numbering goes on.
        state.acknowledge(1)
        #expect(state.firstSequence == 3 && state.bufferedBytes == 3)
        state.record(ByteBuffer(string: "d"))
        #expect(state.nextOutbound == 5)
        state.acknowledge(9)
        #expect(state.unacknowledged.isEmpty && state.firstSequence == 5)
    }

    @Test func pastTheLimitNothingIsKept() {
        var state = SignalRResumeState(bufferLimit: 10)
        state.record(ByteBuffer(string: "123456"))
        #expect(!state.overflowed)
        state.record(ByteBuffer(string: "123456"))
        #expect(state.overflowed && state.unacknowledged.isEmpty && state.bufferedBytes == 0)
        state.record(ByteBuffer(string: "1"))
        #expect(state.unacknowledged.isEmpty)
    }

    @Test func duplicatesAfterASequenceAreDropped() {
        var state = SignalRResumeState(bufferLimit: 1_000)
        let first = [state.admitInbound(), state.admitInbound(), state.admitInbound()]
        #expect(first == [true, true, true])
        #expect(state.latestInbound == 3)
        // The client reconnects and starts again at 2: messages 2 and 3 are duplicates, 4 is new.
        state.awaitingSequence = true
        let reset = state.resetInbound(to: 2)
        #expect(reset && !state.awaitingSequence)
        let replayed = [state.admitInbound(), state.admitInbound(), state.admitInbound()]
        #expect(replayed == [false, false, true] && state.latestInbound == 4)
        // Starting past what arrived would skip messages.
        let skipping = state.resetInbound(to: 9)
        let zero = state.resetInbound(to: 0)
        #expect(!skipping && !zero)
    }
}
