import BusCore
import Testing

/// The consensus vote's state machine (open → tallying → decided | expired) with injected time: each rule's
/// early decision, its decision at the deadline or a close, quorum, weights, changeable and one-per-voter
/// ballots.
@Suite struct VoteStateTests {
    let second: UInt64 = 1_000_000_000

    func vote(
        _ rule: VoteRule = .majority, options: [String] = ["yes", "no"], weighted: Bool = false, quorum: Int = 0,
        deadline: UInt64? = nil, changeable: Bool = false
    ) -> VoteState {
        VoteState(
            definition: VoteState.Definition(
                id: "v", session: "s", question: "q?", options: options, rule: rule, weighted: weighted, quorum: quorum,
                deadline: deadline, changeable: changeable, openedBy: "alice", opened: 0))
    }

    func electorate(_ names: [String], weights: [String: Double] = [:], complete: Bool = true) -> VoteElectorate {
        VoteElectorate(
            weights: Dictionary(uniqueKeysWithValues: names.map { ($0, weights[$0] ?? 1) }), complete: complete)
    }

    @Test func phasesGoFromOpenThroughTallyingToDecided() throws {
        var state = vote()
        let five = electorate(["a", "b", "c", "d", "e"])
        #expect(state.phase == .open)
        let effect = try state.cast(voter: "a", option: "yes", weight: 1, now: 1)
        #expect(effect == .counted)
        #expect(state.phase == .tallying)
        var decided: VoteResult? = state.decideIfSettled(five, now: 1)
        #expect(decided == nil)
        _ = try state.cast(voter: "b", option: "yes", weight: 1, now: 2)
        decided = state.decideIfSettled(five, now: 2)
        #expect(decided == nil)
        _ = try state.cast(voter: "c", option: "yes", weight: 1, now: 3)
        // Three of five: more than half of everyone, whatever d and e do.
        decided = state.decideIfSettled(five, now: 3)
        let result = try #require(decided)
        #expect(result == VoteResult(outcome: .reached, option: "yes", reason: .rule, decidedAt: 3))
        #expect(state.phase == .decided)
        #expect(throws: VoteState.CastRefusal.closed) { try state.cast(voter: "d", option: "no", weight: 1, now: 4) }
    }

    @Test func aTieOnceEveryoneVotedIsRejected() throws {
        var state = vote()
        let four = electorate(["a", "b", "c", "d"])
        var decided: VoteResult?
        for (voter, option) in [("a", "yes"), ("b", "no"), ("c", "yes")] {
            _ = try state.cast(voter: voter, option: option, weight: 1, now: 1)
            decided = state.decideIfSettled(four, now: 1)
            #expect(decided == nil)
        }
        _ = try state.cast(voter: "d", option: "no", weight: 1, now: 2)
        decided = state.decideIfSettled(four, now: 2)
        #expect(decided?.outcome == .rejected)
    }

    @Test func oneBallotPerVoterUnlessChangeable() throws {
        var fixed = vote()
        _ = try fixed.cast(voter: "a", option: "yes", weight: 1, now: 1)
        var effect: VoteState.CastEffect = try fixed.cast(voter: "a", option: "yes", weight: 1, now: 2)
        #expect(effect == .unchanged)
        #expect(throws: VoteState.CastRefusal.alreadyVoted) {
            try fixed.cast(voter: "a", option: "no", weight: 1, now: 2)
        }
        #expect(throws: VoteState.CastRefusal.unknownOption("maybe")) {
            try fixed.cast(voter: "b", option: "maybe", weight: 1, now: 2)
        }

        var changeable = vote(changeable: true)
        let two = electorate(["a", "b"])
        _ = try changeable.cast(voter: "a", option: "yes", weight: 1, now: 1)
        _ = try changeable.cast(voter: "b", option: "yes", weight: 1, now: 1)
        // A ballot may still move: only the deadline or a close decides a changeable vote.
        var decided: VoteResult? = changeable.decideIfSettled(two, now: 1)
        #expect(decided == nil)
        effect = try changeable.cast(voter: "a", option: "no", weight: 1, now: 2)
        #expect(effect == .changed(from: "yes"))
        #expect(changeable.counts.map(\.votes) == [1, 1])
        decided = changeable.close(reason: .closed, now: 3)
        #expect(decided?.outcome == .rejected)
    }

    @Test func supermajorityNeedsItsThresholdOfTheWeight() throws {
        var state = vote(.supermajority(threshold: 2.0 / 3.0))
        let three = electorate(["a", "b", "c"])
        _ = try state.cast(voter: "a", option: "yes", weight: 1, now: 1)
        var decided: VoteResult? = state.decideIfSettled(three, now: 1)
        #expect(decided == nil)
        _ = try state.cast(voter: "b", option: "yes", weight: 1, now: 1)
        decided = state.decideIfSettled(three, now: 1)
        #expect(decided?.option == "yes")

        var short = vote(.supermajority(threshold: 0.75))
        _ = try short.cast(voter: "a", option: "yes", weight: 1, now: 1)
        _ = try short.cast(voter: "b", option: "yes", weight: 1, now: 1)
        _ = try short.cast(voter: "c", option: "no", weight: 1, now: 1)
        decided = short.decideIfSettled(three, now: 1)
        #expect(decided?.outcome == .rejected)
    }

    @Test func unanimityFailsAtTheFirstDifferentBallot() throws {
        var state = vote(.unanimity)
        let three = electorate(["a", "b", "c"])
        _ = try state.cast(voter: "a", option: "yes", weight: 1, now: 1)
        _ = try state.cast(voter: "b", option: "yes", weight: 1, now: 1)
        var decided: VoteResult? = state.decideIfSettled(three, now: 1)
        #expect(decided == nil)
        _ = try state.cast(voter: "c", option: "yes", weight: 1, now: 2)
        decided = state.decideIfSettled(three, now: 2)
        #expect(decided?.outcome == .reached)

        var split = vote(.unanimity)
        _ = try split.cast(voter: "a", option: "yes", weight: 1, now: 1)
        _ = try split.cast(voter: "b", option: "no", weight: 1, now: 1)
        decided = split.decideIfSettled(three, now: 1)
        #expect(decided?.outcome == .rejected)
    }

    @Test func weightedBallotsCountTheirParticipantsWeight() throws {
        var state = vote(weighted: true)
        let board = electorate(["chair", "a", "b", "c"], weights: ["chair": 3])
        // chair 3 of 6: not more than half.
        _ = try state.cast(voter: "chair", option: "yes", weight: 3, now: 1)
        var decided: VoteResult? = state.decideIfSettled(board, now: 1)
        #expect(decided == nil)
        _ = try state.cast(voter: "a", option: "yes", weight: 1, now: 1)
        decided = state.decideIfSettled(board, now: 1)
        #expect(decided?.option == "yes")
        #expect(state.counts.first?.weight == 4)
    }

    @Test func theDeadlineDecidesOnTheBallotsCastAndQuorum() throws {
        var state = vote(quorum: 2, deadline: 10 * second)
        let many = electorate((0..<10).map { "v\($0)" })
        _ = try state.cast(voter: "v0", option: "no", weight: 1, now: 1)
        var decided: VoteResult? = state.expireIfDue(now: 9 * second)
        #expect(decided == nil)
        decided = state.expireIfDue(now: 11 * second)
        let result = try #require(decided)
        #expect(result == VoteResult(outcome: .noQuorum, option: nil, reason: .deadline, decidedAt: 10 * second))
        #expect(state.phase == .expired)

        var quorate = vote(quorum: 2, deadline: 10 * second)
        _ = try quorate.cast(voter: "v0", option: "no", weight: 1, now: 1)
        _ = try quorate.cast(voter: "v1", option: "no", weight: 1, now: 1)
        decided = quorate.decideIfSettled(many, now: 1)
        #expect(decided == nil)
        #expect(throws: VoteState.CastRefusal.closed) {
            try quorate.cast(voter: "v2", option: "yes", weight: 1, now: 10 * second)
        }
        decided = quorate.expireIfDue(now: 10 * second)
        #expect(decided?.option == "no")
    }

    @Test func anOpenElectorateIsDecidedOnlyByTheDeadlineOrAClose() throws {
        var state = vote()
        let roles = electorate(["a", "b"], complete: false)
        _ = try state.cast(voter: "a", option: "yes", weight: 1, now: 1)
        _ = try state.cast(voter: "b", option: "yes", weight: 1, now: 1)
        var decided: VoteResult? = state.decideIfSettled(roles, now: 1)
        #expect(decided == nil)
        decided = state.close(reason: .closed, now: 2)
        #expect(decided == VoteResult(outcome: .reached, option: "yes", reason: .closed, decidedAt: 2))
    }

    @Test func anUnstoredBallotIsTakenBack() throws {
        var state = vote()
        let one = electorate(["a"])
        _ = try state.cast(voter: "a", option: "yes", weight: 1, now: 1)
        let decided = state.decideIfSettled(one, now: 1)
        #expect(decided != nil)
        state.undo(voter: "a", previous: nil, decided: true)
        #expect(state.phase == .open)
        #expect(state.ballots.isEmpty)
    }
}
