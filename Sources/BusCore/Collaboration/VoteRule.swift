/// How a consensus vote is decided (issue 21, docs/collaboration.md).
package enum VoteRule: Sendable, Hashable {
    /// An option backed by more than half of the weight.
    case majority
    /// An option backed by at least `threshold` (0.5 < threshold ≤ 1) of the weight.
    case supermajority(threshold: Double)
    /// Every ballot for the same option.
    case unanimity

    /// The rule's JSON name (`majority`, `supermajority`, `unanimity`).
    package var name: String {
        switch self {
        case .majority: "majority"
        case .supermajority: "supermajority"
        case .unanimity: "unanimity"
        }
    }

    /// Whether `support` out of `base` satisfies the rule (unanimity is judged on ballots, not here).
    func satisfied(support: Double, base: Double) -> Bool {
        guard base > 0 else { return false }
        switch self {
        case .majority: return support * 2 > base
        case .supermajority(let threshold): return support >= threshold * base - 1e-9
        case .unanimity: return support >= base - 1e-9
        }
    }
}

/// What ended a vote.
package enum VoteOutcome: String, Sendable, Hashable {
    /// An option won under the rule.
    case reached
    /// Enough ballots, and no option won.
    case rejected
    /// Fewer ballots than the quorum when the vote ended.
    case noQuorum = "no_quorum"
}

/// Why a vote ended when it did.
package enum VoteDecisionReason: String, Sendable, Hashable {
    /// The ballots already cast decide it whatever the rest would do.
    case rule
    /// Its deadline passed.
    case deadline
    /// Its session's owner (or an admin) closed it, or closed the session.
    case closed
}

/// A vote's result.
package struct VoteResult: Sendable, Hashable {
    package var outcome: VoteOutcome
    /// The winning option (`reached` only).
    package var option: String?
    package var reason: VoteDecisionReason
    /// Nanoseconds since 1970.
    package var decidedAt: UInt64

    package init(outcome: VoteOutcome, option: String?, reason: VoteDecisionReason, decidedAt: UInt64) {
        self.outcome = outcome
        self.option = option
        self.reason = reason
        self.decidedAt = decidedAt
    }
}

/// Who may vote, as far as the vote can know it: the session's named participants and their weights.
/// When the session also admits roles, voters outside the list may turn up, so the electorate is not
/// `complete` and only the deadline or a close can decide.
package struct VoteElectorate: Sendable, Hashable {
    package let weights: [String: Double]
    package let complete: Bool
    /// The weights' sum (kept: a vote asks for it on every ballot).
    package let totalWeight: Double

    package init(weights: [String: Double], complete: Bool) {
        self.weights = weights
        self.complete = complete
        self.totalWeight = weights.values.reduce(0, +)
    }
}
