import Foundation

/// The HTTP side of collab-vote (docs/collaboration.md): one session with every voter as a participant
/// and one majority vote in it, both made with the API key (an admin, so it names the session's owner).
struct SessionsAPI {
    /// The server's HTTP listener.
    let port: Int
    /// `Authorization` header value for every request (the API key), or nil.
    let authorization: String?

    init(options: BenchOptions, target: BenchTarget) {
        port = target.port
        authorization = options.apiKey.map { "Bearer \($0)" }
    }

    /// The body of `POST /api/sessions`: owner `users[0]`, every user a participant.
    static func sessionBody(users: [String]) -> [UInt8] {
        let participants = users.map { "\"\($0)\"" }.joined(separator: ",")
        return Array(#"{"owner":"\#(users.first ?? "")","title":"bench","participants":[\#(participants)]}"#.utf8)
    }

    /// The body of `POST /api/sessions/<id>/votes`: a two-option majority vote.
    static let voteBody = Array(#"{"question":"bench?","options":["yes","no"]}"#.utf8)

    /// The ballot one voter sends as the `$sessions/cast` rpc's data.
    static func ballot(session: String, vote: String, option: String) -> String {
        #"{"session":"\#(session)","vote":"\#(vote)","option":"\#(option)"}"#
    }

    /// The channel a vote's events are published on.
    static func voteChannel(session: String, vote: String) -> String { "sessions/\(session)/votes/\(vote)" }

    /// Creates the session and opens the vote; returns their ids.
    func createSessionAndVote(users: [String]) throws -> (session: String, vote: String) {
        let connection = try HTTPConnection(host: "127.0.0.1", port: port)
        defer { connection.close() }
        let session = try id(
            of: connection.request(
                "POST", "/api/sessions", contentType: "application/json", accept: "application/json",
                authorization: authorization, body: Self.sessionBody(users: users)), what: "create session")
        let vote = try id(
            of: connection.request(
                "POST", "/api/sessions/\(session)/votes", contentType: "application/json", accept: "application/json",
                authorization: authorization, body: Self.voteBody), what: "open vote")
        return (session, vote)
    }

    private func id(of response: HTTPConnection.Response, what: String) throws -> String {
        guard response.status == 200,
            let object = try? JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any],
            let id = object["id"] as? String
        else {
            throw BenchError.setupFailed("\(what) answered \(response.status): \(response.text.prefix(300))")
        }
        return id
    }
}
