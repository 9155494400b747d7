package import BusCore

/// Server-side filtering of a stream or poll: by event type (`?event=task.created`, any of them) and by
/// user-property match (`?match=repo:switchboard`, all of them). Checked per delivery, before encoding.
package struct SSEMessageFilter: Equatable, Sendable {
    /// Admitted event types; empty admits every type.
    package var eventTypes: [String] = []
    /// Properties a message must carry with exactly these values.
    package var matches: [UserProperty] = []

    package init(eventTypes: [String] = [], matches: [UserProperty] = []) {
        self.eventTypes = eventTypes
        self.matches = matches
    }

    package var admitsEverything: Bool { eventTypes.isEmpty && matches.isEmpty }

    package func admits(_ message: BusMessage) -> Bool {
        if !eventTypes.isEmpty {
            let type: String
            switch message.kind {
            case .publish: type = message.headers.eventType ?? SSEEventEncoder.defaultEventType
            case .join: type = "join"
            case .leave: type = "leave"
            }
            guard eventTypes.contains(type) else { return false }
        }
        for wanted in matches where !message.headers.userProperties.contains(wanted) {
            return false
        }
        return true
    }

    /// Reads `event=` and `match=NAME:VALUE` parameters.
    package static func parse(query: [String: [String]], limits: SSELimits) throws(SSERequestError)
        -> SSEMessageFilter
    {
        let types = query["event"] ?? []
        let matchTexts = query["match"] ?? []
        guard types.count + matchTexts.count <= limits.maxFilters else {
            throw SSERequestError("at most \(limits.maxFilters) event and match filters")
        }
        var filter = SSEMessageFilter()
        for type in types {
            if let problem = MessageHeaders.validateEventType(type) {
                throw SSERequestError("event filter \"\(type)\": \(problem)")
            }
            filter.eventTypes.append(type)
        }
        for text in matchTexts {
            guard let colon = text.firstIndex(of: ":"), colon != text.startIndex else {
                throw SSERequestError("match filter \"\(text)\" is not NAME:VALUE")
            }
            filter.matches.append(
                UserProperty(name: String(text[..<colon]), value: String(text[text.index(after: colon)...])))
        }
        return filter
    }
}
