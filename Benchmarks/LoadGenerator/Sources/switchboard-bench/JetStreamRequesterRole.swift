import NIOCore

/// A connection for the JetStream API's request/reply calls (stream and consumer creation, info):
/// each request gets the reply subject `_INBOX.<token>.<n>` and a promise the answer's payload
/// fulfils. Not measured. Confined to its loop; ``request(_:body:)`` may be called from any thread.
final class JetStreamRequesterRole: NATSMessageRole, @unchecked Sendable {
    private static let inboxSID = 1

    private let loop: any EventLoop
    private let inboxToken: String
    private let readyPromise: EventLoopPromise<Void>
    private var link: NATSMessageClientHandler?
    private var nextRequest = 0
    private var waiting: [Int: EventLoopPromise<String>] = [:]
    private var isReady = false

    /// Succeeds once the connection is ready and its inbox subscribed.
    var ready: EventLoopFuture<Void> { readyPromise.futureResult }

    init(loop: any EventLoop, inboxToken: String) {
        self.loop = loop
        self.inboxToken = inboxToken
        self.readyPromise = loop.makePromise()
    }

    /// Publishes `body` to `subject` with a fresh reply subject; the future has the answer's payload.
    func request(_ subject: String, body: String) -> EventLoopFuture<String> {
        loop.flatSubmit {
            guard let link = self.link else {
                return self.loop.makeFailedFuture(BenchError.setupFailed("NATS connection not ready"))
            }
            self.nextRequest += 1
            let promise = self.loop.makePromise(of: String.self)
            self.waiting[self.nextRequest] = promise
            link.publish(
                subject: subject, replyTo: "_INBOX.\(self.inboxToken).\(self.nextRequest)", payload: Array(body.utf8))
            link.flush()
            return promise.futureResult
        }
    }

    func linkReady(_ link: NATSMessageClientHandler) {
        self.link = link
        link.subscribe("_INBOX.\(inboxToken).*", sid: Self.inboxSID)
        link.ping()
        link.flush()
    }

    func pongReceived(_ link: NATSMessageClientHandler) {
        guard !isReady else { return }
        isReady = true
        readyPromise.succeed(())
    }

    func messageReceived(_ message: NATSInboundMessage, link: NATSMessageClientHandler) {
        let subject = String(decoding: message.subject, as: UTF8.self)
        guard let token = subject.split(separator: ".").last, let number = Int(token),
            let promise = waiting.removeValue(forKey: number)
        else { return }
        if let status = message.status, status >= 300 {
            // 503: no responders (the server has no JetStream).
            promise.fail(
                BenchError.setupFailed("status \(String(decoding: message.headers, as: UTF8.self)) for request"))
        } else {
            promise.succeed(String(decoding: message.payload, as: UTF8.self))
        }
    }

    func readProcessed(_ link: NATSMessageClientHandler) {}

    func errorReceived(_ link: NATSMessageClientHandler, message: String) {
        failAll(message)
    }

    func linkClosed() {
        failAll("connection closed")
        link = nil
    }

    private func failAll(_ message: String) {
        let error = BenchError.setupFailed(message)
        if !isReady {
            isReady = true
            readyPromise.fail(error)
        }
        for promise in waiting.values { promise.fail(error) }
        waiting.removeAll()
    }
}
