import BusCore
import BusRuntime
import NIOCore

extension JetStreamService {
    // MARK: - Advisories

    /// nats-server's `$JS.EVENT.ADVISORY.STREAM.<CREATED|UPDATED|DELETED>.<stream>`
    /// (`io.nats.jetstream.advisory.v1.stream_action`), after the change took effect.
    func adviseStream(_ action: Action, _ stream: String) {
        advise(
            "$JS/EVENT/ADVISORY/STREAM/\(action.subjectToken)/\(stream)",
            ["type": "io.nats.jetstream.advisory.v1.stream_action", "stream": stream, "action": action.rawValue])
    }

    /// nats-server's `$JS.EVENT.ADVISORY.CONSUMER.<CREATED|DELETED>.<stream>.<consumer>`
    /// (`io.nats.jetstream.advisory.v1.consumer_action`).
    func adviseConsumer(_ action: Action, stream: String, consumer: String) {
        advise(
            "$JS/EVENT/ADVISORY/CONSUMER/\(action.subjectToken)/\(stream)/\(consumer)",
            [
                "type": "io.nats.jetstream.advisory.v1.consumer_action", "stream": stream, "consumer": consumer,
                "action": action.rawValue,
            ])
    }

    /// What a stream or consumer advisory says happened.
    enum Action: String {
        case create, modify, delete

        var subjectToken: String {
            switch self {
            case .create: "CREATED"
            case .modify: "UPDATED"
            case .delete: "DELETED"
            }
        }
    }

    /// Publishes an advisory (with its `id` and `timestamp`) as JSON, from `loop` when the caller is on a
    /// bus loop, else from the first loop.
    func advise(_ topic: String, _ document: [String: Any], on loop: (any EventLoop)? = nil) {
        var document = document
        let now = bus.clock()
        document["id"] = bus.makeIdentifier()
        document["timestamp"] = JetStreamJSON.time(now)
        var headers = MessageHeaders()
        headers.contentType = "application/json"
        let message = BusMessage(
            topic: Topic(trusted: topic), payload: JetStreamJSON.encode(document), headers: headers, timestamp: now)
        if let loop {
            bus.publish(message, on: loop)
        } else {
            let target = bus.shards[0].eventLoop
            target.execute { [bus] in bus.publish(message, on: target) }
        }
    }
}
