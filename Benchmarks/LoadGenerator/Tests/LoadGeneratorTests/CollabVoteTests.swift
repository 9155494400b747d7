import XCTest

@testable import switchboard_bench

/// collab-vote's reading of `/ws` frames (docs/collaboration.md) and its latency arithmetic.
final class CollabVoteTests: XCTestCase {
    private func parse(_ text: String) -> VoteFrame {
        Array(text.utf8).withUnsafeBytes { VoteFrame.parse($0) }
    }

    private let vote =
        #"{"id":"v1","session":"s1","question":"bench?","options":["yes","no"],"rule":"majority","weighted":false,"#
        + #""quorum":0,"deadline":null,"changeable":false,"anonymous":false,"opened_by":"api","opened":"2026-12-05T12:00:00Z","#

    func testATallyPushCarriesItsBallots() {
        let frame =
            #"{"type":"message","channel":"sessions/s1/votes/v1","data":{"type":"tally","vote":"# + vote
            + #""state":"open","ballots":37,"tally":[{"option":"yes","votes":19,"weight":19}]}},"offset":3,"epoch":"e"}"#
        XCTAssertEqual(parse(frame), .event(kind: .tally, ballots: 37, outcome: nil, reason: nil))
    }

    func testTheResultCarriesOutcomeAndReason() {
        let frame =
            #"{"type":"message","channel":"sessions/s1/votes/v1","data":{"type":"result","vote":"# + vote
            + #""state":"decided","ballots":1000,"tally":[],"result":{"outcome":"rejected","option":null,"reason":"rule","decided_at":"x"}}}}"#
        XCTAssertEqual(parse(frame), .event(kind: .result, ballots: 1000, outcome: "rejected", reason: "rule"))
    }

    func testTheBallotsReplyGivesItsRank() {
        let frame = #"{"id":2,"type":"reply","data":"# + vote + #""state":"open","ballots":12,"tally":[],"voters":[]}}"#
        XCTAssertEqual(parse(frame), .reply(id: 2, ballots: 12, error: nil))
        XCTAssertEqual(
            parse(#"{"id":1,"type":"subscribed","channel":"sessions/s1/votes/v1","messages":[]}"#),
            .reply(id: 1, ballots: nil, error: nil))
    }

    func testRefusalsAndRPCErrorsAreErrors() {
        let refusal = #"{"id":2,"type":"reply","data":{"error":{"code":"conflict","message":"already voted"}}}"#
        XCTAssertEqual(parse(refusal), .reply(id: 2, ballots: nil, error: refusal))
        let timeout =
            #"{"id":2,"type":"error","code":"timeout","message":"no reply from $sessions/cast within 30000 ms"}"#
        XCTAssertEqual(parse(timeout), .reply(id: 2, ballots: nil, error: timeout))
    }

    func testOtherPushesAreIgnored() {
        XCTAssertEqual(parse(#"{"type":"message","channel":"chat","data":{"n":1}}"#), .other)
        XCTAssertEqual(parse(#"{"type":"join","channel":"x","client":"c"}"#), .other)
    }

    /// Ranks 1–3 sent at 100, 200, 300; a subscriber sees a tally of 2 at 250 and the result (3) at 400.
    func testEachRankIsSampledWhenFirstSeen() {
        let timeline = VoteTimeline(ballots: [(rank: 2, sentAt: 200), (rank: 1, sentAt: 100), (rank: 3, sentAt: 300)])
        var samples: [UInt64] = []
        let events = [
            VoterRole.Event(ballots: 2, receivedAt: 250, isResult: false),
            VoterRole.Event(ballots: 2, receivedAt: 260, isResult: false),
            VoterRole.Event(ballots: 3, receivedAt: 400, isResult: true),
        ]
        timeline.tallySamples(events) { samples.append($0) }
        XCTAssertEqual(samples, [150, 50, 100])
        XCTAssertEqual(timeline.resultLatency(events), 100)
        XCTAssertEqual(timeline.duplicateRanks, 0)
    }

    func testARankNamedTwiceOrNeverIsCounted() {
        let timeline = VoteTimeline(ballots: [(rank: 1, sentAt: 100), (rank: 1, sentAt: 110), (rank: 3, sentAt: 300)])
        XCTAssertEqual(timeline.duplicateRanks, 1)
        XCTAssertEqual(timeline.sendTimeOfRank.filter { $0 == nil }.count, 1)
        var samples: [UInt64] = []
        // A tally past the highest rank replied samples only the ranks known.
        timeline.tallySamples([VoterRole.Event(ballots: 5, receivedAt: 500, isResult: false)]) { samples.append($0) }
        XCTAssertEqual(samples, [390, 200])
    }

    func testTheSessionBodyNamesEveryUser() {
        XCTAssertEqual(
            String(decoding: SessionsAPI.sessionBody(users: ["u0", "u1"]), as: UTF8.self),
            #"{"owner":"u0","title":"bench","participants":["u0","u1"]}"#)
    }
}
