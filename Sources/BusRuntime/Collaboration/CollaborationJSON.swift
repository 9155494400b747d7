package import BusCore
import Storage

/// How sessions, votes and ballots look: to clients (the API, events; times as ISO 8601) and in the store
/// (record rows of reserved collections, times in nanoseconds).
package enum CollaborationJSON {
    static func object(_ members: [(String, JSONValue)]) -> JSONValue {
        .object(members.map { JSONField(key: $0.0, value: $0.1) })
    }

    static func number(_ value: Double) -> JSONValue {
        if value.rounded() == value, abs(value) < 9e15 { return .number(String(Int64(value))) }
        return .number(String(value))
    }

    static func number(_ value: Int) -> JSONValue { .number(String(value)) }

    static func time(_ nanoseconds: UInt64?) -> JSONValue {
        guard let nanoseconds else { return .null }
        return .string(ISO8601.format(secondsSince1970: Double(nanoseconds) / 1e9))
    }

    static func text(_ value: String?) -> JSONValue { value.map(JSONValue.string) ?? .null }

    static func encoded(_ value: JSONValue) -> String { JSONValue.encode(value) }

    // MARK: - To clients

    package static func session(_ session: CollaborationSession, online: [String]? = nil, votes: [VoteState]? = nil)
        -> JSONValue
    {
        var members: [(String, JSONValue)] = [
            ("id", .string(session.id)), ("title", .string(session.title)), ("owner", .string(session.owner)),
            (
                "participants",
                .array(
                    session.participants.sorted { $0.key < $1.key }.map {
                        object([("user", .string($0.key)), ("weight", number($0.value))])
                    })
            ),
            ("roles", .array(session.roles.map(JSONValue.string))), ("state", .string(session.state.rawValue)),
            ("created", time(session.created)), ("closed", time(session.closed)),
        ]
        if let online { members.append(("online", .array(online.map(JSONValue.string)))) }
        if let votes { members.append(("votes", .array(votes.map { vote($0) }))) }
        return object(members)
    }

    /// A vote as the API shows it; `voters` lists who chose what unless the vote is anonymous or
    /// `withVoters` is false (the events on the vote's channel: a tally to 1,000 subscribers stays small,
    /// and the activity feed names each voter once).
    package static func vote(_ state: VoteState, withVoters: Bool = true) -> JSONValue {
        let definition = state.definition
        var members: [(String, JSONValue)] = [
            ("id", .string(definition.id)), ("session", .string(definition.session)),
            ("question", .string(definition.question)), ("options", .array(definition.options.map(JSONValue.string))),
            ("rule", .string(definition.rule.name)),
        ]
        if case .supermajority(let threshold) = definition.rule { members.append(("threshold", number(threshold))) }
        members += [
            ("weighted", .bool(definition.weighted)), ("quorum", number(definition.quorum)),
            ("deadline", time(definition.deadline)), ("changeable", .bool(definition.changeable)),
            ("anonymous", .bool(definition.anonymous)), ("opened_by", .string(definition.openedBy)),
            ("opened", time(definition.opened)), ("state", .string(state.phase.rawValue)),
            ("ballots", number(state.ballots.count)),
            (
                "tally",
                .array(
                    state.counts.map {
                        object([
                            ("option", .string($0.option)), ("votes", number($0.votes)), ("weight", number($0.weight)),
                        ])
                    })
            ),
        ]
        if withVoters && !definition.anonymous {
            members.append(
                (
                    "voters",
                    .array(
                        state.ballots.values.sorted { $0.at < $1.at || ($0.at == $1.at && $0.voter < $1.voter) }.map {
                            object([("user", .string($0.voter)), ("option", .string($0.option))])
                        })
                ))
        }
        members.append(("result", state.result.map(result) ?? .null))
        return object(members)
    }

    static func result(_ result: VoteResult) -> JSONValue {
        object([
            ("outcome", .string(result.outcome.rawValue)), ("option", text(result.option)),
            ("reason", .string(result.reason.rawValue)), ("decided_at", time(result.decidedAt)),
        ])
    }

    // MARK: - The store

    static let sessions = "$collab.sessions"
    static let votes = "$collab.votes"
    static let ballots = "$collab.ballots"

    static func stored(_ session: CollaborationSession) -> StoredRecord {
        let fields = object([
            ("title", .string(session.title)), ("owner", .string(session.owner)),
            (
                "participants",
                object(session.participants.sorted { $0.key < $1.key }.map { ($0.key, number($0.value)) })
            ),
            ("roles", .array(session.roles.map(JSONValue.string))), ("state", .string(session.state.rawValue)),
            ("closed", session.closed.map { .number(String($0)) } ?? .null),
        ])
        return StoredRecord(
            collection: sessions, id: session.id, version: 1, created: session.created, updated: session.created,
            fields: encoded(fields))
    }

    static func restoreSession(_ row: StoredRecord) -> CollaborationSession? {
        guard let fields = try? JSONValue.parse(row.fields), let title = fields["title"]?.stringValue,
            let owner = fields["owner"]?.stringValue, let stateName = fields["state"]?.stringValue,
            let state = CollaborationSession.State(rawValue: stateName)
        else { return nil }
        var participants: [String: Double] = [:]
        if case .object(let members)? = fields["participants"] {
            for member in members { participants[member.key] = member.value.doubleValue ?? 1 }
        }
        return CollaborationSession(
            id: row.id, title: title, owner: owner, participants: participants,
            roles: fields["roles"]?.arrayValue?.compactMap(\.stringValue) ?? [], state: state, created: row.created,
            closed: fields["closed"]?.uint64Value)
    }

    static func stored(_ vote: VoteState) -> StoredRecord {
        let definition = vote.definition
        var threshold: JSONValue = .null
        if case .supermajority(let value) = definition.rule { threshold = number(value) }
        let result: JSONValue =
            vote.result.map {
                object([
                    ("outcome", .string($0.outcome.rawValue)), ("option", text($0.option)),
                    ("reason", .string($0.reason.rawValue)), ("decided_at", .number(String($0.decidedAt))),
                ])
            } ?? .null
        let fields = object([
            ("session", .string(definition.session)), ("question", .string(definition.question)),
            ("options", .array(definition.options.map(JSONValue.string))), ("rule", .string(definition.rule.name)),
            ("threshold", threshold), ("weighted", .bool(definition.weighted)), ("quorum", number(definition.quorum)),
            ("deadline", definition.deadline.map { .number(String($0)) } ?? .null),
            ("changeable", .bool(definition.changeable)), ("anonymous", .bool(definition.anonymous)),
            ("opened_by", .string(definition.openedBy)), ("result", result),
        ])
        return StoredRecord(
            collection: votes, id: definition.id, version: 1, created: definition.opened, updated: definition.opened,
            fields: encoded(fields))
    }

    static func restoreVote(_ row: StoredRecord, ballots: [VoteState.Ballot]) -> VoteState? {
        guard let fields = try? JSONValue.parse(row.fields), let session = fields["session"]?.stringValue,
            let question = fields["question"]?.stringValue,
            let options = fields["options"]?.arrayValue?.compactMap(\.stringValue),
            let rule = try? rule(fields["rule"]?.stringValue, threshold: fields["threshold"]?.doubleValue)
        else { return nil }
        var result: VoteResult?
        if case .object = fields["result"],
            let outcome = fields["result"]?["outcome"]?.stringValue.flatMap(VoteOutcome.init),
            let reason = fields["result"]?["reason"]?.stringValue.flatMap(VoteDecisionReason.init),
            let decidedAt = fields["result"]?["decided_at"]?.uint64Value
        {
            result = VoteResult(
                outcome: outcome, option: fields["result"]?["option"]?.stringValue, reason: reason, decidedAt: decidedAt
            )
        }
        let definition = VoteState.Definition(
            id: row.id, session: session, question: question, options: options, rule: rule,
            weighted: fields["weighted"] == .bool(true), quorum: fields["quorum"]?.intValue ?? 0,
            deadline: fields["deadline"]?.uint64Value, changeable: fields["changeable"] == .bool(true),
            anonymous: fields["anonymous"] == .bool(true), openedBy: fields["opened_by"]?.stringValue ?? "",
            opened: row.created)
        return VoteState(definition: definition, ballots: ballots, result: result)
    }

    static func stored(_ ballot: VoteState.Ballot, vote: String) -> StoredRecord {
        let fields = object([
            ("vote", .string(vote)), ("voter", .string(ballot.voter)), ("option", .string(ballot.option)),
            ("weight", number(ballot.weight)),
        ])
        return StoredRecord(
            collection: ballots, id: ballotID(vote: vote, voter: ballot.voter), version: 1, created: ballot.at,
            updated: ballot.at, fields: encoded(fields))
    }

    static func ballotID(vote: String, voter: String) -> String { vote + "/" + voter }

    static func restoreBallot(_ row: StoredRecord) -> (vote: String, ballot: VoteState.Ballot)? {
        guard let fields = try? JSONValue.parse(row.fields), let vote = fields["vote"]?.stringValue,
            let voter = fields["voter"]?.stringValue, let option = fields["option"]?.stringValue
        else { return nil }
        return (
            vote,
            VoteState.Ballot(voter: voter, option: option, weight: fields["weight"]?.doubleValue ?? 1, at: row.created)
        )
    }

    /// A rule from its JSON name (and threshold).
    static func rule(_ name: String?, threshold: Double?) throws(CollaborationError) -> VoteRule {
        switch name ?? "majority" {
        case "majority": return .majority
        case "unanimity": return .unanimity
        case "supermajority":
            let value = threshold ?? 2.0 / 3.0
            guard value > 0.5, value <= 1 else {
                throw .bad("\"threshold\" must be more than 0.5 and at most 1")
            }
            return .supermajority(threshold: value)
        default:
            throw .bad("\"rule\" must be majority, supermajority or unanimity")
        }
    }
}

extension JSONValue {
    var doubleValue: Double? {
        guard case .number(let text) = self else { return nil }
        return Double(text)
    }
}
