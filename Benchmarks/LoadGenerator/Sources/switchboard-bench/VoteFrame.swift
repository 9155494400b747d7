/// What a collab-vote connection reads in one text frame from `/ws` (docs/collaboration.md), found by
/// scanning the bytes for a few members rather than decoding the JSON: every subscriber reads ~50 tallies
/// a second, and the `rpc` reply to a ballot carries the vote with its whole voter list.
enum VoteFrame: Equatable {
    /// An answer to the request `id` (`subscribed`, `reply`, `error`): `ballots` is the vote's ballot count
    /// when it carries a vote; `error` the frame's text when it is an `error` or a reply whose data is a
    /// refusal (`{"error":{"code","message"}}`).
    case reply(id: Int, ballots: Int?, error: String?)
    /// A push on a vote's channel: `{"type":"message",…,"data":{"type":"<kind>","vote":{…"ballots":n…}}}`;
    /// `outcome` and `reason` are the result's (`result` events only).
    case event(kind: Kind, ballots: Int, outcome: String?, reason: String?)
    /// Anything else (a push on another channel, a malformed frame).
    case other

    /// The vote events (`sessions/<id>/votes/<vote>`).
    enum Kind: String, Equatable {
        /// The vote was opened.
        case opened
        /// The ballots so far (coalesced: at most one per 20 ms per vote).
        case tally
        /// The vote is decided.
        case result
    }

    private static let idPrefix = Array(#"{"id":"#.utf8)
    private static let errorType = Array(#""type":"error""#.utf8)
    private static let refusal = Array(#""data":{"error":"#.utf8)
    private static let ballots = Array(#""ballots":"#.utf8)
    private static let eventType = Array(#""data":{"type":""#.utf8)
    private static let outcome = Array(#""outcome":""#.utf8)
    private static let reason = Array(#""reason":""#.utf8)

    /// Classifies one whole text message.
    static func parse(_ bytes: UnsafeRawBufferPointer) -> VoteFrame {
        if starts(bytes, with: idPrefix) {
            guard let id = integer(in: bytes, at: idPrefix.count) else { return .other }
            // A top-level error follows the id at once; a refusal is the reply's data.
            if find(errorType, in: bytes, limit: idPrefix.count + 24) != nil || find(refusal, in: bytes) != nil {
                return .reply(id: id, ballots: nil, error: String(decoding: bytes.prefix(300), as: UTF8.self))
            }
            return .reply(id: id, ballots: find(ballots, in: bytes).flatMap { integer(in: bytes, at: $0) }, error: nil)
        }
        guard let typeAt = find(eventType, in: bytes), let kindText = string(in: bytes, at: typeAt),
            let kind = Kind(rawValue: kindText), let ballotsAt = find(ballots, in: bytes),
            let count = integer(in: bytes, at: ballotsAt)
        else { return .other }
        guard kind == .result else { return .event(kind: kind, ballots: count, outcome: nil, reason: nil) }
        return .event(
            kind: kind, ballots: count, outcome: find(outcome, in: bytes).flatMap { string(in: bytes, at: $0) },
            reason: find(reason, in: bytes).flatMap { string(in: bytes, at: $0) })
    }

    private static func starts(_ bytes: UnsafeRawBufferPointer, with prefix: [UInt8]) -> Bool {
        bytes.count >= prefix.count && prefix.indices.allSatisfy { bytes[$0] == prefix[$0] }
    }

    /// The index just after the first occurrence of `needle` that starts before `limit`, or nil.
    private static func find(_ needle: [UInt8], in bytes: UnsafeRawBufferPointer, limit: Int = .max) -> Int? {
        let last = min(bytes.count - needle.count, limit)
        guard last >= 0 else { return nil }
        var index = 0
        while index <= last {
            if bytes[index] == needle[0] {
                var matched = 1
                while matched < needle.count, bytes[index + matched] == needle[matched] { matched += 1 }
                if matched == needle.count { return index + needle.count }
            }
            index += 1
        }
        return nil
    }

    /// The non-negative decimal integer at `index`, or nil when no digit is there.
    private static func integer(in bytes: UnsafeRawBufferPointer, at index: Int) -> Int? {
        var value = 0
        var position = index
        while position < bytes.count, bytes[position] &- UInt8(ascii: "0") < 10 {
            value = value * 10 + Int(bytes[position] - UInt8(ascii: "0"))
            position += 1
        }
        return position > index ? value : nil
    }

    /// The characters from `index` to the next `"` (the members read here have no escapes).
    private static func string(in bytes: UnsafeRawBufferPointer, at index: Int) -> String? {
        var end = index
        while end < bytes.count, bytes[end] != UInt8(ascii: "\"") { end += 1 }
        guard end < bytes.count else { return nil }
        return String(decoding: UnsafeRawBufferPointer(rebasing: bytes[index..<end]), as: UTF8.self)
    }
}
