import AMQPWire
import BusCore
import BusRuntime
import FrontendKit
import NIOCore
import NIOEmbedded
import SwitchboardTestSupport
import Testing

@testable import AMQPFrontend

/// Stateful fuzzing of the AMQP 0-9-1 connection handler (issue 26): after the handshake (or a damaged
/// one), random method and content frames — publishes with and without publisher confirms, queue
/// declarations and bindings, consumers, acks, gets, transactions, channel and connection closes — valid
/// ones in random orders, mutated, truncated or split across reads, with writability changes, time
/// passing (heartbeats, close-ok waits) and publications from elsewhere, each through a fresh handler on
/// an EmbeddedChannel. After each: no crash, no consumer or bus subscription of the connection left once
/// closed (durable queues it declared stay), a confirm (basic.ack / basic.nack) only on a channel in
/// confirm mode and for a tag no greater than the publishes it had, a delivery only on a channel that
/// consumed, each `*-ok` answering a request.
@Suite struct AMQPStatefulFuzzTests {
    static let routingKeys = ["a.b", "a.c", "x"]

    @Test func randomFrameSequencesNeitherCrashLeakNorAcknowledgeWhatWasNotDone() throws {
        for failure in try StatefulFuzzPlan(defaultIterations: 100).failures(
            "AMQPStatefulFuzzTests", of: Self.runSequence)
        {
            Issue.record(Comment(rawValue: failure))
        }
    }

    /// The check itself: a confirm on a channel not in confirm mode, and one past the publishes, are caught.
    @Test func theCheckCatchesConfirmsOfPublishesNeverMade() {
        let publish = Self.bytes(.basic(.publish(AMQPBasicPublish(exchange: "", routingKey: "q"))), channel: 1)
        var transcript = StatefulFuzzTranscript()
        transcript.input =
            AMQPProtocolHeader.supportedBytes + Self.bytes(.channel(.open), channel: 1) + publish
            + Self.bytes(.channel(.open), channel: 2) + Self.bytes(.confirm(.select(noWait: false)), channel: 2)
            + Self.bytes(.basic(.publish(AMQPBasicPublish(exchange: "", routingKey: "q"))), channel: 2)
        transcript.output =
            Self.bytes(.basic(.ack(deliveryTag: 1, multiple: false)), channel: 1)
            + Self.bytes(.basic(.ack(deliveryTag: 1, multiple: false)), channel: 2)
            + Self.bytes(.basic(.ack(deliveryTag: 2, multiple: false)), channel: 2)
        let problems = Self.acknowledgementProblems(transcript)
        #expect(problems.count == 2, "\(problems)")
        #expect(problems.contains { $0.contains("not in confirm mode") })
        #expect(problems.contains { $0.contains("tag 2 on channel 2 after 1 publishes") })
    }

    static func runSequence(seed: UInt64) throws -> [String] {
        var random = SplitMix(state: seed)
        let harness = EmbeddedBusHarness()
        let hosts = VirtualHosts(
            bus: harness.bus, metricsSlot: harness.bus.metrics.slot(for: "queues"))
        let services = AMQPServices(
            configuration: AMQPConfiguration(), bus: harness.bus, connections: harness.connections,
            authenticator: StaticTokenAuthenticator(allowsAnonymous: true, tokens: [:]), virtualHosts: hosts)
        var header = ByteBuffer()
        AMQPProtocolHeader.write(to: &header)
        let heartbeat = UInt16.random(in: 0...2, using: &random)
        let opening: [[UInt8]] = [
            Array(header.readableBytesView),
            bytes(
                .connection(
                    .startOk(
                        AMQPConnectionStartOk(
                            clientProperties: [:], mechanism: "PLAIN",
                            response: AMQPSASL.plainResponse(username: "guest", password: "guest"), locale: "en_US"))),
                channel: 0),
            bytes(
                .connection(.tuneOk(AMQPConnectionTune(channelMax: 16, frameMax: 65_536, heartbeat: heartbeat))),
                channel: 0),
            bytes(.connection(.open(virtualHost: "/")), channel: 0),
            bytes(.channel(.open), channel: 1),
        ]
        let script = StatefulFuzzScript(opening: opening, topics: ["a/b", "a/c", "x"]) { random in
            frames(using: &random)
        }
        let steps = script.steps(using: &random)
        let channel = try harness.connectedChannel([AMQPConnectionHandler(services: services)])
        let transcript = harness.run(steps, on: channel)
        var problems = acknowledgementProblems(transcript)
        problems += harness.leaks(
            after: channel, subscriptionsBefore: nil, probes: ["a/b", "a/c", "x"],
            isLeak: { !$0.subscriberID.hasPrefix("queue:") })
        for host in hosts.all {
            for queue in host.queues where queue.consumerCount > 0 {
                problems.append("queue \(queue.name) still has \(queue.consumerCount) consumers after the close")
            }
        }
        return problems
    }

    static func bytes(_ method: AMQPMethod, channel: UInt16) -> [UInt8] {
        Array(method.frame(channel: channel).readableBytesView)
    }

    /// Any frame (or publish with its content frames) a client may send after the handshake.
    static func frames(using random: inout SplitMix) -> [UInt8] {
        // Mostly channel 1; sometimes 2 (opened or not), to mix channel states.
        let number: UInt16 = Int.random(in: 0..<5, using: &random) == 0 ? 2 : 1
        let queue = ["q1", "q2", ""].randomElement(using: &random)!
        let tag = UInt64.random(in: 0...4, using: &random)
        let method: AMQPMethod
        switch Int.random(in: 0..<20, using: &random) {
        case 0..<5:
            let publish =
                Bool.random(using: &random)
                ? AMQPBasicPublish(exchange: "amq.topic", routingKey: routingKeys.randomElement(using: &random)!)
                : AMQPBasicPublish(exchange: "", routingKey: queue, mandatory: Bool.random(using: &random))
            var bytes = ByteBuffer()
            AMQPDeliveryEncoder.write(
                .basic(.publish(publish)), channel: number,
                content: AMQPEncodedContent(
                    properties: AMQPBasicProperties(deliveryMode: Bool.random(using: &random) ? 2 : 1),
                    body: ByteBuffer(string: "m")),
                frameMax: 65_536, to: &bytes)
            return Array(bytes.readableBytesView)
        case 5, 6: method = .confirm(.select(noWait: Int.random(in: 0..<4, using: &random) == 0))
        case 7:
            method = .queue(
                .declare(
                    AMQPQueueDeclare(
                        queue: queue, durable: Bool.random(using: &random), exclusive: Bool.random(using: &random),
                        autoDelete: Bool.random(using: &random))))
        case 8:
            method = .queue(
                .bind(
                    AMQPQueueBind(
                        queue: queue, exchange: "amq.topic",
                        routingKey: ["a.#", "a.b", "*.c"].randomElement(using: &random)!)))
        case 9, 10:
            method = .basic(
                .consume(AMQPBasicConsume(queue: queue, consumerTag: "c\(tag)", noAck: Bool.random(using: &random))))
        case 11: method = .basic(.cancel(consumerTag: "c\(tag)", noWait: false))
        case 12: method = .basic(.ack(deliveryTag: tag, multiple: Bool.random(using: &random)))
        case 13:
            method = .basic(
                .nack(deliveryTag: tag, multiple: Bool.random(using: &random), requeue: Bool.random(using: &random)))
        case 14: method = .basic(.get(queue: queue, noAck: Bool.random(using: &random)))
        case 15: method = .basic(.qos(AMQPBasicQos(prefetchCount: UInt16.random(in: 0...2, using: &random))))
        case 16: method = .tx([.select, .commit, .rollback].randomElement(using: &random)!)
        case 17:
            method =
                Bool.random(using: &random)
                ? .channel(.open) : .channel(.close(AMQPClose(replyCode: 200, replyText: "bye")))
        case 18: method = .connection(.close(AMQPClose(replyCode: 200, replyText: "bye")))
        default: return AMQPFrame.heartbeatBytes
        }
        return bytes(method, channel: number)
    }

    /// Per channel, what the client asked of it, as the server's decoder reads the input.
    struct ChannelRequests {
        var opens = 0
        var confirmMode = false
        var publishesSinceSelect: UInt64 = 0
        var consumes = 0
        var gets = 0
    }

    static func acknowledgementProblems(_ transcript: StatefulFuzzTranscript) -> [String] {
        var channels: [UInt16: ChannelRequests] = [:]
        var input = ByteBuffer(bytes: transcript.input)
        guard input.readBytes(length: AMQPProtocolHeader.size) == AMQPProtocolHeader.supportedBytes else { return [] }
        while let frame = try? AMQPFrameDecoder.decodeFrame(&input, frameMax: 131_072) {
            guard frame.type == .method, let method = try? AMQPMethod.decode(frame.payload, limits: AMQPLimits()) else {
                continue
            }
            switch method {
            case .channel(.open): channels[frame.channel, default: .init()].opens += 1
            case .confirm(.select): channels[frame.channel, default: .init()].confirmMode = true
            case .basic(.publish):
                if channels[frame.channel]?.confirmMode == true { channels[frame.channel]!.publishesSinceSelect += 1 }
            case .basic(.consume): channels[frame.channel, default: .init()].consumes += 1
            case .basic(.get): channels[frame.channel, default: .init()].gets += 1
            default: break
            }
        }
        var problems: [String] = []
        var output = ByteBuffer(bytes: transcript.output)
        if output.readableBytesView.starts(with: Array("AMQP".utf8)) {
            output.moveReaderIndex(forwardBy: AMQPProtocolHeader.size)
        }
        var openOks: [UInt16: Int] = [:]
        do {
            while let frame = try AMQPFrameDecoder.decodeFrame(&output, frameMax: 1 << 20) {
                guard frame.type == .method else { continue }
                let method = try AMQPMethod.decode(frame.payload, limits: AMQPLimits())
                let requests = channels[frame.channel] ?? .init()
                switch method {
                case .channel(.openOk):
                    openOks[frame.channel, default: 0] += 1
                    if openOks[frame.channel]! > requests.opens {
                        problems.append("channel.open-ok \(frame.channel) without a channel.open")
                    }
                case .basic(.ack(let tag, _)), .basic(.nack(let tag, _, _)):
                    if !requests.confirmMode {
                        problems.append("a confirm (tag \(tag)) on channel \(frame.channel), not in confirm mode")
                    } else if tag == 0 || tag > requests.publishesSinceSelect {
                        problems.append(
                            "a confirm of tag \(tag) on channel \(frame.channel) after \(requests.publishesSinceSelect) publishes"
                        )
                    }
                case .basic(.deliver) where requests.consumes == 0:
                    problems.append("basic.deliver on channel \(frame.channel), which never consumed")
                case .basic(.getOk), .basic(.getEmpty):
                    if requests.gets == 0 {
                        problems.append("a basic.get answer on channel \(frame.channel) without a basic.get")
                    }
                default: break
                }
            }
        } catch {
            problems.append("the server wrote a frame that does not decode: \(error)")
        }
        if output.readableBytes > 0 {
            problems.append("the server wrote \(output.readableBytes) bytes of a partial frame")
        }
        return problems
    }
}
