import FrontendKit
import NIOCore
import NIOEmbedded
import Testing

/// The per-loop keep-alive sweeper: slots kept dense by swap-remove, one repeating timer driven by the
/// loop's virtual clock.
@Suite struct KeepAliveSweeperTests {
    final class Participant: KeepAliveParticipant {
        var keepAliveSlot = -1
        var ticks: [NIODeadline] = []
        /// Run inside a tick (a connection that closes itself there).
        var onTick: ((Participant) -> Void)?

        func keepAliveTick(now: NIODeadline) {
            ticks.append(now)
            onTick?(self)
        }
    }

    let loop = EmbeddedEventLoop()
    let sweeper: KeepAliveSweeper

    init() {
        sweeper = KeepAliveSweeper(eventLoop: loop)
    }

    @Test func addGivesEachParticipantTheNextSlot() {
        let participants = (0..<3).map { _ in Participant() }
        for participant in participants { sweeper.add(participant) }
        #expect(participants.map(\.keepAliveSlot) == [0, 1, 2])
        #expect(sweeper.count == 3)
    }

    @Test func removeMovesTheLastParticipantIntoTheGap() {
        let (a, b, c) = (Participant(), Participant(), Participant())
        for participant in [a, b, c] { sweeper.add(participant) }
        sweeper.remove(a)
        #expect(a.keepAliveSlot == -1)
        #expect(c.keepAliveSlot == 0 && b.keepAliveSlot == 1)
        #expect(sweeper.count == 2)
        // The last one goes without a swap.
        sweeper.remove(b)
        #expect(b.keepAliveSlot == -1 && c.keepAliveSlot == 0 && sweeper.count == 1)
    }

    @Test func removingTwiceOrAStrangerChangesNothing() {
        let (a, b) = (Participant(), Participant())
        sweeper.add(a)
        sweeper.add(b)
        sweeper.remove(a)
        sweeper.remove(a)
        #expect(sweeper.count == 1 && b.keepAliveSlot == 0)
        // A participant of another sweeper whose slot happens to name a live one here.
        let stranger = Participant()
        stranger.keepAliveSlot = 0
        sweeper.remove(stranger)
        #expect(sweeper.count == 1 && b.keepAliveSlot == 0 && stranger.keepAliveSlot == 0)
    }

    @Test func ticksEveryTickOfVirtualTimeWithTheLoopsNow() {
        let participant = Participant()
        sweeper.add(participant)
        loop.advanceTime(by: KeepAliveSweeper.tick - .nanoseconds(1))
        #expect(participant.ticks.isEmpty)
        loop.advanceTime(by: .nanoseconds(1))
        #expect(participant.ticks == [loop.now])
        loop.advanceTime(by: KeepAliveSweeper.tick * 3)
        #expect(participant.ticks.count == 4)
        #expect(participant.ticks.last == loop.now)
    }

    @Test func aRemovedParticipantIsNoLongerTicked() {
        let (kept, removed) = (Participant(), Participant())
        sweeper.add(kept)
        sweeper.add(removed)
        loop.advanceTime(by: KeepAliveSweeper.tick)
        sweeper.remove(removed)
        loop.advanceTime(by: KeepAliveSweeper.tick * 2)
        #expect(kept.ticks.count == 3)
        #expect(removed.ticks.count == 1)
    }

    @Test func aParticipantThatLeavesDuringATickDoesNotCostAnotherItsTick() {
        let participants = (0..<3).map { _ in Participant() }
        for participant in participants { sweeper.add(participant) }
        // The first closes on its first tick: the last is swapped into its slot mid-sweep.
        participants[0].onTick = { [sweeper] in sweeper.remove($0) }
        loop.advanceTime(by: KeepAliveSweeper.tick)
        #expect(participants.map(\.ticks.count) == [1, 1, 1])
        loop.advanceTime(by: KeepAliveSweeper.tick)
        #expect(participants.map(\.ticks.count) == [1, 2, 2])
        #expect(sweeper.count == 2)
    }

    @Test func aStoppedSweeperTicksNoMoreAndStartsNoTimerAgain() {
        let participant = Participant()
        sweeper.add(participant)
        loop.advanceTime(by: KeepAliveSweeper.tick)
        #expect(participant.ticks.count == 1)
        sweeper.stop()
        loop.advanceTime(by: KeepAliveSweeper.tick * 4)
        #expect(participant.ticks.count == 1)
        // A connection that arrives during shutdown joins, but no timer is scheduled for it.
        let late = Participant()
        sweeper.add(late)
        loop.advanceTime(by: KeepAliveSweeper.tick * 4)
        #expect(late.ticks.isEmpty && participant.ticks.count == 1)
    }

    @Test func sweepersAreFoundByTheirLoop() {
        let other = EmbeddedEventLoop()
        let sweepers = KeepAliveSweepers(eventLoops: [loop, other])
        #expect(sweepers.sweeper(for: loop).eventLoop === loop)
        #expect(sweepers.sweeper(for: other).eventLoop === other)
        #expect(sweepers.sweeper(for: loop) === sweepers.sweeper(for: loop))
    }
}
