import BusCore
import BusRuntime
import FrontendKit
import NIOCore
import NIOEmbedded
import SocketIOWire
import SwitchboardTestSupport
import Testing

@testable import SocketIOFrontend

/// Stateful fuzzing of the Socket.IO WebSocket transport (issue 26), behind the upgraded connection's frame
/// input as on the server: random client packets — namespace connects and disconnects, subscribe,
/// unsubscribe, publish (with and without binary attachments), history, presence and rpc events with and
/// without ack ids, acks, Engine.IO pings, pongs, noops, upgrades and closes — in random orders, mutated,
/// truncated or split across reads, with writability changes, time passing (heartbeats, connect
/// timeouts) and publications from elsewhere, each through a fresh session on an EmbeddedChannel. After
/// each: no crash; no session, subscription, presence or registry entry left once closed; every text frame
/// written an Engine.IO packet whose message is a Socket.IO packet; an ACK only for an event that asked for
/// it (at most one per ack id and namespace), a CONNECT only for a namespace the client connected.
@Suite struct SocketIOStatefulFuzzTests {
    static let channels = ["chat/a", "chat/b", "x", "chat/+", "#", "chat/#/x", ""]
    static let namespaces = ["", "/n", "/bad ns"]

    @Test func randomPacketSequencesNeitherCrashLeakNorAcknowledgeWhatWasNotDone() throws {
        for failure in try StatefulFuzzPlan(defaultIterations: 100).failures(
            "SocketIOStatefulFuzzTests", of: Self.runSequence)
        {
            Issue.record(Comment(rawValue: failure))
        }
    }

    /// The check itself: an ACK for an event that asked for none, an ACK in another namespace, a CONNECT
    /// for a namespace never connected and a text frame that is no Engine.IO packet are caught.
    @Test func theCheckCatchesAcknowledgementsOfEventsNeverSent() {
        var random = SplitMix(state: 1)
        func serverFrame(_ text: String) -> [UInt8] { [0x81, UInt8(text.utf8.count)] + Array(text.utf8) }
        var transcript = StatefulFuzzTranscript()
        transcript.input =
            StatefulFuzzWebSocket.text("40", using: &random)
            + StatefulFuzzWebSocket.text(#"421["publish",{"channel":"x","data":1}]"#, using: &random)
        transcript.output =
            serverFrame(#"40{"sid":"s"}"#) + serverFrame(#"431[{"offset":1}]"#) + serverFrame(#"432[{"offset":2}]"#)
            + serverFrame(#"43/n,1[{"offset":1}]"#) + serverFrame(#"40/n,{"sid":"t"}"#) + serverFrame("9garbage")
        let problems = Self.acknowledgementProblems(transcript)
        #expect(problems.count == 4, "\(problems)")
        #expect(problems.contains { $0.contains("ack 2 in /") })
        #expect(problems.contains { $0.contains("ack 1 in /n") })
    }

    static func runSequence(seed: UInt64) throws -> [String] {
        var random = SplitMix(state: seed)
        let harness = EmbeddedBusHarness(
            configuration: BusConfiguration(
                history: HistoryPolicy(rules: [
                    .init(filter: try TopicFilter("chat/#"), limits: HistoryLimits(count: 10))
                ])))
        var configuration = SocketIOConfiguration()
        configuration.pingIntervalMilliseconds = 5_000
        configuration.pingTimeoutMilliseconds = 2_000
        configuration.connectTimeoutMilliseconds = 10_000
        configuration.namespaces = ["/", "/n"]
        let services = SocketIOServices(
            configuration: configuration, bus: harness.bus, connections: harness.connections,
            authenticator: StaticTokenAuthenticator(allowsAnonymous: true, tokens: ["t": "alice"]))
        let connect = StatefulFuzzWebSocket.text("40", using: &random)
        let script = StatefulFuzzScript(opening: [connect], topics: ["chat/a", "chat/b", "x", "n/chat/a"]) { random in
            frames(using: &random)
        }
        let steps = script.steps(using: &random)
        let before = harness.bus.registry.count
        // Connected first, then the handlers: as after an upgrade, they join an active channel.
        let channel = try harness.connectedChannel([])
        try channel.pipeline.syncOperations.addHandler(WebSocketFrameInput(maxFrameSize: 4096))
        try channel.pipeline.syncOperations.addHandler(
            SocketIOWebSocketHandler(
                services: services, sessionID: nil, echoesEngineIO: false, credentials: ClientCredentials()))
        var transcript = harness.run(steps, on: channel)
        while let buffer = try? channel.readOutbound(as: ByteBuffer.self) {
            transcript.output += buffer.readableBytesView
        }
        var problems = acknowledgementProblems(transcript)
        problems += harness.leaks(after: channel, subscriptionsBefore: before)
        if services.registry.count != 0 {
            problems.append("\(services.registry.count) Engine.IO sessions left in the registry after the close")
        }
        return problems
    }

    /// Any frame (or frames) a client may send once the session is open.
    static func frames(using random: inout SplitMix) -> [UInt8] {
        let namespace = namespaces.randomElement(using: &random)!
        let prefix = namespace.isEmpty ? "" : namespace + ","
        let ack = Int.random(in: 0..<3, using: &random) == 0 ? "" : "\(Int.random(in: 1...6, using: &random))"
        let channel = channels.randomElement(using: &random)!
        let text: String
        switch Int.random(in: 0..<24, using: &random) {
        case 0, 1: text = "40\(prefix)"
        case 2: text = #"40\#(prefix){"token":"t"}"#
        case 3: text = "41\(prefix)"
        case 4..<8: text = #"42\#(prefix)\#(ack)["subscribe",{"channel":"\#(channel)"}]"#
        case 8: text = #"42\#(prefix)\#(ack)["unsubscribe",{"channel":"\#(channel)"}]"#
        case 9..<12: text = #"42\#(prefix)\#(ack)["publish",{"channel":"\#(channel)","data":{"n":1}}]"#
        case 12: text = #"42\#(prefix)\#(ack)["history",{"channel":"\#(channel)","limit":3}]"#
        case 13: text = #"42\#(prefix)\#(ack)["presence",{"channel":"\#(channel)"}]"#
        case 14: text = #"42\#(prefix)\#(ack)["rpc",{"channel":"\#(channel)","data":1,"timeout":50}]"#
        case 15: text = #"42\#(prefix)\#(ack)["message",{"x":1}]"#
        case 16:
            // A binary event and its attachment (socket.io-protocol v5 §BINARY_EVENT).
            let event =
                #"451-\#(prefix)\#(ack)["publish",{"channel":"\#(channel)","data":{"_placeholder":true,"num":0}}]"#
            return StatefulFuzzWebSocket.text(event, using: &random)
                + StatefulFuzzWebSocket.frame(opcode: 2, payload: [1, 2, 3], using: &random)
        case 17: text = "43\(prefix)\(ack)[]"
        case 18: text = "3"
        case 19: text = ["2", "6", "5", "1"].randomElement(using: &random)!
        case 20: return StatefulFuzzWebSocket.frame(opcode: 9, payload: Array("p".utf8), using: &random)
        case 21: return StatefulFuzzWebSocket.frame(opcode: 2, payload: [4, 5], using: &random)
        case 22: return StatefulFuzzWebSocket.frame(opcode: 8, payload: [3, 0xE8], using: &random)
        default: text = "4" + ["9", "2[", "0/n", "2[\"subscribe\"]", "2/n,[1]"].randomElement(using: &random)!
        }
        return StatefulFuzzWebSocket.text(text, using: &random)
    }

    /// The Socket.IO packets in `input`'s text messages (Engine.IO messages), as the server decodes them.
    static func packets(_ bytes: [UInt8], masked: Bool) -> (packets: [SocketIOPacket], undecodable: [String]) {
        var packets: [SocketIOPacket] = []
        var undecodable: [String] = []
        for message in StatefulFuzzWebSocket.textMessages(StatefulFuzzWebSocket.cutFrames(bytes, masked: masked).frames)
        {
            guard let engine = try? EngineIOPacket.decodeText(ByteBuffer(bytes: message)) else {
                undecodable.append("no Engine.IO packet: \(String(decoding: message, as: UTF8.self))")
                continue
            }
            guard engine.type == .message, !engine.isBinary else { continue }
            guard let packet = try? SocketIOPacket.decode(engine.data, limits: SocketIOLimits()) else {
                undecodable.append("no Socket.IO packet: \(String(decoding: message, as: UTF8.self))")
                continue
            }
            packets.append(packet)
        }
        return (packets, undecodable)
    }

    static func acknowledgementProblems(_ transcript: StatefulFuzzTranscript) -> [String] {
        let sent = packets(transcript.input, masked: true).packets
        var asked: [String: Int] = [:]
        var connects: [String: Int] = [:]
        for packet in sent {
            switch packet.type {
            case .event, .binaryEvent:
                if let id = packet.ackID { asked["\(id) in \(packet.namespace)", default: 0] += 1 }
            case .connect: connects[packet.namespace, default: 0] += 1
            default: break
            }
        }
        var problems: [String] = []
        let (_, rest) = StatefulFuzzWebSocket.cutFrames(transcript.output, masked: false)
        if rest > 0 { problems.append("the server wrote \(rest) bytes that are no whole unmasked frame") }
        let (written, undecodable) = packets(transcript.output, masked: false)
        problems += undecodable.map { "the server wrote \($0)" }
        var answered: [String: Int] = [:]
        var connected: [String: Int] = [:]
        for packet in written {
            switch packet.type {
            case .ack, .binaryAck:
                guard let id = packet.ackID else {
                    problems.append("an ACK without an ack id")
                    continue
                }
                let key = "\(id) in \(packet.namespace)"
                answered[key, default: 0] += 1
                if answered[key]! > asked[key, default: 0] {
                    problems.append("ACK for ack \(key), asked for \(asked[key, default: 0]) times")
                }
            case .connect:
                connected[packet.namespace, default: 0] += 1
                if connected[packet.namespace]! > connects[packet.namespace, default: 0] {
                    problems.append(
                        "CONNECT of \(packet.namespace), asked for \(connects[packet.namespace, default: 0]) times")
                }
            default: break
            }
        }
        return problems
    }
}
