import BusCore
import BusRuntime
import NATSWire
import NIOCore

/// JetStream's side of a NATS connection: `$JS.API` requests and `$JS.ACK` acknowledgements go to the
/// frontend's `JetStreamService`; a publish a stream captures is answered with its PubAck; pulled
/// messages are written here, on the subscription of the pull request's inbox.
extension NATSConnectionHandler: JetStreamClient {
    /// A `$JS.API.…` or `$JS.ACK.…` publish; false when refused (no `+OK`). It is also routed as an
    /// ordinary publish to whoever subscribes to its subject (nats-server's API subjects are ordinary
    /// subjects: a client may watch `$JS.API.CONSUMER.>`).
    func jetStream(_ publish: borrowing NATSPublish, topic: Topic, publisherID: String, timestamp: UInt64) -> Bool {
        let subject = String(buffer: publish.subject)
        var replyTopic: Topic?
        var replySubject: String?
        if publish.hasReply, let reply = publish.replyTo {
            switch machine.publishSubjectReceived(String(buffer: reply), isReply: true) {
            case .refuse(let error):
                run(machine.errorOccurred(error))
                return false
            case .publish(let resolved):
                replyTopic = resolved
                replySubject = String(buffer: reply)
            }
        }
        let tokens = Self.tokens(of: subject)
        // An acknowledgement's or flow control reply's subject names one delivery: it never comes again,
        // so its routing is looked up without caching a plan for it.
        let oneOff: LoopShard.OneOffPrefix? =
            tokens[1] == "ACK" ? Self.acknowledgementTopics : tokens[1] == "FC" ? Self.flowControlTopics : nil
        let routed = if let oneOff { shard.isRoutedOnce(topic, under: oneOff) } else { shard.isRouted(topic) }
        if routed {
            var headers = MessageHeaders()
            headers.replyTo = replyTopic?.name
            shard.publish(
                BusMessage(
                    topic: topic, payload: ByteBuffer(buffer: publish.payload), headers: headers,
                    publisherID: publisherID, timestamp: timestamp))
        }
        let jetStream = services.jetStream
        if tokens[1] == "FC" {
            jetStream.flowControlAnswered(Array(tokens.dropFirst(2)), subject: subject)
            return true
        }
        if tokens[1] == "ACK" {
            jetStream.acknowledge(tokens[2...], payload: publish.payload)
            // An acknowledgement with a reply (nats.py's `ack_sync`) is answered with an empty message.
            if let replyTopic { respond(ByteBuffer(), to: replyTopic) }
            return true
        }
        let responder = makeResponder(replyTopic)
        // `$JS.API.…`, or `$JS.<domain>.API.…` under the configured domain.
        let api = tokens[1] == "API" ? tokens.dropFirst(2) : tokens.dropFirst(3)
        jetStream.request(
            Array(api), payload: ByteBuffer(buffer: publish.payload), client: self, reply: replySubject,
            respond: responder)
        return true
    }

    /// `subject`'s tokens, split by bytes into one array (a `Character` split, then copies of its tail,
    /// were a fifth of a pull consumer's CPU: each acknowledgement is a publish on its own subject).
    static func tokens(of subject: String) -> [Substring] {
        var tokens: [Substring] = []
        tokens.reserveCapacity(10)
        let utf8 = subject.utf8
        var start = utf8.startIndex
        var index = start
        while index != utf8.endIndex {
            if utf8[index] == UInt8(ascii: ".") {
                tokens.append(subject[start..<index])
                start = utf8.index(after: index)
            }
            index = utf8.index(after: index)
        }
        tokens.append(subject[start..<utf8.endIndex])
        return tokens
    }

    /// The topics of acknowledgements and flow control replies (`$JS.ACK.…`, `$JS.FC.…`).
    static let acknowledgementTopics = LoopShard.OneOffPrefix("$JS/ACK")
    static let flowControlTopics = LoopShard.OneOffPrefix("$JS/FC")

    /// The subject a publish's checks see: a JetStream API request may end in a filter subject with
    /// wildcards (`$JS.API.CONSUMER.CREATE.<s>.<c>.orders.>`, which nats-server accepts as a publish
    /// subject); its wildcard tokens are checked (and permitted) as the literal levels `*` and `>`.
    static func checkedSubject(_ subject: String) -> String {
        guard subject.hasPrefix("$JS.API."), subject.contains(where: { $0 == "*" || $0 == ">" }) else { return subject }
        return subject.split(separator: ".", omittingEmptySubsequences: false).map { token in
            switch token {
            case "*": return "%2A"
            case ">": return "%3E"
            default: return String(token)
            }
        }.joined(separator: ".")
    }

    /// Publishes each answer to `replyTopic` from this connection's loop (none without a reply).
    private func makeResponder(_ replyTopic: Topic?) -> JetStreamService.Respond {
        guard let replyTopic else { return { _ in } }
        let bus = self.bus
        let loop = eventLoop
        return { answer in
            loop.execute {
                bus.publish(BusMessage(topic: replyTopic, payload: answer, timestamp: bus.clock()), on: loop)
            }
        }
    }

    private func respond(_ answer: ByteBuffer, to replyTopic: Topic) {
        shard.publish(BusMessage(topic: replyTopic, payload: answer, timestamp: bus.clock()))
    }

    /// A request (it has a reply subject) a stream captures: checked against its `Nats-Expected-*`
    /// headers, appended with its `Nats-Msg-Id`, and answered with the PubAck once stored. Core
    /// subscribers of the subject get it too, without the reply subject. Several instances sharing the
    /// store: this one first claims the stream's partitions (and so reads their tail fresh), so the publish
    /// waits for the claim instead of being refused and its expectations are checked against the stream as
    /// stored (docs/storage.md, "Streams are shared").
    func publishIntoStreams(_ message: BusMessage, replyTopic: Topic) {
        let loop = eventLoop
        let bound = NIOLoopBound(self, eventLoop: loop)
        let ready = bus.streams.ensureWritable(bus.streams.matching(message.topic)) {
            loop.execute { bound.value.appendIntoStreams(message, replyTopic: replyTopic) }
        }
        if ready { appendIntoStreams(message, replyTopic: replyTopic) }
    }

    /// `publishIntoStreams` once this instance may append: the checks, the append, the PubAck.
    private func appendIntoStreams(_ message: BusMessage, replyTopic: Topic) {
        let jetStream = services.jetStream
        if let failure = jetStream.expectationFailure(topic: message.topic, headers: message.headers)
            ?? jetStream.accountLimitRefusal(message)
        {
            respond(JetStreamService.errorAck(failure), to: replyTopic)
            return
        }
        // Stored without the reply subject (as nats-server stores it): the bus keeps no request in a log
        // or stream, and the reply is this PubAck's, not the message's.
        var headers = message.headers
        headers.replyTo = nil
        let stored = BusMessage(
            topic: message.topic, payload: message.payload, headers: headers, publisherID: message.publisherID,
            timestamp: message.timestamp)
        let placement = StreamPlacement(messageID: JetStreamService.messageID(headers))
        let loop = eventLoop
        shard.publish(stored, placement: placement) { [self] acks in
            guard let answer = JetStreamService.pubAck(acks) else { return }
            jetStream.rollUp(acks, topic: stored.topic, headers: headers) {
                loop.execute { self.respond(answer, to: replyTopic) }
            }
        }
    }

    /// A publish a stream would capture that a payload schema refused: its PubAck is the error
    /// (docs/topics.md, "Payload schemas"), as a stream's own refusals are answered.
    func refuseStreamPublish(_ reason: String, replyTopic: Topic) {
        respond(JetStreamService.errorAck(.payloadSchemaViolation(reason)), to: replyTopic)
    }

    /// A push consumer's message: its stored subject, the subscription's sid, the `$JS.ACK` reply.
    func writeJetStreamPush(_ message: BusMessage, subject: ByteBuffer, replyTo: ByteBuffer?, entry: NATSSubscription) {
        if machine.session.headers, let block = NATSHeaderBlock(message.headers) {
            var bytes = ByteBuffer()
            block.write(to: &bytes)
            NATSEncoder.headerMessage(
                &out, subject: subject, sid: entry.sidBytes, replyTo: replyTo, headers: bytes, payload: message.payload)
        } else {
            var prefix = ByteBuffer()
            NATSEncoder.messagePrefix(&prefix, subject: subject, sid: entry.sidBytes)
            NATSEncoder.message(&out, prefix: prefix, replyTo: replyTo, payload: message.payload)
        }
    }

    /// A push consumer's status message (`100 Idle Heartbeat` …) on its deliver subject; only a client
    /// that takes headers can read one (nats-server requires headers for flow control and heartbeats).
    func writeJetStreamStatus(_ message: BusMessage, status: String, replyTo: ByteBuffer?, entry: NATSSubscription) {
        guard machine.session.headers else { return }
        let parts = status.split(separator: " ", maxSplits: 1)
        let block = NATSHeaderBlock(
            status: Int(parts[0]), statusDescription: parts.count == 2 ? String(parts[1]) : nil,
            fields: message.headers.userProperties)
        var bytes = ByteBuffer()
        block.write(to: &bytes)
        NATSEncoder.headerMessage(
            &out, subject: ByteBuffer(string: NATSSubjectMapping.subject(forTopic: message.topic.name)),
            sid: entry.sidBytes, replyTo: replyTo, headers: bytes, payload: ByteBuffer())
    }

    // MARK: - JetStreamClient

    var isOpenForJetStream: Bool { !machine.isClosed && context != nil }

    func hasJetStreamInterest(in inbox: String) -> Bool {
        guard let topic = try? Topic(NATSSubjectMapping.topicName(forSubject: inbox)) else { return false }
        return shard.hasSubscribers(topic)
    }

    func deliverJetStream(_ messages: [JetStreamOutboundMessage], inbox: String) {
        guard isOpenForJetStream, let topic = try? Topic(NATSSubjectMapping.topicName(forSubject: inbox)) else {
            return
        }
        guard
            let subscription = slots.lazy.compactMap({ $0 }).first(where: {
                $0.busSubscription.filter.shareGroup == nil && $0.busSubscription.filter.matches(topic)
            })
        else {
            // The inbox is another connection's: over the bus (the inbox is then the subject).
            for message in messages {
                var headers = message.headers.map(\.messageHeaders) ?? MessageHeaders()
                headers.replyTo = message.replyTo.flatMap { try? NATSSubjectMapping.topicName(forSubject: $0) }
                shard.publish(
                    BusMessage(topic: topic, payload: message.payload, headers: headers, timestamp: bus.clock()))
            }
            return
        }
        for message in messages {
            let subject = ByteBuffer(string: message.subject)
            let reply = message.replyTo.map { ByteBuffer(string: $0) }
            if let headers = message.headers {
                var block = ByteBuffer()
                headers.write(to: &block)
                NATSEncoder.headerMessage(
                    &out, subject: subject, sid: subscription.sidBytes, replyTo: reply, headers: block,
                    payload: message.payload)
            } else {
                var prefix = ByteBuffer()
                NATSEncoder.messagePrefix(&prefix, subject: subject, sid: subscription.sidBytes)
                NATSEncoder.message(&out, prefix: prefix, replyTo: reply, payload: message.payload)
            }
        }
        flushOut()
    }
}
