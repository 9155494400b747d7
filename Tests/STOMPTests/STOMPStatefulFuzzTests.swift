import BusCore
import BusRuntime
import FrontendKit
import NIOCore
import NIOEmbedded
import STOMPWire
import SwitchboardTestSupport
import Testing

@testable import STOMPFrontend

/// Stateful fuzzing of the STOMP connection handler (issue 26): random frame sequences (valid ones in
/// random orders — sends with receipts, topic and queue subscriptions, acks, transactions — mutated,
/// truncated, split across reads), heart-beats, writability changes, time passing and publications from
/// elsewhere, each through a fresh handler on an EmbeddedChannel. After each: no crash, none of the
/// connection's subscriptions or registrations left once closed (the queues it created stay, as
/// declared), a RECEIPT only for a frame that asked for that receipt, CONNECTED only for a CONNECT,
/// MESSAGE only for a subscription the client made.
@Suite struct STOMPStatefulFuzzTests {
    static let destinations = ["/topic/a.b", "/topic/a.c", "/topic/x", "/queue/q1", "/queue/q2"]
    static let subscribeDestinations = [
        "/topic/a.>", "/topic/a.b", "/topic/*.c", "/queue/q1", "/queue/q2", "/topic/a..b",
    ]

    @Test func randomFrameSequencesNeitherCrashLeakNorAcknowledgeWhatWasNotDone() throws {
        for failure in try StatefulFuzzPlan(defaultIterations: 100).failures(
            "STOMPStatefulFuzzTests", of: Self.runSequence)
        {
            Issue.record(Comment(rawValue: failure))
        }
    }

    /// The check itself: a RECEIPT no frame asked for and a MESSAGE for no subscription are caught.
    @Test func theCheckCatchesAcknowledgementsOfFramesNeverSent() {
        var transcript = StatefulFuzzTranscript()
        transcript.input =
            Self.bytes(STOMPFrame(.connect, headers: STOMPHeaders([("accept-version", "1.2")])))
            + Self.bytes(STOMPFrame(.send, headers: STOMPHeaders([("destination", "/topic/a"), ("receipt", "r1")])))
        transcript.output =
            Self.bytes(STOMPFrame(.connected, headers: STOMPHeaders([("version", "1.2")])))
            + Self.bytes(STOMPFrame(.receipt, headers: STOMPHeaders([("receipt-id", "r1")])))
            + Self.bytes(STOMPFrame(.receipt, headers: STOMPHeaders([("receipt-id", "r2")])))
            + Self.bytes(STOMPFrame(.message, headers: STOMPHeaders([("subscription", "s1")])))
        let problems = Self.acknowledgementProblems(transcript)
        #expect(problems.count == 2, "\(problems)")
        #expect(problems.contains { $0.contains("RECEIPT r2") })
    }

    static func runSequence(seed: UInt64) throws -> [String] {
        var random = SplitMix(state: seed)
        let harness = EmbeddedBusHarness()
        let broker = QueueBroker(bus: harness.bus, metricsSlot: harness.bus.metrics.slot(for: "queues"))
        let services = STOMPServices(
            configuration: STOMPConfiguration(), bus: harness.bus, connections: harness.connections,
            authenticator: StaticTokenAuthenticator(allowsAnonymous: true, tokens: [:]), broker: broker)
        let heartBeat = Bool.random(using: &random) ? "0,0" : "1000,1000"
        let connect = bytes(
            STOMPFrame(
                .connect, headers: STOMPHeaders([("accept-version", "1.2"), ("host", "/"), ("heart-beat", heartBeat)])))
        let script = StatefulFuzzScript(opening: [connect], topics: ["a/b", "a/c", "x"]) { random in
            frame(using: &random)
        }
        let steps = script.steps(using: &random)
        let channel = try harness.connectedChannel([STOMPConnectionHandler(services: services)])
        let transcript = harness.run(steps, on: channel)
        var problems = acknowledgementProblems(transcript)
        problems += harness.leaks(
            after: channel, subscriptionsBefore: nil, probes: ["a/b", "a/c", "x", "a/b/c"],
            isLeak: { !$0.subscriberID.hasPrefix("queue:") })
        for queue in broker.queues where queue.consumerCount > 0 {
            problems.append("queue \(queue.name) still has \(queue.consumerCount) consumers after the close")
        }
        return problems
    }

    static func bytes(_ frame: STOMPFrame) -> [UInt8] {
        var buffer = ByteBuffer()
        STOMPFrameEncoder.write(frame, escaping: .v1_2, to: &buffer)
        return Array(buffer.readableBytesView)
    }

    /// Any frame a client may send after CONNECT (and a second CONNECT, and a heart-beat).
    static func frame(using random: inout SplitMix) -> [UInt8] {
        var headers: [(String, String)] = []
        if Int.random(in: 0..<3, using: &random) == 0 {
            headers.append(("receipt", "r\(Int.random(in: 1...6, using: &random))"))
        }
        let id = "s\(Int.random(in: 1...4, using: &random))"
        let transaction = "t\(Int.random(in: 1...2, using: &random))"
        switch Int.random(in: 0..<14, using: &random) {
        case 0..<4:
            headers.append(("destination", destinations.randomElement(using: &random)!))
            if Bool.random(using: &random) { headers.append(("persistent", "true")) }
            if Int.random(in: 0..<4, using: &random) == 0 { headers.append(("transaction", transaction)) }
            return bytes(STOMPFrame(.send, headers: STOMPHeaders(headers), body: ByteBuffer(string: "b")))
        case 4..<6:
            headers += [
                ("id", id), ("destination", subscribeDestinations.randomElement(using: &random)!),
                ("ack", ["auto", "client", "client-individual"].randomElement(using: &random)!),
            ]
            return bytes(STOMPFrame(.subscribe, headers: STOMPHeaders(headers)))
        case 6: return bytes(STOMPFrame(.unsubscribe, headers: STOMPHeaders(headers + [("id", id)])))
        case 7, 8:
            // Message ids are the server's; a made-up one is refused, a small number may name a real one.
            let command: STOMPCommand = Bool.random(using: &random) ? .ack : .nack
            return bytes(
                STOMPFrame(
                    command, headers: STOMPHeaders(headers + [("id", "\(Int.random(in: 0...4, using: &random))")])))
        case 9:
            let command: STOMPCommand = [.begin, .commit, .abort].randomElement(using: &random)!
            return bytes(STOMPFrame(command, headers: STOMPHeaders(headers + [("transaction", transaction)])))
        case 10: return bytes(STOMPFrame(.disconnect, headers: STOMPHeaders(headers)))
        case 11: return bytes(STOMPFrame(.connect, headers: STOMPHeaders([("accept-version", "1.2"), ("host", "/")])))
        default: return Array("\n".utf8)
        }
    }

    static func acknowledgementProblems(_ transcript: StatefulFuzzTranscript) -> [String] {
        // What the client sent, as the server's decoder reads it (under each escaping, as the connection's
        // version is what the fuzzed CONNECT made it): up to the first frame it refuses.
        var receipts: [String: Int] = [:]
        var subscriptionIDs: Set<String> = []
        var connects = 0
        for escaping in [STOMPEscaping.none, .v1_1, .v1_2] {
            var input = ByteBuffer(bytes: transcript.input)
            var frames: [STOMPFrame] = []
            while true {
                STOMPFrameDecoder.skipHeartBeats(&input)
                guard let frame = try? STOMPFrameDecoder.decode(&input, escaping: escaping, limits: STOMPLimits())
                else { break }
                frames.append(frame)
            }
            var asked: [String: Int] = [:]
            for receipt in frames.compactMap(\.receipt) { asked[receipt, default: 0] += 1 }
            receipts.merge(asked) { max($0, $1) }
            subscriptionIDs.formUnion(frames.filter { $0.command == .subscribe }.compactMap { $0.headers["id"] })
            connects = max(connects, frames.filter { $0.command == .connect || $0.command == .stomp }.count)
        }
        // What the server wrote, in the version it answered with.
        var problems: [String] = []
        var output = ByteBuffer(bytes: transcript.output)
        var escaping = STOMPEscaping.none
        var written: [STOMPFrame] = []
        do {
            while true {
                STOMPFrameDecoder.skipHeartBeats(&output)
                var limits = STOMPLimits()
                limits.maxBodyBytes = 1 << 20
                guard let frame = try STOMPFrameDecoder.decode(&output, escaping: escaping, limits: limits) else {
                    break
                }
                if frame.command == .connected {
                    escaping = ["1.2": .v1_2, "1.1": .v1_1][frame.headers["version"] ?? ""] ?? .none
                }
                written.append(frame)
            }
        } catch {
            problems.append("the server wrote a frame that does not decode: \(error)")
        }
        if output.readableBytes > 0 {
            problems.append("the server wrote \(output.readableBytes) bytes of a partial frame")
        }
        var answered: [String] = []
        for frame in written {
            switch frame.command {
            case .connected where connects == 0: problems.append("CONNECTED without a CONNECT")
            case .receipt:
                guard let id = frame.headers["receipt-id"] else {
                    problems.append("RECEIPT without a receipt-id")
                    continue
                }
                answered.append(id)
                if answered.filter({ $0 == id }).count > receipts[id, default: 0] {
                    problems.append("RECEIPT \(id), asked for \(receipts[id, default: 0]) times")
                }
            case .error:
                // The ERROR for a frame that does not decode names its receipt too (the frame is cut out
                // of the stream first): the receipt header must be in what was sent, decodable or not.
                if let id = frame.headers["receipt-id"], !transcript.input.contains(Array("receipt:\(id)".utf8)) {
                    problems.append("ERROR for receipt \(id), never asked for")
                }
            case .message:
                if let subscription = frame.headers["subscription"], !subscriptionIDs.contains(subscription) {
                    problems.append("MESSAGE for subscription \(subscription), never made")
                }
            default: break
            }
        }
        if written.filter({ $0.command == .connected }).count > 1 { problems.append("more than one CONNECTED") }
        return problems
    }
}
