import BusCore

extension CollaborationService {
    /// One event for a session's channels: the topic and its JSON body.
    struct Event: Sendable {
        var topic: Topic
        var body: JSONValue

        /// On `sessions/<id>/state`: `{"type":"created|updated|closed","session":{…},"by":…,"at":…}`.
        static func state(_ session: CollaborationSession, _ type: String, _ caller: CollaborationCaller, _ at: UInt64)
            -> Event
        {
            Event(
                topic: CollaborationService.topic(session.id, "state")!,
                body: CollaborationJSON.object([
                    ("type", .string(type)), ("session", CollaborationJSON.session(session)),
                    ("by", .string(caller.actor)), ("at", CollaborationJSON.time(at)),
                ]))
        }

        /// On `sessions/<id>/activity`: `{"type":…,"actor":…,"at":…,…}` (actor null where the vote is
        /// anonymous).
        static func activity(
            _ session: String, _ type: String, actor: String?, at: UInt64, _ details: [(String, JSONValue)]
        ) -> Event {
            Event(
                topic: CollaborationService.topic(session, "activity")!,
                body: CollaborationJSON.object(
                    [
                        ("type", .string(type)), ("actor", CollaborationJSON.text(actor)),
                        ("at", CollaborationJSON.time(at)),
                    ]
                        + details))
        }

        /// On `sessions/<id>/votes/<vote>`: `{"type":"opened|tally|result","vote":{…}}`.
        static func vote(_ vote: VoteState, _ type: String) -> Event {
            Event(
                topic: CollaborationService.topic(vote.definition.session, "votes/" + vote.definition.id)!,
                body: CollaborationJSON.object([
                    ("type", .string(type)), ("vote", CollaborationJSON.vote(vote, withVoters: false)),
                ]))
        }

        /// A decided vote: its result on the vote's channel, and `vote_decided` in the activity feed.
        static func decided(_ vote: VoteState, _ result: VoteResult) -> [Event] {
            [
                Event.vote(vote, "result"),
                Event.activity(
                    vote.definition.session, "vote_decided", actor: nil, at: result.decidedAt,
                    [
                        ("vote", .string(vote.definition.id)), ("outcome", .string(result.outcome.rawValue)),
                        ("option", CollaborationJSON.text(result.option)), ("reason", .string(result.reason.rawValue)),
                    ]),
            ]
        }
    }
}
