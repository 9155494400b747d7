import MQTTWire
import NIOCore
import Testing

/// The parts of the session state that storage uses: durable sequences ride with queued and in-flight
/// messages, restored in-flight messages keep their packet identifiers, and the lowest outstanding
/// sequence bounds what the message log must keep.
@Suite struct MQTTSessionStateRestoreTests {
    func packet(_ text: String, qos: MQTTQoS = .exactlyOnce, id: UInt16? = nil) -> MQTTPublishPacket {
        MQTTPublishPacket(topic: "t", payload: ByteBuffer(string: text), qos: qos, packetID: id)
    }

    @Test func sequencesFollowMessagesFromQueueToWindowToCompletion() {
        var state = MQTTSessionState(maxQueued: 10)
        guard case .send(let first) = state.offer(packet("a"), expiresAt: nil, window: 1, canSend: true, sequence: 7)
        else { Issue.record("first message not sent"); return }
        #expect(state.offer(packet("b"), expiresAt: nil, window: 1, canSend: true, sequence: 9) == .queued)
        #expect(state.sequence(ofInflight: first.packetID!) == 7)
        #expect(state.lowestSequence == 7)
        #expect(state.acknowledged(.pubRec, packetID: first.packetID!) == .sendPubRel)
        #expect(state.acknowledged(.pubComp, packetID: first.packetID!) == .completed)
        #expect(state.lowestSequence == 9)
        let drained = state.drain(window: 1, now: 0)
        #expect(drained.count == 1 && state.sequence(ofInflight: drained[0].packet.packetID!) == 9)
        _ = state.acknowledged(.pubRec, packetID: drained[0].packet.packetID!)
        _ = state.acknowledged(.pubComp, packetID: drained[0].packet.packetID!)
        #expect(state.lowestSequence == nil)
    }

    @Test func restoredInflightMessagesResendWithTheirIdentifiersInOrder() {
        var state = MQTTSessionState(maxQueued: 10)
        state.restoreInflight(packet("a", id: 40), expiresAt: nil, released: false, sequence: 3)
        state.restoreInflight(packet("b", id: 41), expiresAt: nil, released: true, sequence: 4)
        state.restoreQueued(packet("c"), expiresAt: nil, sequence: 5)
        let resend = state.resendOnResume()
        #expect(resend.count == 2)
        if case .publish(let p, _) = resend[0] { #expect(p.packetID == 40 && p.duplicate) } else { Issue.record() }
        #expect(resend[1] == .pubRel(41))
        // New identifiers never collide with restored ones.
        _ = state.acknowledged(.pubComp, packetID: 41)
        let drained = state.drain(window: 10, now: 0)
        #expect(drained.count == 1 && drained[0].packet.packetID != 40)
        #expect(state.lowestSequence == 3)
    }
}
