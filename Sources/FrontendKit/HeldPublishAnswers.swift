package import NIOCore

/// Publisher flow control for the polling transports (Socket.IO's Engine.IO polling, SignalR's long
/// polling): their client sends its packets in POSTs, one at a time (a client sends the next only once the
/// last is answered), each on whatever connection its HTTP client picks — so there is no socket to stop
/// reading. Instead, while the publisher is paused (`PausedPublisher`), the answer to its POST waits: the
/// POST's messages were routed as they came, and the client's next POST is not sent until it is answered, as
/// a paused WebSocket publisher's next frame waits in its socket. ASP.NET Core's long polling does the same:
/// a POST is not completed while its application pipe is over its pause threshold.
///
/// An answer goes when the pause ends (`releaseAll`), the publisher closes (`releaseAll`), or after
/// `atMost` (an HTTP client's request timeout: python-engineio's is 5 s, and a POST that times out ends its
/// session); a POST answered at its cap lets one more POST through per cap while the pause lasts.
/// Confined to the publisher's loop.
package final class HeldPublishAnswers {
    private var waiting: [EventLoopPromise<Void>] = []

    package init() {}

    /// How many answers wait.
    package var count: Int { waiting.count }

    /// A future that succeeds when the answer may go: at once unless `paused`, else when the pause ends or
    /// after `atMost`, whichever comes first. Call on `loop`, the publisher's.
    package func answer(paused: Bool, on loop: any EventLoop, atMost: TimeAmount) -> EventLoopFuture<Void> {
        guard paused else { return loop.makeSucceededVoidFuture() }
        let promise = loop.makePromise(of: Void.self)
        waiting.append(promise)
        loop.scheduleTask(in: atMost) { [weak self] in self?.release(promise) }
        return promise.futureResult
    }

    /// The pause ended, or the publisher closed: every held answer goes.
    package func releaseAll() {
        guard !waiting.isEmpty else { return }
        let released = waiting
        waiting.removeAll()
        for promise in released { promise.succeed(()) }
    }

    private func release(_ promise: EventLoopPromise<Void>) {
        guard let index = waiting.firstIndex(where: { $0.futureResult === promise.futureResult }) else { return }
        waiting.remove(at: index)
        promise.succeed(())
    }
}
