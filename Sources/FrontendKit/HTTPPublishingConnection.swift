package import NIOCore

/// Publisher flow control for HTTP publishes (`POST /api/publish`, `/api/broadcast`): the HTTP equivalent of
/// a paused NATS publisher is a connection that is not read. A connection gets a publisher id the first time
/// it publishes (its messages carry it); while a subscriber they feed is behind (`CongestedSubscriber`),
/// the connection's next requests wait unread in the socket — the client's next `POST` blocks on TCP flow
/// control rather than being refused, as a paused NATS or MQTT publisher's next publish does. The request
/// being answered is not held: it was routed already. Confined to the connection's loop; the registry's
/// calls (`publishingPaused`) hop onto it.
package final class HTTPPublishingConnection: ConnectionController, @unchecked Sendable {
    private let channel: any Channel
    private var publisherID: String?
    private var paused = PausedPublisher()

    package init(channel: any Channel) {
        self.channel = channel
    }

    /// The id this connection's publishes carry, registered with `registry` for as long as the connection
    /// is open. Call on the connection's loop.
    package func publisherID(in registry: ConnectionRegistry, makeID: () -> String) -> String {
        if let publisherID { return publisherID }
        let id = "http-" + makeID()
        publisherID = id
        registry.setPausablePublisher(id, self)
        channel.closeFuture.whenComplete { _ in registry.setPausablePublisher(id, nil) }
        return id
    }

    /// Not in the registry's connection table, so administrative closes and shutdown reach it through its
    /// HTTP server, not here; asked all the same, it closes.
    package func requestClose(_ reason: CloseReason) {
        channel.close(promise: nil)
    }

    package func publishingPaused(_ paused: Bool, by subscriberID: String) {
        channel.eventLoop.execute {
            let now = NIODeadline.now().uptimeNanoseconds
            self.paused.apply(paused, by: subscriberID, now: now, channel: self.channel)
            guard paused, self.paused.isPaused else { return }
            // No keep-alive tick here: a pause nothing ends is ended by a timer of its own.
            self.channel.eventLoop.scheduleTask(in: .nanoseconds(Int64(PausedPublisher.longestPause) + 1_000_000)) {
                [weak self] in
                guard let self else { return }
                self.paused.expire(now: NIODeadline.now().uptimeNanoseconds, channel: channel)
            }
        }
    }
}
