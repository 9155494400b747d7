package import BusCore

/// What `GET /sse` asks for (docs/protocols/sse.md §1): channels (filters allowed), server-side
/// filters, and where to resume. Pure: query parameters and headers in, request or 400 error out.
package struct SSEStreamRequest: Equatable, Sendable {
    /// The subscriptions, in request order.
    package var channels: [TopicFilter]
    package var filter: SSEMessageFilter
    /// Where to resume (from `Last-Event-ID`, else `lastEventId`): one entry per positioned channel.
    package var resumeFrom: SSECursor?
    /// The filters with wildcards that a stream covers: they follow it and carry a position in it.
    package var streamFollowing: Set<String> = []

    /// The channels that carry a position (concrete and not shared, or followed in a stream): the cursor's
    /// entries, in order.
    package var positionedChannels: [TopicFilter] { channels.filter(isPositioned) }

    package func isPositioned(_ filter: TopicFilter) -> Bool {
        SSEStreamRequest.isPositioned(filter) || streamFollowing.contains(filter.text)
    }

    package static func isPositioned(_ filter: TopicFilter) -> Bool {
        !filter.hasWildcards && filter.shareGroup == nil
    }

    /// `coveredByStream`: whether a stream covers a filter with wildcards (wildcard recovery): such a
    /// channel is positioned like a concrete one.
    package static func parse(
        query: [String: [String]], lastEventID: String?, topicLimits: TopicLimits = TopicLimits(),
        limits: SSELimits = SSELimits(), coveredByStream: (TopicFilter) -> Bool = { _ in false }
    ) throws(SSERequestError) -> SSEStreamRequest {
        let channels = try self.channels(query["channel"] ?? [], topicLimits: topicLimits, limits: limits)
        var following: Set<String> = []
        for channel in channels where channel.hasWildcards && channel.shareGroup == nil && coveredByStream(channel) {
            following.insert(channel.text)
        }
        let filter = try SSEMessageFilter.parse(query: query, limits: limits)
        // The header wins: a browser reconnects to the same URL (with its old `lastEventId`) and sends
        // its newest id in `Last-Event-ID` (WHATWG HTML §9.2.3 "reestablish the connection").
        var resume: SSECursor?
        if let text = lastEventID.flatMap({ $0.isEmpty ? nil : $0 }) ?? query["lastEventId"]?.first,
            !text.isEmpty
        {
            let count = channels.filter { isPositioned($0) || following.contains($0.text) }.count
            do {
                resume = try SSECursor.parse(text, channels: count, limits: limits)
            } catch {
                throw SSERequestError("bad Last-Event-ID: \(error.message)")
            }
        }
        return SSEStreamRequest(channels: channels, filter: filter, resumeFrom: resume, streamFollowing: following)
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
