import BusCore
import BusRuntime
import FrontendKit
import NIOCore

/// The hub's `subscribe` and `unsubscribe` events: a room per channel, with history or recovery asked
/// for; with an engine a concrete channel's shared log is read first.
extension SocketIOSession {
    func subscribe(_ socket: SocketIOSocket, slot: Int, _ request: SocketIORequest?, ack: UInt64?) {
        guard let name = channelName(request) else {
            return refuse(socket, ack, "bad_request", "a channel is required")
        }
        let channel = socket.channel(name)
        let filter: TopicFilter
        do {
            filter = try TopicFilter(channel, limits: bus.configuration.topicLimits)
        } catch {
            return refuse(socket, ack, "bad_request", "invalid channel \"\(name)\": \(error)")
        }
        guard socket.identity.permissions.maySubscribe(filter) else {
            return refuse(socket, ack, "permission_denied", "not allowed to subscribe to \(name)")
        }
        guard socket.roomSlots[channel] == nil else {
            return refuse(socket, ack, "already_subscribed", "already subscribed to \(name)")
        }
        guard socket.roomSlots.count < configuration.maxSubscriptions else {
            return refuse(socket, ack, "limit", "at most \(configuration.maxSubscriptions) subscriptions")
        }
        var history: Bus.HistoryRequest?
        if let count = request?["history"]?.intValue, count > 0 { history = .last(count) }
        if let recover = request?["recover"], let offset = recover["offset"]?.uint64Value,
            let epoch = recover["epoch"]?.stringValue
        {
            history = .recover(LogPosition(offset: offset, epoch: epoch), fallback: 0)
        }
        // With an engine a concrete channel's shared log is read first (docs/redis.md, "History across
        // instances"), as the native WebSocket's subscribe does: the room's positions are then the ones every
        // instance agrees on, so the socket can recover on any of them.
        guard filter.shareGroup == nil, !filter.hasWildcards else {
            return subscribeNow(socket, slot: slot, channel: channel, filter: filter, history: history, ack: ack)
        }
        let deferred = bus.refreshingHistory(of: [Topic(trusted: filter.pattern)], on: eventLoop) { [self] in
            guard !isClosed, sockets.indices.contains(slot), sockets[slot] === socket else { return }
            // Other subscribes may have completed while this one waited.
            guard socket.roomSlots[channel] == nil else {
                return refuse(socket, ack, "already_subscribed", "already subscribed to \(name)")
            }
            guard socket.roomSlots.count < configuration.maxSubscriptions else {
                return refuse(socket, ack, "limit", "at most \(configuration.maxSubscriptions) subscriptions")
            }
            subscribeNow(socket, slot: slot, channel: channel, filter: filter, history: history, ack: ack)
            flush()
        }
        if !deferred {
            subscribeNow(socket, slot: slot, channel: channel, filter: filter, history: history, ack: ack)
        }
    }

    private func subscribeNow(
        _ socket: SocketIOSocket, slot: Int, channel: String, filter: TopicFilter, history: Bus.HistoryRequest?,
        ack: UInt64?
    ) {
        let result = join(socket, slot: slot, channel: channel, filter: filter, history: history)
        let asksRecovery = if case .recover = history { true } else { false }
        let recovered = result.recovered ?? (asksRecovery ? false : nil)
        acknowledge(socket, ack) { data in
            data.writeStaticString("{\"channel\":")
            data.writeJSONString(channel)
            if let position = result.position { BusJSON.position(&data, position) }
            if let recovered { data.writeStaticString(recovered ? ",\"recovered\":true" : ",\"recovered\":false") }
            data.writeStaticString(",\"messages\":")
            BusJSON.messages(&data, result.messages)
            data.writeStaticString("}")
        }
        // Messages from history also advance the room's position for recovery.
        if let last = result.messages.last?.position, let roomSlot = socket.roomSlots[channel] {
            socket.rooms[roomSlot]?.position = last
        }
    }

    func unsubscribe(_ socket: SocketIOSocket, _ request: SocketIORequest?, ack: UInt64?) {
        guard let name = channelName(request) else {
            return refuse(socket, ack, "bad_request", "a channel is required")
        }
        guard leave(socket, channel: socket.channel(name)) else {
            return refuse(socket, ack, "not_found", "not subscribed to \(name)")
        }
        acknowledge(socket, ack) { data in
            data.writeStaticString("{\"channel\":")
            data.writeJSONString(socket.channel(name))
            data.writeStaticString("}")
        }
    }
}
