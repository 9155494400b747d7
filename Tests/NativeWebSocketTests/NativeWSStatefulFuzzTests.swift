import BusCore
import BusRuntime
import Foundation
import FrontendKit
import NIOCore
import NIOEmbedded
import SwitchboardTestSupport
import Testing

@testable import NativeWebSocketFrontend

/// Stateful fuzzing of the native WebSocket handler (issue 26), behind the upgraded connection's frame
/// input as on the server: random client frames — requests (connect, subscribe, unsubscribe, publish,
/// presence, history, rpc, ping) in random orders, fragmented messages, control frames, binary frames,
/// mutated, truncated or split across reads — with writability changes, time passing and publications
/// from elsewhere, each through a fresh connection on an EmbeddedChannel. After each: no crash, no
/// subscription, presence or registry entry left once closed, every frame written well formed, and each
/// reply answering a request the client made (at most one reply per request id, `subscribed` for a
/// subscribe, `published` for a publish, `connected` for a connect, `pong` for a ping).
@Suite struct NativeWSStatefulFuzzTests {
    static let channels = ["chat/a", "chat/b", "x", "chat/+", "#", "chat/#/x", ""]

    @Test func randomFrameSequencesNeitherCrashLeakNorAcknowledgeWhatWasNotDone() throws {
        for failure in try StatefulFuzzPlan(defaultIterations: 100).failures(
            "NativeWSStatefulFuzzTests", of: Self.runSequence)
        {
            Issue.record(Comment(rawValue: failure))
        }
    }

    /// The check itself: a reply with an id no request had, and a `subscribed` for no subscribe, are caught.
    @Test func theCheckCatchesRepliesToRequestsNeverMade() {
        var random = SplitMix(state: 1)
        func serverFrame(_ text: String) -> [UInt8] { [0x81, UInt8(text.utf8.count)] + Array(text.utf8) }
        var transcript = StatefulFuzzTranscript()
        transcript.input = Self.frame(
            opcode: 1, text: #"{"id":1,"type":"publish","channel":"x","data":1}"#, using: &random)
        transcript.output =
            serverFrame(#"{"id":1,"type":"published"}"#) + serverFrame(#"{"id":2,"type":"subscribed"}"#)
        let problems = Self.replyProblems(transcript)
        #expect(problems.count == 3, "\(problems)")
        #expect(problems.contains { $0.contains("id 2") })
    }

    static func runSequence(seed: UInt64) throws -> [String] {
        var random = SplitMix(state: seed)
        let harness = EmbeddedBusHarness(
            configuration: BusConfiguration(
                history: HistoryPolicy(rules: [
                    .init(filter: try TopicFilter("chat/#"), limits: HistoryLimits(count: 10))
                ]
                )))
        var configuration = NativeWSConfiguration()
        configuration.maxSubscriptions = 3
        let services = NativeWSServices(
            shared: FrontendShared(
                metricsName: "websocket", bus: harness.bus, connections: harness.connections,
                authenticator: StaticTokenAuthenticator(allowsAnonymous: true, tokens: ["t": "alice"])),
            configuration: configuration)
        let connect = frame(opcode: 1, text: #"{"id":0,"type":"connect","name":"fuzz"}"#, using: &random)
        let script = StatefulFuzzScript(opening: [connect], topics: ["chat/a", "chat/b", "x"]) { random in
            frames(using: &random)
        }
        let steps = script.steps(using: &random)
        // Connected first, then the handlers: as after an upgrade, they join an active channel.
        let channel = try harness.connectedChannel([])
        try channel.pipeline.syncOperations.addHandler(WebSocketFrameInput(maxFrameSize: 4096))
        try channel.pipeline.syncOperations.addHandler(NativeWSConnectionHandler(services: services))
        let before = harness.bus.registry.count
        let transcript = harness.run(steps, on: channel)
        var problems = replyProblems(transcript)
        problems += harness.leaks(after: channel, subscriptionsBefore: before)
        return problems
    }

    /// A masked client frame (RFC 6455 §5.2, §5.3).
    static func frame(opcode: UInt8, fin: Bool = true, text: String, using random: inout SplitMix) -> [UInt8] {
        StatefulFuzzWebSocket.frame(opcode: opcode, fin: fin, payload: Array(text.utf8), using: &random)
    }

    /// Any frame (or fragmented message) a client may send.
    static func frames(using random: inout SplitMix) -> [UInt8] {
        let id = Int.random(in: 1...6, using: &random)
        let channel = channels.randomElement(using: &random)!
        let request: String
        switch Int.random(in: 0..<20, using: &random) {
        case 0..<4:
            request =
                #"{"id":\#(id),"type":"subscribe","channel":"\#(channel)"\#(Bool.random(using: &random) ? #","history":2"# : "")}"#
        case 4, 5: request = #"{"id":\#(id),"type":"unsubscribe","channel":"\#(channel)"}"#
        case 6..<10: request = #"{"id":\#(id),"type":"publish","channel":"\#(channel)","data":{"n":\#(id)}}"#
        case 10: request = #"{"id":\#(id),"type":"presence","channel":"\#(channel)"}"#
        case 11: request = #"{"id":\#(id),"type":"history","channel":"\#(channel)","limit":3}"#
        case 12: request = #"{"id":\#(id),"type":"rpc","channel":"\#(channel)","data":1,"timeout":50}"#
        case 13: request = #"{"id":\#(id),"type":"ping"}"#
        case 14: request = #"{"id":\#(id),"type":"connect"}"#
        case 15:
            // A message in two fragments, a ping between them (RFC 6455 §5.4).
            let text = #"{"id":\#(id),"type":"publish","channel":"\#(channel)","data":"f"}"#
            let cut = text.index(text.startIndex, offsetBy: Int.random(in: 1..<text.count, using: &random))
            return frame(opcode: 1, fin: false, text: String(text[..<cut]), using: &random)
                + frame(opcode: 9, text: "p", using: &random)
                + frame(opcode: 0, text: String(text[cut...]), using: &random)
        case 16: return frame(opcode: 9, text: "ping", using: &random)
        case 17: return frame(opcode: 2, text: "binary", using: &random)
        case 18: return frame(opcode: 8, text: "\u{3}\u{E8}", using: &random)
        default: return frame(opcode: 10, text: "", using: &random)
        }
        return frame(opcode: 1, text: request, using: &random)
    }

    /// The requests' ids and types, as the server reads them (text messages, reassembled from fragments).
    static func requests(_ input: [UInt8]) -> [(id: String?, type: String?)] {
        var requests: [(String?, String?)] = []
        for whole in StatefulFuzzWebSocket.textMessages(StatefulFuzzWebSocket.cutFrames(input, masked: true).frames) {
            guard let object = try? JSONSerialization.jsonObject(with: Data(whole)) as? [String: Any] else { continue }
            requests.append((object["id"].map { "\($0)" }, object["type"] as? String))
        }
        return requests
    }

    static let answers = [
        "connected": "connect", "subscribed": "subscribe", "unsubscribed": "unsubscribe", "published": "publish",
        "pong": "ping",
    ]

    static func replyProblems(_ transcript: StatefulFuzzTranscript) -> [String] {
        let asked = requests(transcript.input)
        var problems: [String] = []
        let (frames, rest) = StatefulFuzzWebSocket.cutFrames(transcript.output, masked: false)
        if rest > 0 { problems.append("the server wrote \(rest) bytes that are no whole unmasked frame") }
        var replies: [String: Int] = [:]
        var answered: [String: Int] = [:]
        for (opcode, fin, payload) in frames {
            if !fin { problems.append("the server wrote a fragment") }
            guard opcode == 1 else { continue }
            guard let object = try? JSONSerialization.jsonObject(with: Data(payload)) as? [String: Any],
                let type = object["type"] as? String
            else {
                problems.append(
                    "the server wrote a text frame that is no JSON object with a type: \(String(decoding: payload, as: UTF8.self))"
                )
                continue
            }
            if let request = answers[type] {
                answered[request, default: 0] += 1
                if answered[request]! > asked.filter({ $0.type == request }).count {
                    problems.append(
                        "\(answered[request]!) \(type) replies for \(asked.filter { $0.type == request }.count) \(request) requests"
                    )
                }
            }
            guard let id = object["id"].map({ "\($0)" }) else { continue }
            replies[id, default: 0] += 1
            let requestsWithID = asked.filter { $0.id == id }
            if replies[id]! > requestsWithID.count {
                problems.append("\(replies[id]!) replies with id \(id) for \(requestsWithID.count) requests")
            }
            if let request = answers[type], !requestsWithID.contains(where: { $0.type == request }) {
                problems.append("\(type) with id \(id), which no \(request) request had")
            }
        }
        return problems
    }
}
