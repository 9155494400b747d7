/// One consensus vote's definition and ballots, and the state machine that decides it
/// (open → tallying → decided | expired). Pure: time comes in as arguments (nanoseconds since 1970).
package struct VoteState: Sendable, Hashable {
    package struct Definition: Sendable, Hashable {
        package var id: String
        package var session: String
        package var question: String
        package var options: [String]
        package var rule: VoteRule
        /// Ballots count with their voter's participant weight (else one each).
        package var weighted: Bool
        /// Fewest ballots for a result other than `no_quorum`.
        package var quorum: Int
        /// When the vote ends by itself; nil: when the rule decides it or it is closed.
        package var deadline: UInt64?
        /// Whether a voter may change their ballot while the vote is open (then only the deadline or a
        /// close decides it: a ballot counted now may move later).
        package var changeable: Bool
        /// Tallies, results and the activity feed name no voter.
        package var anonymous: Bool
        package var openedBy: String
        package var opened: UInt64

        package init(
            id: String, session: String, question: String, options: [String], rule: VoteRule = .majority,
            weighted: Bool = false, quorum: Int = 0, deadline: UInt64? = nil, changeable: Bool = false,
            anonymous: Bool = false, openedBy: String, opened: UInt64
        ) {
            self.id = id
            self.session = session
            self.question = question
            self.options = options
            self.rule = rule
            self.weighted = weighted
            self.quorum = quorum
            self.deadline = deadline
            self.changeable = changeable
            self.anonymous = anonymous
            self.openedBy = openedBy
            self.opened = opened
        }
    }

    package struct Ballot: Sendable, Hashable {
        package var voter: String
        package var option: String
        package var weight: Double
        package var at: UInt64
        package init(voter: String, option: String, weight: Double, at: UInt64) {
            self.voter = voter
            self.option = option
            self.weight = weight
            self.at = at
        }
    }

    package enum Phase: String, Sendable, Hashable {
        /// No ballot yet.
        case open
        /// Ballots are being counted.
        case tallying
        /// The rule decided it, or it was closed.
        case decided
        /// Its deadline passed.
        case expired
    }

    /// Why a ballot was not taken.
    package enum CastRefusal: Error, Sendable, Hashable {
        case closed
        case unknownOption(String)
        case alreadyVoted
    }

    /// What a taken ballot did.
    package enum CastEffect: Sendable, Hashable {
        case counted
        case changed(from: String)
        /// The same option again: nothing changes.
        case unchanged
    }

    package let definition: Definition
    package private(set) var ballots: [String: Ballot] = [:]
    package private(set) var result: VoteResult?
    /// Running ballots and weight per option (kept with `ballots`, so a tally costs the options, not the
    /// ballots).
    private var totals: [String: Total] = [:]

    struct Total: Sendable, Hashable {
        var votes = 0
        var weight = 0.0
    }

    package init(definition: Definition, ballots: [Ballot] = [], result: VoteResult? = nil) {
        self.definition = definition
        for ballot in ballots { place(ballot) }
        self.result = result
    }

    /// Puts `ballot` in (replacing the voter's previous one) and keeps the totals.
    private mutating func place(_ ballot: Ballot?, voter: String? = nil) {
        let voter = ballot?.voter ?? voter!
        if let previous = ballots[voter] {
            totals[previous.option, default: Total()].votes -= 1
            totals[previous.option, default: Total()].weight -= previous.weight
        }
        ballots[voter] = ballot
        if let ballot {
            totals[ballot.option, default: Total()].votes += 1
            totals[ballot.option, default: Total()].weight += ballot.weight
        }
    }

    package var phase: Phase {
        guard let result else { return ballots.isEmpty ? .open : .tallying }
        return result.reason == .deadline ? .expired : .decided
    }

    package var isOpen: Bool { result == nil }

    /// Per option (in the definition's order): ballots and their weight.
    package var counts: [(option: String, votes: Int, weight: Double)] {
        definition.options.map { option in
            let total = totals[option] ?? Total()
            return (option, total.votes, total.weight)
        }
    }

    /// Takes `voter`'s ballot (with `weight`, used when the vote is weighted).
    package mutating func cast(voter: String, option: String, weight: Double, now: UInt64) throws(CastRefusal)
        -> CastEffect
    {
        guard result == nil else { throw .closed }
        if let deadline = definition.deadline, now >= deadline { throw .closed }
        guard definition.options.contains(option) else { throw .unknownOption(option) }
        let counted = definition.weighted ? max(0, weight) : 1
        if let previous = ballots[voter] {
            if previous.option == option { return .unchanged }
            guard definition.changeable else { throw .alreadyVoted }
            place(Ballot(voter: voter, option: option, weight: counted, at: now))
            return .changed(from: previous.option)
        }
        place(Ballot(voter: voter, option: option, weight: counted, at: now))
        return .counted
    }

    /// Decides the vote if the ballots cast already settle it under the rule, whatever the voters who
    /// have not voted do: an option backed by enough of the whole electorate's weight wins; once everyone
    /// voted (or, for unanimity, two ballots differ) nothing can change. A changeable vote is decided only
    /// by its deadline or a close.
    @discardableResult
    package mutating func decideIfSettled(_ electorate: VoteElectorate, now: UInt64) -> VoteResult? {
        guard result == nil, !definition.changeable, ballots.count >= definition.quorum else { return nil }
        let counts = self.counts
        let electorateWeight = definition.weighted ? electorate.totalWeight : Double(electorate.weights.count)
        // Counting who has not voted only once the ballots could cover everyone.
        let everyoneVoted =
            electorate.complete && ballots.count >= electorate.weights.count
            && electorate.weights.keys.allSatisfy { ballots[$0] != nil }
        if case .unanimity = definition.rule {
            if counts.count(where: { $0.votes > 0 }) > 1 {
                return decide(.rejected, nil, .rule, now)
            }
            guard everyoneVoted, let option = ballots.values.first?.option else { return nil }
            return decide(.reached, option, .rule, now)
        }
        if electorate.complete,
            let winner = counts.first(where: { definition.rule.satisfied(support: $0.weight, base: electorateWeight) })
        {
            return decide(.reached, winner.option, .rule, now)
        }
        guard everyoneVoted else { return nil }
        return close(reason: .rule, now: now)
    }

    /// Ends the vote on the ballots cast: the deadline passed, or it was closed.
    @discardableResult
    package mutating func close(reason: VoteDecisionReason, now: UInt64) -> VoteResult {
        if let result { return result }
        guard ballots.count >= definition.quorum, !ballots.isEmpty else {
            return decide(.noQuorum, nil, reason, now)
        }
        if case .unanimity = definition.rule {
            let options = Set(ballots.values.map(\.option))
            return options.count == 1
                ? decide(.reached, options.first, reason, now) : decide(.rejected, nil, reason, now)
        }
        let counts = self.counts
        let cast = counts.reduce(0.0) { $0 + $1.weight }
        if let winner = counts.first(where: { definition.rule.satisfied(support: $0.weight, base: cast) }) {
            return decide(.reached, winner.option, reason, now)
        }
        return decide(.rejected, nil, reason, now)
    }

    /// Ends it as the deadline says, when `now` is past it.
    @discardableResult
    package mutating func expireIfDue(now: UInt64) -> VoteResult? {
        guard result == nil, let deadline = definition.deadline, now >= deadline else { return nil }
        return close(reason: .deadline, now: deadline)
    }

    private mutating func decide(_ outcome: VoteOutcome, _ option: String?, _ reason: VoteDecisionReason, _ now: UInt64)
        -> VoteResult
    {
        let decided = VoteResult(outcome: outcome, option: option, reason: reason, decidedAt: now)
        result = decided
        return decided
    }
}

extension VoteState {
    /// Takes back a ballot the store could not keep: `previous` is what the voter had before (nil: none),
    /// and a result the ballot decided goes with it.
    package mutating func undo(voter: String, previous: Ballot?, decided: Bool) {
        place(previous, voter: voter)
        if decided { result = nil }
    }

    /// Takes back a result the store could not keep.
    package mutating func reopen() { result = nil }
}
