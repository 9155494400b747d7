package import BusCore
import NIOConcurrencyHelpers
package import NIOCore
package import Storage

/// Collaboration sessions and consensus votes (issue 21, docs/collaboration.md). Sessions, votes and
/// ballots are kept in the store (as rows of reserved record collections, so both stores and
/// `migrate-store` carry them with no schema of their own) and in memory; every change is answered, and
/// its events published, once it is durable.
///
/// Events go to each session's channels — `sessions/<id>/state`, `sessions/<id>/activity` and
/// `sessions/<id>/votes/<vote>` — from the session's home loop, in commit order. Tallies are coalesced:
/// a burst of ballots sends one tally per `tallyInterval`. Votes are cast through the API, an RPC on
/// `$sessions/cast`, or a publish to `sessions/<id>/votes/<vote>/cast` from any protocol
/// (`CollaborationListener`).
///
/// Locks (docs/concurrency.md): `core` only; store submissions are made under it (so the store sees changes
/// in the order they were decided), and their completions only hop to a loop.
package final class CollaborationService: @unchecked Sendable {
    struct Core {
        var sessions: [String: CollaborationSession] = [:]
        var votes: [String: VoteState] = [:]
        /// Votes with a tally due on their topic (one per `tallyInterval`).
        var talliesDue: Set<String> = []
        /// Each session's electorate, made on its first ballot and forgotten when the session changes.
        var electorates: [String: VoteElectorate] = [:]
    }

    let core = NIOLockedValueBox(Core())
    let bus: Bus
    let store: (any Store)?
    let tallyInterval: TimeAmount
    /// Most sessions kept (open and closed).
    let maxSessions: Int
    /// Most votes per session.
    let maxVotesPerSession = 1_000
    /// Who published a message, by its publisher id (the connection registry knows; nil: nobody signed in).
    let identify: @Sendable (String) -> CollaborationCaller?
    /// Who takes part in which session, for every protocol's permission checks (kept in step with `core`).
    let directory: SessionDirectory
    private let listenerBox = NIOLockedValueBox<CollaborationListener?>(nil)

    package init(
        bus: Bus, store: (any Store)?, directory: SessionDirectory = SessionDirectory(),
        tallyInterval: TimeAmount = .milliseconds(20), maxSessions: Int = 100_000,
        identify: @escaping @Sendable (String) -> CollaborationCaller?
    ) {
        self.bus = bus
        self.directory = directory
        self.store = store
        self.tallyInterval = tallyInterval
        self.maxSessions = maxSessions
        self.identify = identify
    }

    // MARK: - The channels' settings

    /// History the sessions' channels keep (after the config file's own rules, which win): the message
    /// stream and the activity feed 1,000 each, a session's state and each vote's newest tally as a current
    /// value; durable when the server has a store.
    package static func historyRules(durable: Bool) -> [HistoryPolicy.Rule] {
        [
            ("sessions/+/messages", 1_000), ("sessions/+/activity", 1_000), ("sessions/+/state", 1),
            ("sessions/+/votes/+", 1),
        ].map {
            HistoryPolicy.Rule(filter: try! TopicFilter($0.0), limits: HistoryLimits(count: $0.1, durable: durable))
        }
    }

    /// Presence on a session is presence on its message stream.
    package static let presenceFilters = [try! TopicFilter("sessions/+/messages")]

    /// Whether a stored record row belongs to the collaboration service (not to a record collection).
    package static func isCollaborationRow(_ collection: String) -> Bool { collection.hasPrefix("$collab.") }

    static func topic(_ session: String, _ rest: String) -> Topic? { try? Topic("sessions/\(session)/\(rest)") }

    /// The loop a session's changes are published from (one per session, so its events keep commit order).
    func homeLoop(_ session: String) -> any EventLoop { bus.homeLoop(for: session) }

    // MARK: - Starting and stopping

    /// Restores what the store kept (before the server accepts connections): sessions, votes with their
    /// ballots. Returns what it restored and how many rows it could not read.
    package func restore(_ rows: [StoredRecord]) -> (sessions: Int, votes: Int, skipped: Int) {
        var sessions: [String: CollaborationSession] = [:]
        var voteRows: [StoredRecord] = []
        var ballots: [String: [VoteState.Ballot]] = [:]
        var skipped = 0
        for row in rows {
            switch row.collection {
            case CollaborationJSON.sessions:
                if let session = CollaborationJSON.restoreSession(row) {
                    sessions[session.id] = session
                } else {
                    skipped += 1
                }
            case CollaborationJSON.votes: voteRows.append(row)
            case CollaborationJSON.ballots:
                if let (vote, ballot) = CollaborationJSON.restoreBallot(row) {
                    ballots[vote, default: []].append(ballot)
                } else {
                    skipped += 1
                }
            default: continue
            }
        }
        var votes: [String: VoteState] = [:]
        for row in voteRows {
            guard let vote = CollaborationJSON.restoreVote(row, ballots: ballots[row.id] ?? []),
                sessions[vote.definition.session] != nil
            else {
                skipped += 1
                continue
            }
            votes[vote.definition.id] = vote
        }
        core.withLockedValue {
            $0.sessions = sessions
            $0.votes = votes
        }
        for session in sessions.values { directory.update(session) }
        // The stores keep a record row only under a collection row: the reserved collections are declared
        // before any write of ours (the store applies batches in order).
        store?.submit(
            [CollaborationJSON.sessions, CollaborationJSON.votes, CollaborationJSON.ballots].map {
                .saveCollection(StoredCollection(name: $0, definition: "{\"reserved\":\"collaboration\"}"))
            })
        return (sessions.count, votes.count, skipped)
    }

    /// Subscribes to the cast, message and RPC channels, and schedules the open votes' deadlines (a
    /// deadline that passed while the server was down decides its vote now). Call once the bus runs.
    package func start() {
        let listener = CollaborationListener(service: self, loop: bus.shards[0].eventLoop)
        listenerBox.withLockedValue { $0 = listener }
        listener.start()
        let open = core.withLockedValue { core in core.votes.values.filter(\.isOpen).map(\.definition) }
        for definition in open { scheduleDeadline(definition) }
    }

    // MARK: - Reading

    package func list(_ caller: CollaborationCaller) -> [CollaborationSession] {
        core.withLockedValue { core in core.sessions.values.filter { caller.takesPart(in: $0) } }
            .sorted { ($0.created, $0.id) < ($1.created, $1.id) }
    }

    package func session(_ id: String, _ caller: CollaborationCaller) throws(CollaborationError) -> (
        CollaborationSession, [VoteState]
    ) {
        let found = core.withLockedValue { core -> (CollaborationSession, [VoteState])? in
            guard let session = core.sessions[id] else { return nil }
            let votes = core.votes.values.filter { $0.definition.session == id }
            return (
                session,
                votes.sorted { ($0.definition.opened, $0.definition.id) < ($1.definition.opened, $1.definition.id) }
            )
        }
        guard let found else { throw .sessionNotFound }
        guard caller.takesPart(in: found.0) else {
            throw CollaborationError(.forbidden, "you do not take part in this session")
        }
        return found
    }

    /// The users online in a session now (presence on its message stream, on any protocol).
    package func online(_ id: String) -> [String] {
        guard let topic = Self.topic(id, "messages") else { return [] }
        return Array(Set(bus.presence.clients(of: topic).compactMap(\.userID))).sorted()
    }

    package func vote(_ session: String, _ vote: String, _ caller: CollaborationCaller) throws(CollaborationError)
        -> VoteState
    {
        let (_, votes) = try self.session(session, caller)
        guard let found = votes.first(where: { $0.definition.id == vote }) else { throw .voteNotFound }
        return found
    }

    // MARK: - Sessions

    /// Creates a session from `body` (`id`, `title`, `participants`, `roles`; `owner` for admins).
    package func createSession(
        _ body: JSONValue, caller: CollaborationCaller,
        completion: @escaping @Sendable (Result<CollaborationSession, CollaborationError>) -> Void
    ) {
        let now = bus.clock()
        let session: CollaborationSession
        do throws(CollaborationError) {
            guard case .object = body else { throw .bad("the body must be a JSON object") }
            var owner = caller.user
            if let given = body["owner"] {
                guard caller.isAdmin, let name = given.stringValue, !name.isEmpty else {
                    throw CollaborationError(.forbidden, "only an admin names another owner")
                }
                owner = name
            }
            guard let owner else {
                throw CollaborationError(
                    .unauthorized, "sign in as a user (or give \"owner\" as an admin) to create a session")
            }
            let id =
                try body["id"].map { value throws(CollaborationError) in
                    guard let id = value.stringValue, CollaborationSession.isValidID(id) else {
                        throw .bad("\"id\" must be 1 to 64 letters, digits, _ or -")
                    }
                    return id
                } ?? RecordCollections.randomID()
            session = CollaborationSession(
                id: id, title: try Self.string(body["title"], "title") ?? "", owner: owner,
                participants: try Self.participants(body["participants"]) ?? [:],
                roles: try Self.strings(body["roles"], "roles") ?? [],
                created: now)
        } catch {
            return completion(.failure(error))
        }
        let refusal: CollaborationError? = core.withLockedValue { core in
            guard core.sessions[session.id] == nil else {
                return CollaborationError(.conflict, "a session with id \"\(session.id)\" exists")
            }
            guard core.sessions.count < maxSessions else {
                return CollaborationError(.unavailable, "the server keeps at most \(maxSessions) sessions")
            }
            core.sessions[session.id] = session
            directory.update(session)
            let events = [
                Event.state(session, "created", caller, now),
                Event.activity(
                    session.id, "session_created", actor: caller.actor, at: now, [("title", .string(session.title))]),
            ]
            commit(session.id, [.saveRecord(CollaborationJSON.stored(session))], events) { error in
                if let error {
                    self.core.withLockedValue { _ = $0.sessions.removeValue(forKey: session.id) }
                    self.directory.remove(session.id)
                    return completion(.failure(error))
                }
                completion(.success(session))
            }
            return nil
        }
        if let refusal { completion(.failure(refusal)) }
    }

    /// Changes a session's title, participants or roles (its owner or an admin).
    package func updateSession(
        _ id: String, _ body: JSONValue, caller: CollaborationCaller,
        completion: @escaping @Sendable (Result<CollaborationSession, CollaborationError>) -> Void
    ) {
        let now = bus.clock()
        let refusal: CollaborationError? = core.withLockedValue { core in
            do throws(CollaborationError) {
                guard var session = core.sessions[id] else { throw .sessionNotFound }
                guard caller.owns(session) else {
                    throw CollaborationError(.forbidden, "only the session's owner or an admin changes it")
                }
                guard session.state == .open else { throw CollaborationError(.conflict, "the session is closed") }
                guard case .object = body else { throw .bad("the body must be a JSON object") }
                if let title = try Self.string(body["title"], "title") { session.title = title }
                if let participants = try Self.participants(body["participants"]) {
                    session.participants = participants
                }
                if let roles = try Self.strings(body["roles"], "roles") { session.roles = roles }
                let previous = core.sessions[id]!
                core.sessions[id] = session
                core.electorates[id] = nil
                directory.update(session)
                let updated = session
                let events = [
                    Event.state(session, "updated", caller, now),
                    Event.activity(id, "session_updated", actor: caller.actor, at: now, []),
                ]
                commit(id, [.saveRecord(CollaborationJSON.stored(session))], events) { error in
                    if let error {
                        self.core.withLockedValue { core in
                            core.sessions[id] = previous
                            core.electorates[id] = nil
                        }
                        self.directory.update(previous)
                        return completion(.failure(error))
                    }
                    completion(.success(updated))
                }
                return nil
            } catch {
                return error
            }
        }
        if let refusal { completion(.failure(refusal)) }
    }

    /// Closes a session (its owner or an admin): its open votes end with reason `closed`.
    package func closeSession(
        _ id: String, caller: CollaborationCaller,
        completion: @escaping @Sendable (Result<CollaborationSession, CollaborationError>) -> Void
    ) {
        let now = bus.clock()
        let refusal: CollaborationError? = core.withLockedValue { core in
            guard var session = core.sessions[id] else { return .sessionNotFound }
            guard caller.owns(session) else {
                return CollaborationError(.forbidden, "only the session's owner or an admin closes it")
            }
            guard session.state == .open else { return CollaborationError(.conflict, "the session is closed already") }
            session.state = .closed
            session.closed = now
            core.sessions[id] = session
            directory.update(session)
            var writes: [StoreWrite] = [.saveRecord(CollaborationJSON.stored(session))]
            var events: [Event] = []
            for (voteID, vote) in core.votes where vote.definition.session == id && vote.isOpen {
                var closed = vote
                let result = closed.close(reason: .closed, now: now)
                core.votes[voteID] = closed
                writes.append(.saveRecord(CollaborationJSON.stored(closed)))
                events += Event.decided(closed, result)
            }
            events += [
                Event.state(session, "closed", caller, now),
                Event.activity(id, "session_closed", actor: caller.actor, at: now, []),
            ]
            let closed = session
            commit(id, writes, events) { error in
                if let error { return completion(.failure(error)) }
                completion(.success(closed))
            }
            return nil
        }
        if let refusal { completion(.failure(refusal)) }
    }

    // MARK: - Votes

    /// Opens a vote in a session (any participant): `question`, `options`, `rule` (`threshold`), `weighted`,
    /// `quorum`, `duration` (seconds) or `deadline` (Unix seconds), `changeable`, `anonymous`.
    package func openVote(
        _ sessionID: String, _ body: JSONValue, caller: CollaborationCaller,
        completion: @escaping @Sendable (Result<VoteState, CollaborationError>) -> Void
    ) {
        let now = bus.clock()
        let refusal: CollaborationError? = core.withLockedValue { core in
            do throws(CollaborationError) {
                let session = try Self.openSession(core, sessionID, caller)
                guard core.votes.values.lazy.filter({ $0.definition.session == sessionID }).count < maxVotesPerSession
                else {
                    throw CollaborationError(.unavailable, "a session holds at most \(maxVotesPerSession) votes")
                }
                let definition = try Self.definition(body, session: session.id, openedBy: caller.actor, now: now)
                let vote = VoteState(definition: definition)
                core.votes[definition.id] = vote
                let events = [
                    Event.vote(vote, "opened"),
                    Event.activity(
                        sessionID, "vote_opened", actor: caller.actor, at: now,
                        [("vote", .string(definition.id)), ("question", .string(definition.question))]),
                ]
                commit(sessionID, [.saveRecord(CollaborationJSON.stored(vote))], events) { error in
                    if let error {
                        self.core.withLockedValue { _ = $0.votes.removeValue(forKey: definition.id) }
                        return completion(.failure(error))
                    }
                    self.scheduleDeadline(definition)
                    completion(.success(vote))
                }
                return nil
            } catch {
                return error
            }
        }
        if let refusal { completion(.failure(refusal)) }
    }

    /// Takes `caller`'s ballot for `option` (one per user; changed only where the vote allows). Answered
    /// once the ballot is stored, with the vote as a tally (no voter list); a ballot that settles the vote
    /// stores the result with it. The vote is changed in place (taken out of `core` meanwhile) and the
    /// answer made at once, so no copy of its ballots outlives the call: a ballot costs the same whether it
    /// is the first or the thousandth.
    package func cast(
        _ sessionID: String, _ voteID: String, option: String, caller: CollaborationCaller,
        completion: @escaping @Sendable (Result<JSONValue, CollaborationError>) -> Void
    ) {
        let now = bus.clock()
        let answered: Result<JSONValue, CollaborationError>? = core.withLockedValue { core in
            do throws(CollaborationError) {
                let session = try Self.openSession(core, sessionID, caller)
                guard let voter = caller.user else {
                    throw CollaborationError(.unauthorized, "ballots are cast by signed-in users")
                }
                guard core.votes[voteID]?.definition.session == sessionID,
                    var vote = core.votes.removeValue(forKey: voteID)
                else { throw .voteNotFound }
                defer { core.votes[voteID] = vote }
                let previous = vote.ballots[voter]
                let effect: VoteState.CastEffect
                do throws(VoteState.CastRefusal) {
                    effect = try vote.cast(voter: voter, option: option, weight: session.weight(of: voter), now: now)
                } catch {
                    switch error {
                    case .closed: throw CollaborationError(.conflict, "the vote is closed")
                    case .unknownOption(let name): throw .bad("\"\(name)\" is not one of the vote's options")
                    case .alreadyVoted:
                        throw CollaborationError(
                            .conflict, "you have voted already, and this vote's ballots cannot be changed")
                    }
                }
                if effect == .unchanged { return .success(CollaborationJSON.vote(vote, withVoters: false)) }
                let electorate = core.electorates[sessionID] ?? session.electorate
                core.electorates[sessionID] = electorate
                let result = vote.decideIfSettled(electorate, now: now)
                var writes: [StoreWrite] = [.saveRecord(CollaborationJSON.stored(vote.ballots[voter]!, vote: voteID))]
                var details: [(String, JSONValue)] = [("vote", .string(voteID))]
                if !vote.definition.anonymous { details.append(("option", .string(option))) }
                var events = [
                    Event.activity(
                        sessionID, "vote_cast", actor: vote.definition.anonymous ? nil : voter, at: now, details)
                ]
                if let result {
                    writes.append(.saveRecord(CollaborationJSON.stored(vote)))
                    events += Event.decided(vote, result)
                }
                let answer = CollaborationJSON.vote(vote, withVoters: false)
                let definition = vote.definition
                commit(sessionID, writes, events) { error in
                    if let error {
                        self.core.withLockedValue { core in
                            core.votes[voteID]?.undo(voter: voter, previous: previous, decided: result != nil)
                        }
                        return completion(.failure(error))
                    }
                    if result == nil { self.tallyDue(definition) }
                    completion(.success(answer))
                }
                return nil
            } catch {
                return .failure(error)
            }
        }
        if let answered { completion(answered) }
    }

    /// Ends a vote now on the ballots cast (the session's owner, whoever opened it, or an admin).
    package func closeVote(
        _ sessionID: String, _ voteID: String, caller: CollaborationCaller,
        completion: @escaping @Sendable (Result<VoteState, CollaborationError>) -> Void
    ) {
        let now = bus.clock()
        let refusal: CollaborationError? = core.withLockedValue { core in
            guard let session = core.sessions[sessionID] else { return .sessionNotFound }
            guard var vote = core.votes[voteID], vote.definition.session == sessionID else { return .voteNotFound }
            guard caller.owns(session) || (caller.user != nil && caller.user == vote.definition.openedBy) else {
                return CollaborationError(
                    .forbidden, "only the session's owner, whoever opened the vote, or an admin closes it")
            }
            guard vote.isOpen else { return CollaborationError(.conflict, "the vote is closed already") }
            let result = vote.close(reason: .closed, now: now)
            core.votes[voteID] = vote
            let closed = vote
            commit(sessionID, [.saveRecord(CollaborationJSON.stored(vote))], Event.decided(vote, result)) { error in
                if let error {
                    self.core.withLockedValue { $0.votes[voteID]?.reopen() }
                    return completion(.failure(error))
                }
                completion(.success(closed))
            }
            return nil
        }
        if let refusal { completion(.failure(refusal)) }
    }

    /// The vote's deadline, as a task on its session's home loop.
    func scheduleDeadline(_ definition: VoteState.Definition) {
        guard let deadline = definition.deadline else { return }
        let now = bus.clock()
        let delay = deadline > now ? TimeAmount.nanoseconds(Int64(min(deadline - now, UInt64(Int64.max)))) : .zero
        homeLoop(definition.session).scheduleTask(in: delay) { self.expire(definition.id) }
    }

    /// Ends a vote whose deadline passed (its result stored, then published).
    func expire(_ voteID: String) {
        let now = bus.clock()
        core.withLockedValue { core in
            guard var vote = core.votes[voteID], let result = vote.expireIfDue(now: now) else { return }
            core.votes[voteID] = vote
            let session = vote.definition.session
            commit(session, [.saveRecord(CollaborationJSON.stored(vote))], Event.decided(vote, result)) { error in
                guard error != nil else { return }
                // Not stored: the vote stays open and the deadline is tried again shortly.
                self.core.withLockedValue { $0.votes[voteID]?.reopen() }
                self.homeLoop(session).scheduleTask(in: .seconds(1)) { self.expire(voteID) }
            }
        }
    }

    /// Publishes the vote's tally once per `tallyInterval` however many ballots arrive meanwhile.
    func tallyDue(_ definition: VoteState.Definition) {
        let first = core.withLockedValue { $0.talliesDue.insert(definition.id).inserted }
        guard first else { return }
        let loop = homeLoop(definition.session)
        loop.scheduleTask(in: tallyInterval) {
            // The event is made under the lock: no copy of the ballots outlives it.
            let tally = self.core.withLockedValue { core -> Event? in
                core.talliesDue.remove(definition.id)
                guard let vote = core.votes[definition.id], vote.isOpen else { return nil }
                return Event.vote(vote, "tally")
            }
            if let tally { self.publish(tally, on: loop) }
        }
    }

    // MARK: - Committing and publishing

    /// Stores `writes` (call with `core` locked, so the store keeps the order changes were decided in), then
    /// on the session's home loop publishes `events` and calls `completion` (with the store's failure, if
    /// any: then nothing is published).
    func commit(
        _ session: String, _ writes: [StoreWrite], _ events: [Event],
        completion: @escaping @Sendable (CollaborationError?) -> Void
    ) {
        let loop = homeLoop(session)
        let done: @Sendable ((any Error)?) -> Void = { error in
            loop.execute {
                if let error { return completion(CollaborationError(.unavailable, "not stored: \(error)")) }
                for event in events { self.publish(event, on: loop) }
                completion(nil)
            }
        }
        guard let store else { return done(nil) }
        store.submit(writes, completion: done)
    }

    func publish(_ event: Event, on loop: any EventLoop) {
        var payload = ByteBuffer()
        payload.writeJSONValue(event.body)
        let message = BusMessage(
            topic: event.topic, payload: payload, headers: MessageHeaders(contentType: "application/json"),
            timestamp: bus.clock(), payloadForm: .json)
        bus.publish(message, on: loop)
    }

    // MARK: - Parsing

    static func openSession(_ core: Core, _ id: String, _ caller: CollaborationCaller) throws(CollaborationError)
        -> CollaborationSession
    {
        guard let session = core.sessions[id] else { throw .sessionNotFound }
        guard caller.takesPart(in: session) else {
            throw CollaborationError(.forbidden, "only the session's participants take part in it")
        }
        guard session.state == .open else { throw CollaborationError(.conflict, "the session is closed") }
        return session
    }

    static func string(_ value: JSONValue?, _ name: String) throws(CollaborationError) -> String? {
        guard let value else { return nil }
        guard let text = value.stringValue, text.utf8.count <= 1_000 else {
            throw .bad("\"\(name)\" must be a string of at most 1000 bytes")
        }
        return text
    }

    static func strings(_ value: JSONValue?, _ name: String) throws(CollaborationError) -> [String]? {
        guard let value else { return nil }
        guard let items = value.arrayValue, items.count <= 10_000 else {
            throw .bad("\"\(name)\" must be an array of strings")
        }
        return try items.map { item throws(CollaborationError) in
            guard let text = item.stringValue, !text.isEmpty else {
                throw .bad("\"\(name)\" must be an array of strings")
            }
            return text
        }
    }

    /// `["alice", {"user":"bob","weight":2}]` → users and their weights.
    static func participants(_ value: JSONValue?) throws(CollaborationError) -> [String: Double]? {
        guard let value else { return nil }
        let message = "\"participants\" must be an array of user names or {\"user\":…,\"weight\":…} objects"
        guard let items = value.arrayValue, items.count <= 100_000 else { throw .bad(message) }
        var participants: [String: Double] = [:]
        for item in items {
            if let user = item.stringValue, !user.isEmpty {
                participants[user] = 1
            } else if let user = item["user"]?.stringValue, !user.isEmpty {
                let weight = item["weight"].map { $0.doubleValue } ?? 1
                guard let weight, weight >= 0, weight.isFinite else {
                    throw .bad("a participant's \"weight\" must be a number ≥ 0")
                }
                participants[user] = weight
            } else {
                throw .bad(message)
            }
        }
        return participants
    }

    static func definition(_ body: JSONValue, session: String, openedBy: String, now: UInt64) throws(CollaborationError)
        -> VoteState.Definition
    {
        guard case .object = body else { throw .bad("the body must be a JSON object") }
        guard let question = try string(body["question"], "question"), !question.isEmpty else {
            throw .bad("\"question\" is required")
        }
        guard let options = try strings(body["options"], "options"), options.count >= 2, options.count <= 100,
            Set(options).count == options.count
        else { throw .bad("\"options\" must be 2 to 100 different strings") }
        let rule = try CollaborationJSON.rule(
            try string(body["rule"], "rule"), threshold: body["threshold"].flatMap { $0.doubleValue })
        let quorum = body["quorum"].map { $0.intValue } ?? 0
        guard let quorum, quorum >= 0 else { throw .bad("\"quorum\" must be an integer ≥ 0") }
        var deadline: UInt64?
        if let duration = body["duration"] {
            guard let seconds = duration.doubleValue, seconds > 0, seconds <= 366 * 86_400 else {
                throw .bad("\"duration\" must be a number of seconds, more than 0 and at most a year")
            }
            deadline = now + UInt64(seconds * 1e9)
        } else if let at = body["deadline"] {
            guard let seconds = at.doubleValue, seconds * 1e9 > Double(now), seconds < 1e11 else {
                throw .bad("\"deadline\" must be a Unix time in seconds, in the future")
            }
            deadline = UInt64(seconds * 1e9)
        }
        func flag(_ name: String) throws(CollaborationError) -> Bool {
            guard let value = body[name] else { return false }
            guard case .bool(let flag) = value else { throw .bad("\"\(name)\" must be true or false") }
            return flag
        }
        return VoteState.Definition(
            id: RecordCollections.randomID(), session: session, question: question, options: options, rule: rule,
            weighted: try flag("weighted"), quorum: quorum, deadline: deadline, changeable: try flag("changeable"),
            anonymous: try flag("anonymous"), openedBy: openedBy, opened: now)
    }
}
