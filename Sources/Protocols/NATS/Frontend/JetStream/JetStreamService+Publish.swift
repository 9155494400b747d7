package import BusCore
package import BusRuntime
package import NIOCore

extension JetStreamService {
    // MARK: - Publishing into streams

    /// The `Nats-Msg-Id` of a publish: the stream drops a repeat within its duplicate window.
    package static func messageID(_ headers: MessageHeaders) -> String? {
        headers.userProperties.first { $0.name == "Nats-Msg-Id" }?.value
    }

    /// Checks a publish's `Nats-Expected-*` headers against the stream capturing `topic`; the error to
    /// answer, or nil. Checked just before the append, on the publisher's loop (a publish from another
    /// connection may land in between: the check is not atomic with the append).
    package func expectationFailure(topic: Topic, headers: MessageHeaders) -> JetStreamAPIError? {
        let properties = headers.userProperties
        guard properties.contains(where: { $0.name.hasPrefix("Nats-") }) else { return nil }
        restoreConsumersIfNeeded()  // the stream settings (rollups) come back with the consumers
        func header(_ name: String) -> String? { properties.first { $0.name == name }?.value }
        guard let box = bus.streams.matching(topic).first else { return nil }
        if header("Nats-TTL") != nil { return .messageTTLDisabled }
        if let value = header(JetStreamRollup.header) {
            do { _ = try JetStreamRollup(value: value) } catch { return error }
            let config = config(of: box)
            // nats-server refuses a rollup unless the stream allows it, and never on a stream that denies purges.
            guard config.allowRollup, !config.denyPurge else { return .rollupFailed("rollup not permitted") }
        }
        if let expected = header("Nats-Expected-Stream"), expected != box.name { return .expectedStreamMismatch }
        let last = box.partitions[0].info.lastOffset
        if let text = header("Nats-Expected-Last-Sequence"), let expected = UInt64(text), expected != last {
            return .wrongLastSequence(last)
        }
        if let text = header("Nats-Expected-Last-Subject-Sequence"), let expected = UInt64(text) {
            let lastOnSubject = (try? bus.streams.last(box.name, partition: 0, subject: topic.name))?.offset ?? 0
            if expected != lastOnSubject { return .wrongLastSequence(lastOnSubject) }
        }
        if let expected = header("Nats-Expected-Last-Msg-Id") {
            let record = try? bus.streams.newest(box.name, partition: 0)
            let lastID = record.flatMap { Self.messageID($0.record.message.headers) } ?? ""
            if expected != lastID { return .wrongLastMessageID(lastID) }
        }
        return nil
    }

    /// After a stored publish with `Nats-Rollup` (checked by `expectationFailure`): removes what the rollup
    /// replaces — every earlier message of its subject, or of the stream — then calls `done` (nats-server
    /// purges before it answers the PubAck, so a read after the PubAck sees the rollup done).
    package func rollUp(
        _ acks: [StreamAppendAck], topic: Topic, headers: MessageHeaders, done: @escaping @Sendable () -> Void
    ) {
        guard let value = headers.userProperties.first(where: { $0.name == JetStreamRollup.header })?.value,
            let rollup = try? JetStreamRollup(value: value),
            let ack = acks.first(where: { JetStreamStreamConfig.isValidName($0.stream) }),
            case .stored = ack.outcome
        else { return done() }
        let subject = rollup == .subject ? Self.rollupFilter(topic) : nil
        bus.streams.purge(ack.stream, partition: 0, subject: subject, before: ack.offset) { _ in done() }
    }

    /// What a `sub` rollup on `topic` purges. A subject with a wildcard token, which a client that is not
    /// pedantic may publish (KV's `purge("a.*")`), rolls up every subject it matches, as nats-server's
    /// purge by subject does: its `*` levels match any one level, a last `>` level the rest. The rollup's
    /// own record matches too and stays (the purge is of what is before it).
    static func rollupFilter(_ topic: Topic) -> TopicFilter? {
        let levels = topic.name.split(separator: "/", omittingEmptySubsequences: false)
        guard levels.contains(where: { $0 == "*" || $0 == ">" }) else { return try? TopicFilter(topic.name) }
        return try? TopicFilter(
            levels.enumerated().map { index, level in
                if level == "*" { return "+" }
                if level == ">" && index == levels.count - 1 { return "#" }
                return String(level)
            }.joined(separator: "/"))
    }

    /// The PubAck for the streams' answers: `{"stream","seq"[,"duplicate":true]}`, or the error of a
    /// refusal (nats-server's texts: "maximum messages exceeded" …); nil when no stream answered.
    package static func pubAck(_ acks: [StreamAppendAck]) -> ByteBuffer? {
        guard let ack = acks.first(where: { JetStreamStreamConfig.isValidName($0.stream) }) ?? acks.first else {
            return nil
        }
        switch ack.outcome {
        case .stored:
            return written(ack, duplicate: false)
        case .duplicate:
            return written(ack, duplicate: true)
        case .refused(let reason):
            return errorAck(refusal(reason))
        }
    }

    /// `{"stream":"<name>","seq":<n>}` (and `"duplicate":true`), written directly: one per acknowledged
    /// publish, where a JSON serialiser over `[String: Any]` cost a third of the server's time. A stream
    /// name is letters, digits, `.`, `_` and `-` (`StreamConfiguration.problem`): nothing to escape.
    private static func written(_ ack: StreamAppendAck, duplicate: Bool) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.reserveCapacity(48 + ack.stream.utf8.count)
        buffer.writeStaticString("{\"stream\":\"")
        buffer.writeString(ack.stream)
        buffer.writeStaticString("\",\"seq\":")
        buffer.writeString(String(ack.offset))
        if duplicate { buffer.writeStaticString(",\"duplicate\":true") }
        buffer.writeStaticString("}")
        return buffer
    }

    /// A PubAck that is an error.
    package static func errorAck(_ error: JetStreamAPIError) -> ByteBuffer {
        JetStreamJSON.encode(["error": error.json])
    }

    /// nats-server's error for a stream's refusal (`StreamAppendRefusal`'s raw values, or words).
    static func refusal(_ reason: String) -> JetStreamAPIError {
        switch reason {
        case StreamAppendRefusal.messageTooLarge.rawValue: return .messageTooLarge
        case StreamAppendRefusal.maxMessages.rawValue: return .storeFailed("maximum messages exceeded")
        case StreamAppendRefusal.maxBytes.rawValue: return .storeFailed("maximum bytes exceeded")
        case StreamAppendRefusal.sealed.rawValue: return .streamSealed
        case StreamAppendRefusal.maxMessagesPerSubject.rawValue:
            return .storeFailed("maximum messages per subject exceeded")
        default: return .storeFailed(reason)
        }
    }
}
