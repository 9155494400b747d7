import Atomics
import Histogram
import NIOCore

/// A connection that drains a durable pull consumer with explicit acks, as nats.go's `Fetch` loop does:
/// `pulls` requests (`$JS.API.CONSUMER.MSG.NEXT.<stream>.<consumer>`, `{"batch":B,"expires":ns}`) are
/// outstanding at a time, each on its own inbox (`_INBOX.<token>.<k>`, subscription id k + 1, so a
/// message's subscription says which request it fills); every message is acknowledged by publishing
/// `+ACK` to its `$JS.ACK…` reply subject, in the same write as the read that brought it. A request
/// that is filled or ends with a status (404 no messages, 408 expired, 409) is replaced at once; a 100
/// (heartbeat) is ignored.
///
/// `stats.delivered` counts first deliveries acknowledged; redeliveries are counted as errors (none
/// are expected: ack_wait is 30 s). After the last message a `PING` follows the acks; its `PONG`
/// (everything acknowledged was processed by the server) ends the run. Confined to its loop.
final class JetStreamPullConsumerRole: NATSMessageRole, @unchecked Sendable {
    private static let acknowledgement = Array("+ACK".utf8)

    private let stats: LoopStats
    private let count: Int
    private let requestSubject: String
    private let requestBody: [UInt8]
    private let batch: Int
    private let inboxes: [String]
    /// Messages each outstanding request may still bring (index: sid - 1).
    private var remaining: [Int]
    private var link: NATSMessageClientHandler?
    private var consumed = 0
    private var redelivered = 0
    private var subscribed = false
    private var started = false
    private var finalPingSent = false
    private var done = false

    /// - Parameters:
    ///   - count: messages to consume (the stream's contents).
    ///   - pulls: requests outstanding at a time.
    ///   - batch: messages per request.
    ///   - expires: nanoseconds a request waits for messages.
    init(
        stats: LoopStats, count: Int, stream: String, consumer: String, pulls: Int, batch: Int, expires: UInt64,
        inboxToken: String
    ) {
        self.stats = stats
        self.count = count
        self.requestSubject = "$JS.API.CONSUMER.MSG.NEXT.\(stream).\(consumer)"
        self.requestBody = Array(JetStreamRequest.pull(batch: batch, expires: expires).utf8)
        self.inboxes = (0..<max(1, pulls)).map { "_INBOX.\(inboxToken).\($0)" }
        self.remaining = Array(repeating: 0, count: max(1, pulls))
        self.batch = batch
    }

    func linkReady(_ link: NATSMessageClientHandler) {
        self.link = link
        stats.bump(stats.ready)
        for (index, inbox) in inboxes.enumerated() { link.subscribe(inbox, sid: index + 1) }
        link.ping()
        link.flush()
    }

    /// Sends the first requests (on the loop, after the scenario's go).
    func start() {
        guard let link, !started else { return }
        started = true
        for slot in inboxes.indices { request(slot, link: link) }
        link.flush()
    }

    private func request(_ slot: Int, link: NATSMessageClientHandler) {
        remaining[slot] = batch
        link.publish(subject: requestSubject, replyTo: inboxes[slot], payload: requestBody)
    }

    func messageReceived(_ message: NATSInboundMessage, link: NATSMessageClientHandler) {
        let slot = message.sid - 1
        guard started, slot >= 0, slot < remaining.count else { return }
        if let status = message.status {
            switch status {
            case 100:
                return  // idle heartbeat: the request is still open
            case 404, 408:
                break  // no messages now / expired: the request is over
            default:
                stats.recordError(
                    "pull status \(String(decoding: message.headers.prefix(120), as: UTF8.self))")
            }
            remaining[slot] = 0
            if !done && !finalPingSent { request(slot, link: link) }
            return
        }
        guard !message.replyTo.isEmpty else {
            stats.recordError("delivery without a reply subject")
            return
        }
        link.withOutbound { buffer in
            buffer.writeStaticString("PUB ")
            buffer.writeBytes(message.replyTo)
            buffer.writeStaticString(" 4\r\n+ACK\r\n")
        }
        // `$JS.ACK.<stream>.<consumer>.<delivered>.…`: a delivery count above 1 is a redelivery.
        if Self.deliveryCount(message.replyTo) > 1 {
            redelivered += 1
            stats.recordError("redelivered (\(redelivered) so far)")
        } else {
            consumed += 1
            stats.bump(stats.delivered)
        }
        remaining[slot] -= 1
        if remaining[slot] <= 0 && consumed < count { request(slot, link: link) }
    }

    /// The `<delivered>` token of a `$JS.ACK` subject, read without making a String (one per message);
    /// 1 when the subject has another shape.
    static func deliveryCount(_ subject: UnsafeRawBufferPointer) -> Int {
        // v1 has 9 tokens, the delivery count is the 5th (index 4); v2 (12 tokens) has it at index 6.
        let dots = subject.reduce(0) { $0 + ($1 == UInt8(ascii: ".") ? 1 : 0) }
        let token: Int
        switch dots {
        case 8: token = 4
        case 11: token = 6
        default: return 1
        }
        var seen = 0
        var start = 0
        for index in subject.indices where subject[index] == UInt8(ascii: ".") {
            seen += 1
            if seen == token {
                start = index + 1
            } else if seen == token + 1 {
                return NATSMessageLine.number(subject, start..<index) ?? 1
            }
        }
        return 1
    }

    func readProcessed(_ link: NATSMessageClientHandler) {
        guard started, !done else { return }
        if consumed >= count && !finalPingSent {
            finalPingSent = true
            link.ping()
        }
        link.flush()
    }

    func pongReceived(_ link: NATSMessageClientHandler) {
        if !subscribed {
            subscribed = true
            stats.bump(stats.subscribed)
        } else if finalPingSent && !done {
            done = true
            stats.lastDeliveryAt.store(link.readAt, ordering: .relaxed)
            stats.lastPublisherDoneAt.store(link.readAt, ordering: .relaxed)
            stats.bump(stats.publishersDone)
        }
    }

    func errorReceived(_ link: NATSMessageClientHandler, message: String) {
        stats.recordError(message)
    }

    func linkClosed() {
        stats.bump(stats.closed)
        link = nil
    }
}
