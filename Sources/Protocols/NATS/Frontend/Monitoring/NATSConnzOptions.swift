/// The query of `/connz` (and the paging of `/subsz`), read as nats-server reads it.
package struct NATSConnzOptions: Sendable, Hashable {
    /// `sort=`: nats-server's sort options. `cid` and `start` sort ascending, the others descending.
    package enum Sort: String, Sendable, CaseIterable {
        case cid, start, subs, pending
        case messagesTo = "msgs_to"
        case messagesFrom = "msgs_from"
        case bytesTo = "bytes_to"
        case bytesFrom = "bytes_from"
        case last, idle, uptime, rtt
        // Only for closed connections, which are not kept: refused, as nats-server refuses them for open ones.
        case stop, reason
    }

    /// `subs=`: none, `1`/`true` (subjects), `detail`.
    package enum SubscriptionDetail: Sendable, Hashable {
        case none, subjects, detail
    }

    /// `state=`: only open connections are kept, so `closed` lists none and `all` the open ones.
    package enum State: String, Sendable {
        case open, closed
        case all = "any"
    }

    /// nats-server's default page size.
    package static let defaultLimit = 1024

    package var sort = Sort.cid
    package var subscriptions = SubscriptionDetail.none
    package var authorizedUser = false
    package var offset = 0
    package var limit = defaultLimit
    package var clientID: UInt64?
    package var state = State.open

    package init() {}

    /// Reads `query` (first value of each parameter); throws the text nats-server answers with 400.
    package init(query: [String: [String]]) throws(NATSMonitorError) {
        func value(_ name: String) -> String? { query[name]?.first }
        if let text = value("sort"), !text.isEmpty {
            guard let sort = Sort(rawValue: text.lowercased()) else {
                throw NATSMonitorError("invalid sorting option: \(text)")
            }
            self.sort = sort
        }
        switch value("subs")?.lowercased() {
        case nil, "", "0", "false": subscriptions = .none
        case "detail": subscriptions = .detail
        default: subscriptions = .subjects
        }
        authorizedUser = ["1", "true"].contains(value("auth")?.lowercased() ?? "")
        if let text = value("offset") {
            guard let offset = Int(text), offset >= 0 else { throw NATSMonitorError("invalid offset: \(text)") }
            self.offset = offset
        }
        if let text = value("limit") {
            guard let limit = Int(text) else { throw NATSMonitorError("invalid limit: \(text)") }
            self.limit = limit > 0 ? limit : Self.defaultLimit
        }
        if let text = value("cid") {
            guard let id = UInt64(text) else { throw NATSMonitorError("invalid cid: \(text)") }
            clientID = id
        }
        if let text = value("state"), !text.isEmpty {
            guard let state = State(rawValue: text.lowercased()) ?? (text.lowercased() == "all" ? .all : nil) else {
                throw NATSMonitorError("invalid connection state: \(text)")
            }
            self.state = state
        }
        if (sort == .stop || sort == .reason) && state == .open {
            throw NATSMonitorError("sort by \(sort.rawValue) only valid on closed connections")
        }
    }

    /// `connections` filtered, sorted and paged; and how many matched before paging.
    package func select(_ connections: [NATSConnectionSnapshot], now: UInt64) -> (
        page: [NATSConnectionSnapshot], total: Int
    ) {
        var list = connections
        if state == .closed { list = [] }
        if let clientID { list = list.filter { $0.clientID == clientID } }
        list.sort { left, right in
            func descending<T: Comparable>(_ key: (NATSConnectionSnapshot) -> T) -> Bool {
                key(left) != key(right) ? key(left) > key(right) : left.clientID < right.clientID
            }
            switch sort {
            case .cid, .rtt, .stop, .reason: return left.clientID < right.clientID
            case .start:
                return left.startedAt != right.startedAt
                    ? left.startedAt < right.startedAt : left.clientID < right.clientID
            case .subs: return descending { $0.subscriptions.count }
            case .pending: return descending { $0.pendingBytes }
            case .messagesTo: return descending { $0.traffic.outMessages }
            case .messagesFrom: return descending { $0.traffic.inMessages }
            case .bytesTo: return descending { $0.traffic.outBytes }
            case .bytesFrom: return descending { $0.traffic.inBytes }
            case .last: return descending { $0.lastActivityAt }
            // Longest idle and longest up first: the oldest activity and the oldest start.
            case .idle: return descending { now &- min(now, $0.lastActivityAt) }
            case .uptime: return descending { now &- min(now, $0.startedAt) }
            }
        }
        let total = list.count
        guard offset < total else { return ([], total) }
        return (Array(list[offset..<min(total, offset + limit)]), total)
    }
}

/// A monitoring request nats-server would refuse with 400, with its text.
package struct NATSMonitorError: Error, Sendable, Hashable, CustomStringConvertible {
    package var description: String
    package init(_ description: String) { self.description = description }
}
