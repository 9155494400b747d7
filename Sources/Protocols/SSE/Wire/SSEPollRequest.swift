package import BusCore

/// What `GET /poll` asks for (docs/protocols/sse.md §4): concrete channels, the cursor to continue
/// after (`cursor=`, else `If-None-Match`), filters, and how long to hold the request.
package struct SSEPollRequest: Equatable, Sendable {
    package var channels: [Topic]
    package var filter: SSEMessageFilter
    package var cursor: SSECursor?
    /// Seconds to hold the request when nothing is waiting (0: answer at once).
    package var timeoutSeconds: Int

    package static func parse(
        query: [String: [String]], ifNoneMatch: String?, defaultTimeoutSeconds: Int, maxTimeoutSeconds: Int,
        topicLimits: TopicLimits = TopicLimits(), limits: SSELimits = SSELimits()
    ) throws(SSERequestError) -> SSEPollRequest {
        let filters = try SSEStreamRequest.channels(query["channel"] ?? [], topicLimits: topicLimits, limits: limits)
        var channels: [Topic] = []
        for filter in filters {
            guard SSEStreamRequest.isPositioned(filter) else {
                throw SSERequestError(
                    "channel \"\(filter.pattern)\" is a filter: long polling needs concrete channels (a cursor is a position in each)"
                )
            }
            channels.append(Topic(trusted: filter.pattern))
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
        return SSEPollRequest(channels: channels, filter: filter, cursor: cursor, timeoutSeconds: timeout)
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
