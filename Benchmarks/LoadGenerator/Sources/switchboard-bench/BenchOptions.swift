import ArgumentParser
import Foundation
import NIOCore

/// The scenarios the load generator runs. Every run ends by itself (count and time cap).
enum BenchScenarioKind: String, CaseIterable, ExpressibleByArgument, Sendable {
    /// P publishers, no subscribers; the last batch is confirmed by a round trip.
    case pub
    /// P publishers → S subscribers on one channel (every subscriber gets every message), windowed.
    case pubsub
    /// 1 publisher → N subscribers (pubsub with one publisher and 1000 subscribers by default).
    case fanout
    /// 1 publisher, 1 subscriber: publish one, wait for its delivery, repeat.
    case latency
    /// Open N connections and hold them idle; reports server RSS per connection.
    case conns
    /// C workers each connect, finish the handshake and disconnect, in a loop.
    case churn
    /// Kafka REST Proxy v2: P connections POST batches of `--batch` records (KafkaRESTScenario).
    case kafkaProduce = "kafka-produce"
    /// Kafka REST Proxy v2: one consumer instance reads `--count` records produced beforehand.
    case kafkaConsume = "kafka-consume"
    /// Kafka REST Proxy v2: one record per request, one request in flight.
    case kafkaLatency = "kafka-latency"
    /// Records (docs/records.md): P connections POST record creates; one WebSocket counts the change events.
    case recordsCreate = "records-create"
    /// Records: one creator at `--rate`, N token-authenticated WebSocket subscribers on the collection,
    /// view rule `owner = @request.auth.id || public = true`, every record public.
    case recordsFanout = "records-fanout"
    /// As `records-fanout`, but every other record is private to `--private-owner` (one subscriber's user).
    case recordsFanoutMixed = "records-fanout-mixed"
    /// JetStream over NATS: P connections publish into a stream, `--window` PubAcks outstanding each.
    case jsPublish = "js-publish"
    /// JetStream over NATS: a durable pull consumer with explicit acks drains `--count` stored messages.
    case jsConsume = "js-consume"
    /// Collaboration votes (issue 21): N token-authenticated WebSocket participants subscribed to one vote,
    /// each casting one ballot by rpc within `--duration`; tally and result latencies.
    case collabVote = "collab-vote"
    /// Issue 25 over NATS: `--subscriptions` over `--topics` on `--connections`, added in `--steps`; at each
    /// step the subscribe rate, server RSS per subscription and a publish phase (ScaleScenario).
    case scale
    /// Issue 25 over NATS: connections each subscribed to its own subject, added in `--steps`; at each
    /// step the server RSS per connection and a publish phase cycling over the subjects.
    case scaleConns = "scale-conns"
}

extension BenchProtocolKind: ExpressibleByArgument {}
extension STOMPAckMode: ExpressibleByArgument {}
extension STOMPDestinationKind: ExpressibleByArgument {}

/// Options shared by every scenario.
struct BenchOptions: ParsableArguments {
    @Option(
        name: .customLong("protocol"),
        help:
            "Wire protocol: ws, nats, mqtt, amqp, stomp, sse (SSE subscribers, WebSocket publishers), socketio (Engine.IO WebSocket transport), socketio-polling (long-polling subscribers, WebSocket publishers), signalr (JSON hub protocol) or signalr-msgpack (MessagePack hub protocol)."
    )
    var wire: BenchProtocolKind = .ws

    @Option(help: "Server URL, e.g. ws://127.0.0.1:8080/ws or nats://127.0.0.1:4222 (overrides --host/--port/--path).")
    var url: String?

    @Option(help: "Server host; loopback only.")
    var host = "127.0.0.1"

    @Option(
        help:
            "Server port (default 8080 for ws, sse, socketio and signalr, 4222 for nats, 1883 for mqtt, 5672 for amqp, 61613 for stomp)."
    )
    var port: Int?

    @Option(
        help:
            "HTTP path of the endpoint (default /ws; /socket.io/ for socketio and socketio-polling; /hubs/switchboard for signalr and signalr-msgpack)."
    )
    var path: String?

    @Option(
        name: .customLong("subscriber-ports"),
        help:
            "Comma-separated ports of other instances of the same server (joined through Redis, docs/redis.md): subscribers are spread over them in turn (fanout, pubsub), or the latency subscriber uses the first; publishers stay on --port."
    )
    var subscriberPortList: String?

    /// `--subscriber-ports`, parsed (empty: subscribers use `--port` like everyone).
    var subscriberPorts: [Int] {
        (subscriberPortList ?? "").split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
    }

    @Option(help: "Channel (topic / subject) to publish and subscribe on.")
    var channel = "bench"

    @Option(help: "Quality of service where the protocol has it (mqtt: 0 or 1).")
    var qos = 0

    @Flag(
        help:
            "mqtt: persistent sessions (Clean Session 0), so the broker keeps (and may store) QoS 1 messages. amqp: a durable queue and persistent messages (delivery-mode 2)."
    )
    var persistent = false

    @Option(
        help: "amqp: prefetch count (basic.qos) per consumer; stomp: SUBSCRIBE prefetch-count header; 0 = unlimited.")
    var prefetch = 0

    @Flag(help: "amqp: consumers use no-ack (auto-ack) instead of acknowledging each read's deliveries.")
    var autoAck = false

    @Flag(help: "amqp: publisher confirms (confirm.select); a batch is acknowledged by its last message's confirm.")
    var confirms = false

    @Option(help: "stomp: the channel names /topic/<channel> (topic) or /queue/<channel> (queue).")
    var stompDestination = STOMPDestinationKind.topic

    @Option(
        help:
            "stomp: subscription ack mode: auto, client (one cumulative ACK per read) or client-individual (one ACK per MESSAGE, sent per read)."
    )
    var stompAck = STOMPAckMode.auto

    @Option(
        help:
            "Payload size in bytes (it carries the send timestamp: min 23 for ws, mqtt, socketio and signalr, 16 for nats, amqp and stomp)."
    )
    var size = 64

    @Option(help: "Messages to publish in total (pub/pubsub/fanout/latency) or connect cycles (churn).")
    var count: Int?

    @Option(
        name: .customLong("duration"),
        help:
            "Time cap in seconds for the measured phase (default 30); collab-vote: seconds the ballots are spread over (default 1)."
    )
    var durationOption: Double?

    /// `--duration`, or 30 s when not given.
    var duration: Double { durationOption ?? 30 }

    @Option(help: "Total publish rate in messages per second; 0 = as fast as the window allows.")
    var rate: Double = 0

    @Option(help: "Publisher connections.")
    var publishers = 1

    @Option(help: "Subscriber connections (default 10 for pubsub, 1000 for fanout).")
    var subscribers: Int?

    @Option(
        help:
            "Connections for conns (default 1000), subscriber connections for scale (default 100) or scale-conns (default 18000), or concurrent workers for churn (default 50)."
    )
    var connections: Int?

    @Option(help: "Event loop threads of the tool (default: number of cores).")
    var threads = System.coreCount

    @Option(help: "A publisher asks for an acknowledgement every this many messages.")
    var ackEvery = 100

    @Option(help: "kafka-produce, kafka-consume: records per produce request; js-consume: messages per pull request.")
    var batch = 100

    @Option(help: "js-consume: pull requests outstanding at a time.")
    var pulls = 2

    @Option(help: "js-publish, js-consume: the stream's storage, file or memory.")
    var storage = "file"

    @Option(
        help:
            "records-fanout, collab-vote: subscriber i connects with /ws?token=<prefix><i> (the server's tokens map names them); none = anonymous (collab-vote: tok-)."
    )
    var tokenPrefix: String?

    @Option(help: "collab-vote: voter i is user <prefix><i> (its token's user in the server's tokens map).")
    var userPrefix = "u"

    @Option(help: "records scenarios, collab-vote: the API key sent as Authorization: Bearer with every REST request.")
    var apiKey: String?

    @Option(help: "records-fanout-mixed: the user id that owns the private records (subscriber 0's user).")
    var privateOwner = "u0"

    @Option(help: "Acknowledgements a publisher may have outstanding (js-publish: PubAcks per connection).")
    var window = 10

    @Option(
        help:
            "Messages a publisher may have in flight end to end (published, not yet delivered); 0 = off. Default 20 for fanout, 2000 for pubsub."
    )
    var deliveryWindow: Int?

    @Option(help: "Seconds conns holds the connections open after all are up.")
    var hold: Double = 3

    @Option(
        help:
            "churn: mean seconds a connection lives after its handshake (each a random 0.125-1.875 times it), so the workers hold that many connections open; 0 = closed at once. With it, --rate staggers the workers' first connects (per second)."
    )
    var lifetime: Double = 0

    @Option(help: "PID of the server, to report its CPU seconds and RSS.")
    var serverPid: Int32?

    @Option(help: "conns: connections per process; more are spread over child processes bound to 127.0.0.x.")
    var connectionsPerProcess = 15_000

    @Option(help: "scale: subscriptions at the last step (the largest --steps value kept).")
    var subscriptions = 1_000_000

    @Option(help: "scale: subjects the subscriptions are spread over (subscription i on subject i mod topics).")
    var topics = 100_000

    @Option(
        help:
            "scale, scale-conns: comma-separated counts to measure at (default 1000,10000,100000,1000000 subscriptions; 1000,10000,18000 connections)."
    )
    var steps: String?

    @Option(help: "scale, scale-conns: seconds of publishing at each step.")
    var publishSeconds: Double = 3

    @Flag(help: "Print one JSON object instead of text.")
    var json = false

    @Option(help: .hidden)
    var childIndex: Int?

    /// The target after applying --url, with the loopback rule enforced.
    func resolvedTarget() throws -> BenchTarget {
        var target = BenchTarget(
            host: host, port: port ?? wire.defaultPort, path: path ?? wire.defaultPath, channel: channel, qos: qos,
            persistent: persistent,
            prefetch: prefetch, autoAck: autoAck, confirms: confirms, stompDestination: stompDestination,
            stompAck: stompAck)
        if let url, let components = URLComponents(string: url) {
            target.host = components.host ?? target.host
            target.port = components.port ?? target.port
            if !components.path.isEmpty { target.path = components.path }
        }
        if target.host == "localhost" { target.host = "127.0.0.1" }
        // Load is only ever sent to this machine (see docs/benchmarks.md).
        guard target.host.hasPrefix("127.") || target.host == "::1" else {
            throw ValidationError("only loopback targets are allowed (127.0.0.0/8, ::1), not \(target.host)")
        }
        return target
    }
}
