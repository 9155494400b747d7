import BusCore
import BusRuntime
package import NATSWire
package import NIOCore

extension JetStreamService {
    // MARK: - Direct get

    /// `$JS.API.DIRECT.GET.<stream>` with `{"seq"|"last_by_subj"|"next_by_subj"}`, or
    /// `$JS.API.DIRECT.GET.<stream>.<subject…>` without a payload (the subject's last message): answered,
    /// as nats-server does, with the stored message itself — its headers plus `Nats-Stream`,
    /// `Nats-Subject`, `Nats-Sequence`, `Nats-Time-Stamp` — or a `404 Message Not Found` status. A stream
    /// without `allow_direct` has no direct-get responder in nats-server: `503` (no responders) here.
    func directGet(_ words: [String], payload: ByteBuffer, client: any JetStreamClient, reply: String?) {
        guard let reply else { return }
        let name = words[2]
        let loop = client.eventLoop
        directGetAnswer(name, subject: words.dropFirst(3).joined(separator: "."), payload: payload, on: loop)
            .whenSuccess { answer in
                loop.execute { client.deliverJetStream([answer.message(inbox: reply)], inbox: reply) }
            }
    }

    /// The direct-get answer, before it is addressed to the requester's inbox: on `loop`, at once or once
    /// the store has read a record older than the stream keeps in memory.
    package func directGetAnswer(_ name: String, subject: String, payload: ByteBuffer, on loop: any EventLoop)
        -> EventLoopFuture<JetStreamDirectGetAnswer>
    {
        let found: StreamIndexRecord
        switch directGetTarget(name, subject: subject, payload: payload) {
        case .success(let record): found = record
        case .failure(let answer): return loop.makeSucceededFuture(answer.status)
        }
        return record(name, found, on: loop).map { record in
            guard let record else { return .status(404, "Message Not Found") }
            let message = record.record.message
            var fields = NATSHeaderBlock(message.headers)?.fields ?? []
            fields += [
                UserProperty(name: "Nats-Stream", value: name),
                UserProperty(name: "Nats-Subject", value: NATSSubjectMapping.subject(forTopic: message.topic.name)),
                UserProperty(name: "Nats-Sequence", value: String(record.offset)),
                UserProperty(name: "Nats-Time-Stamp", value: JetStreamJSON.time(record.time)),
            ]
            return .message(NATSHeaderBlock(fields: fields), message.payload)
        }
        .recover { _ in .status(503, nil) }
    }

    /// A direct get's answer when it is not a message.
    struct DirectGetRefusal: Error {
        var status: JetStreamDirectGetAnswer
        init(_ status: JetStreamDirectGetAnswer) { self.status = status }
    }

    /// The record a direct get names, from the index, or the status that answers it.
    private func directGetTarget(_ name: String, subject: String, payload: ByteBuffer)
        -> Result<StreamIndexRecord, DirectGetRefusal>
    {
        guard JetStreamStreamConfig.isValidName(name), let box = bus.streams.stream(named: name),
            config(of: box).allowDirect
        else { return .failure(DirectGetRefusal(.status(503, nil))) }
        var request: [String: Any]
        if subject.isEmpty {
            guard payload.readableBytes > 0 else { return .failure(DirectGetRefusal(.status(408, "Empty Request"))) }
            guard let parsed = try? JetStreamJSON.object(payload) else {
                return .failure(DirectGetRefusal(.status(408, "Bad Request")))
            }
            request = parsed
        } else {
            // The subject form takes no payload (nats-server: "last_by_subj" from the subject).
            guard payload.readableBytes == 0 else { return .failure(DirectGetRefusal(.status(408, "Bad Request"))) }
            request = ["last_by_subj": subject]
        }
        do {
            return .success(try findMessage(name, request: request))
        } catch {
            return .failure(
                DirectGetRefusal(
                    error == .noMessageFound ? .status(404, "Message Not Found") : .status(408, "Bad Request")))
        }
    }
}

/// What a direct get answers: the stored message with its headers, or a status.
package enum JetStreamDirectGetAnswer: Sendable, Equatable {
    /// The message (headers with the `Nats-*` additions, payload).
    case message(NATSHeaderBlock, ByteBuffer)
    /// A status (`404 Message Not Found`, `408 Bad Request`, `503`).
    case status(Int, String?)

    func message(inbox: String) -> JetStreamOutboundMessage {
        switch self {
        case .message(let block, let payload):
            return JetStreamOutboundMessage(subject: inbox, replyTo: nil, headers: block, payload: payload)
        case .status(let code, let description):
            let block = NATSHeaderBlock(status: code, statusDescription: description)
            return JetStreamOutboundMessage(subject: inbox, replyTo: nil, headers: block, payload: ByteBuffer())
        }
    }
}
