package import BusCore

/// What `GET /sse` asks for (docs/protocols/sse.md §1): channels (filters allowed), server-side
/// filters, and where to resume. Pure: query parameters and headers in, request or 400 error out.
package struct SSEStreamRequest: Equatable, Sendable {
    /// The subscriptions, in request order.
    package var channels: [TopicFilter]
    package var filter: SSEMessageFilter
    /// Where to resume (from `Last-Event-ID`, else `lastEventId`): one entry per concrete channel.
    package var resumeFrom: SSECursor?

    /// The channels that carry a position (concrete, not shared): the cursor's entries, in order.
    package var positionedChannels: [TopicFilter] { channels.filter(SSEStreamRequest.isPositioned) }

    package static func isPositioned(_ filter: TopicFilter) -> Bool {
        !filter.hasWildcards && filter.shareGroup == nil
    }

    package static func parse(
        query: [String: [String]], lastEventID: String?, topicLimits: TopicLimits = TopicLimits(),
        limits: SSELimits = SSELimits()
    ) throws(SSERequestError) -> SSEStreamRequest {
        let channels = try self.channels(query["channel"] ?? [], topicLimits: topicLimits, limits: limits)
        let filter = try SSEMessageFilter.parse(query: query, limits: limits)
        // The header wins: a browser reconnects to the same URL (with its old `lastEventId`) and sends
        // its newest id in `Last-Event-ID` (WHATWG HTML §9.2.3 "reestablish the connection").
        var resume: SSECursor?
        if let text = lastEventID.flatMap({ $0.isEmpty ? nil : $0 }) ?? query["lastEventId"]?.first,
            !text.isEmpty
        {
            let count = channels.filter(isPositioned).count
            do {
                resume = try SSECursor.parse(text, channels: count, limits: limits)
            } catch {
                throw SSERequestError("bad Last-Event-ID: \(error.message)")
            }
        }
        return SSEStreamRequest(channels: channels, filter: filter, resumeFrom: resume)
    }

    /// Parses channel names: at least one, at most `limits.maxChannels`, no repeats. With
    /// `starIsWildcard` (the PocketBase-style realtime API) a `*` level means `+`.
    package static func channels(
        _ names: [String], topicLimits: TopicLimits, limits: SSELimits, starIsWildcard: Bool = false
    ) throws(SSERequestError) -> [TopicFilter] {
        guard !names.isEmpty else { throw SSERequestError("at least one channel is required") }
        guard names.count <= limits.maxChannels else {
            throw SSERequestError("at most \(limits.maxChannels) channels per request")
        }
        var filters: [TopicFilter] = []
        for name in names {
            var pattern = name
            if starIsWildcard {
                pattern = name.split(separator: "/", omittingEmptySubsequences: false).map { $0 == "*" ? "+" : $0 }
                    .joined(separator: "/")
            }
            let filter: TopicFilter
            do { filter = try TopicFilter(pattern, limits: topicLimits) } catch {
                throw SSERequestError("invalid channel \"\(name)\": \(error)")
            }
            guard !filters.contains(where: { $0.text == filter.text })
            else {
                throw SSERequestError("channel \"\(name)\" is given twice")
            }
            filters.append(filter)
        }
        return filters
    }
}
