import Atomics
import Histogram
import NIOCore

/// A connection that publishes into a JetStream stream asynchronously, as nats.go's `PublishAsync` and
/// nats.py's `publish_async` do: every message has its own reply subject `_INBOX.<token>.<n>` (one
/// wildcard subscription receives them all), and up to `window` PubAcks may be outstanding; each PubAck
/// that arrives lets one more message go, written at the end of the read that brought it.
///
/// `stats.sent` counts messages written, `stats.delivered` PubAcks with a sequence (stored), and the
/// histogram the publish → PubAck time. Done when every message is answered. Confined to its loop.
final class JetStreamPublisherRole: NATSMessageRole, @unchecked Sendable {
    /// The subscription id of the PubAck inbox.
    static let inboxSID = 1

    private let stats: LoopStats
    private let count: Int
    private let window: Int
    private let subject: String
    private let inboxPrefix: String
    private let payload: [UInt8]
    /// `PUB <subject> _INBOX.<token>.` and ` <size>\r\n`: the line around each message's number.
    private let lineStart: [UInt8]
    private let lineEnd: [UInt8]
    /// Written messages' send times by `n % window` (PubAcks of one stream come back in order).
    private var sentAt: [UInt64]
    private var link: NATSMessageClientHandler?
    private var written = 0
    private var answered = 0
    private var credits = 0
    private var subscribed = false
    private var started = false
    private var done = false

    /// - Parameters:
    ///   - count: messages to publish.
    ///   - window: PubAcks that may be outstanding.
    ///   - subject: the subject published to (one the stream captures).
    ///   - inboxToken: unique per connection, for its reply subjects.
    init(stats: LoopStats, count: Int, window: Int, subject: String, payloadSize: Int, inboxToken: String) {
        self.stats = stats
        self.count = count
        self.window = max(1, window)
        self.subject = subject
        self.inboxPrefix = "_INBOX.\(inboxToken)."
        self.payload = (0..<payloadSize).map { UInt8(ascii: "a") + UInt8($0 % 26) }
        self.sentAt = Array(repeating: 0, count: max(1, window))
        self.lineStart = Array("PUB \(subject) _INBOX.\(inboxToken).".utf8)
        self.lineEnd = Array(" \(payloadSize)\r\n".utf8)
    }

    func linkReady(_ link: NATSMessageClientHandler) {
        self.link = link
        stats.bump(stats.ready)
        link.subscribe(inboxPrefix + "*", sid: Self.inboxSID)
        link.ping()
        link.flush()
    }

    func pongReceived(_ link: NATSMessageClientHandler) {
        guard !subscribed else { return }
        subscribed = true
        stats.bump(stats.subscribed)
    }

    /// Starts publishing (on the loop, after the scenario's go).
    func start() {
        guard let link, !started else { return }
        started = true
        credits = window
        writeAllowed(link, now: BenchClock.now())
        link.flush()
    }

    func messageReceived(_ message: NATSInboundMessage, link: NATSMessageClientHandler) {
        guard message.sid == Self.inboxSID, started else { return }
        // `n` is the reply subject's last token, i.e. the last digits of the subject it arrives on.
        var n = 0
        var multiplier = 1
        var index = message.subject.count - 1
        while index >= 0, message.subject[index] &- UInt8(ascii: "0") < 10 {
            n += Int(message.subject[index] &- UInt8(ascii: "0")) * multiplier
            multiplier *= 10
            index -= 1
        }
        answered += 1
        credits += 1
        switch JetStreamPubAck.parse(message.payload) {
        case .stored:
            stats.bump(stats.delivered)
            stats.lastDeliveryAt.store(link.readAt, ordering: .relaxed)
            _ = stats.latency.record(link.readAt &- min(sentAt[n % window], link.readAt))
        case .failed(let text):
            stats.recordError("PubAck: \(text)")
        }
    }

    func readProcessed(_ link: NATSMessageClientHandler) {
        guard started, !done else { return }
        if answered >= count {
            done = true
            stats.lastPublisherDoneAt.store(link.readAt, ordering: .relaxed)
            stats.bump(stats.publishersDone)
            return
        }
        writeAllowed(link, now: link.readAt)
        link.flush()
    }

    /// Writes as many messages as the window and the count allow.
    private func writeAllowed(_ link: NATSMessageClientHandler, now: UInt64) {
        let allowed = min(credits, count - written)
        guard allowed > 0 else { return }
        credits -= allowed
        link.withOutbound { buffer in
            for _ in 0..<allowed {
                sentAt[written % window] = now
                buffer.writeBytes(lineStart)
                Self.writeDecimal(written, to: &buffer)
                buffer.writeBytes(lineEnd)
                buffer.writeBytes(payload)
                buffer.writeStaticString("\r\n")
                written += 1
            }
        }
        stats.bump(stats.sent, by: allowed)
    }

    /// Writes `value` in decimal without making a String (one per published message).
    static func writeDecimal(_ value: Int, to buffer: inout ByteBuffer) {
        var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)  // room for 24 digits
        withUnsafeMutableBytes(of: &digits) { scratch in
            var index = scratch.count
            var rest = value
            repeat {
                index -= 1
                scratch[index] = UInt8(ascii: "0") + UInt8(rest % 10)
                rest /= 10
            } while rest > 0
            buffer.writeBytes(UnsafeRawBufferPointer(rebasing: scratch[index...]))
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
