package import BusCore

/// What `GET /poll` asks for (docs/protocols/sse.md §4): concrete channels (or filters a stream covers), the cursor to continue
/// after (`cursor=`, else `If-None-Match`), filters, and how long to hold the request.
package struct SSEPollRequest: Equatable, Sendable {
    /// Concrete channels, and filters with wildcards that a stream covers (`streamFollowing`): each has a
    /// position, an entry of the cursor.
    package var channels: [TopicFilter]
    package var filter: SSEMessageFilter
    package var cursor: SSECursor?
    /// Seconds to hold the request when nothing is waiting (0: answer at once).
    package var timeoutSeconds: Int
    /// The filters with wildcards among `channels` (each followed in the stream that covers it).
    package var streamFollowing: Set<String> = []

    /// `coveredByStream`: whether a stream covers a filter with wildcards (wildcard recovery); any other
    /// filter is refused, since a cursor is a position in each channel.
    package static func parse(
        query: [String: [String]], ifNoneMatch: String?, defaultTimeoutSeconds: Int, maxTimeoutSeconds: Int,
        topicLimits: TopicLimits = TopicLimits(), limits: SSELimits = SSELimits(),
        coveredByStream: (TopicFilter) -> Bool = { _ in false }
    ) throws(SSERequestError) -> SSEPollRequest {
        let channels = try SSEStreamRequest.channels(query["channel"] ?? [], topicLimits: topicLimits, limits: limits)
        var following: Set<String> = []
        for filter in channels where !SSEStreamRequest.isPositioned(filter) {
            guard filter.shareGroup == nil, coveredByStream(filter) else {
                throw SSERequestError(
                    "channel \"\(filter.pattern)\" is a filter: long polling needs concrete channels (a cursor is a"
                        + " position in each), or a filter a one-partition stream captures")
            }
            following.insert(filter.text)
        }
        let filter = try SSEMessageFilter.parse(query: query, limits: limits)
        var cursor: SSECursor?
        if let text = query["cursor"]?.first ?? ifNoneMatch.map(entityTag), !text.isEmpty {
            cursor = try SSECursor.parse(text, channels: channels.count, limits: limits)
        }
        var timeout = min(defaultTimeoutSeconds, maxTimeoutSeconds)
        if let text = query["timeout"]?.first {
            guard let value = Int(text), value >= 0 else {
                throw SSERequestError("timeout must be a non-negative number of seconds")
            }
            timeout = min(value, maxTimeoutSeconds)
        }
        return SSEPollRequest(
            channels: channels, filter: filter, cursor: cursor, timeoutSeconds: timeout, streamFollowing: following)
    }

    /// The opaque tag of an `If-None-Match` value (RFC 9110 §8.8.3): quotes and a weak `W/` prefix
    /// removed; a list or `*` is not a cursor and is ignored.
    static func entityTag(_ value: String) -> String {
        var text = Substring(value.trimmingSpaces())
        if text.hasPrefix("W/") { text = text.dropFirst(2) }
        guard text.count >= 2, text.first == "\"", text.last == "\"" else {
            return text == "*" || text.contains(",") ? "" : String(text)
        }
        return String(text.dropFirst().dropLast())
    }
}

extension String {
    fileprivate func trimmingSpaces() -> String {
        String(
            self.drop(while: { $0 == " " || $0 == "\t" }).reversed().drop(while: { $0 == " " || $0 == "\t" }).reversed()
        )
    }
}
