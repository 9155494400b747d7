import BusCore
import BusRuntime
import Foundation
import FrontendKit
import NIOCore
import NIOEmbedded
import SwitchboardTestSupport
import Testing

@testable import SignalRFrontend

/// Stateful fuzzing of the SignalR hub connection over WebSocket (issue 26), behind the upgraded
/// connection's frame input as on the server: a JSON handshake (mostly), then random records —
/// invocations of every hub method with and without invocation ids, stream invocations, client streams
/// (`PublishStream` with its items and completion), cancels, pings, acks, sequences and closes — several
/// in one frame or one across frames, mutated, truncated or split across reads, with writability changes,
/// time passing (keep-alives, the client timeout) and publications from elsewhere, each through a fresh
/// connection on an EmbeddedChannel. After each: no crash; no subscription, presence or registry entry
/// left once closed; every text frame written whole JSON records each ended by 0x1E; a Completion or
/// StreamItem only for an invocation the client made (at most one Completion per invocation).
@Suite struct SignalRStatefulFuzzTests {
    static let channels = ["chat/a", "chat/b", "x", "chat/+", "#", "chat/#/x", ""]
    static let separator: UInt8 = 0x1E

    @Test func randomRecordSequencesNeitherCrashLeakNorCompleteWhatWasNotInvoked() throws {
        for failure in try StatefulFuzzPlan(defaultIterations: 100).failures(
            "SignalRStatefulFuzzTests", of: Self.runSequence)
        {
            Issue.record(Comment(rawValue: failure))
        }
    }

    /// The check itself: a second Completion of one invocation, a Completion and a StreamItem of
    /// invocations never made, and a record without its separator are caught.
    @Test func theCheckCatchesCompletionsOfInvocationsNeverMade() {
        var random = SplitMix(state: 1)
        func serverFrame(_ text: String) -> [UInt8] { [0x81, UInt8(text.utf8.count)] + Array(text.utf8) }
        var transcript = StatefulFuzzTranscript()
        transcript.input = StatefulFuzzWebSocket.text(
            #"{"protocol":"json","version":1}"# + "\u{1e}"
                + #"{"type":1,"invocationId":"1","target":"Publish","arguments":["x",1]}"# + "\u{1e}",
            using: &random)
        transcript.output =
            serverFrame("{}\u{1e}" + #"{"type":3,"invocationId":"1"}"# + "\u{1e}")
            + serverFrame(#"{"type":3,"invocationId":"1"}"# + "\u{1e}" + #"{"type":3,"invocationId":"2"}"# + "\u{1e}")
            + serverFrame(#"{"type":2,"invocationId":"3","item":1}"# + "\u{1e}") + serverFrame(#"{"type":6}"#)
        let problems = Self.completionProblems(transcript)
        #expect(problems.count == 4, "\(problems)")
        #expect(problems.contains { $0.contains("invocation 2") })
        #expect(problems.contains { $0.contains("StreamItem of invocation 3") })
    }

    static func runSequence(seed: UInt64) throws -> [String] {
        var random = SplitMix(state: seed)
        let harness = EmbeddedBusHarness(
            configuration: BusConfiguration(
                history: HistoryPolicy(rules: [
                    .init(filter: try TopicFilter("chat/#"), limits: HistoryLimits(count: 10))
                ])))
        let services = SignalRServices(
            configuration: SignalRConfiguration(), bus: harness.bus, connections: harness.connections,
            authenticator: StaticTokenAuthenticator(allowsAnonymous: true, tokens: [:]))
        let handshake = StatefulFuzzWebSocket.text(#"{"protocol":"json","version":1}"# + "\u{1e}", using: &random)
        let script = StatefulFuzzScript(opening: [handshake], topics: ["chat/a", "chat/b", "x"]) { random in
            frames(using: &random)
        }
        let steps = script.steps(using: &random)
        let before = harness.bus.registry.count
        let channel = try harness.connectedChannel([])
        try channel.pipeline.syncOperations.addHandler(WebSocketFrameInput(maxFrameSize: 4096))
        try channel.pipeline.syncOperations.addHandler(
            SignalRConnectionHandler(
                services: services, connectionID: nil, credentials: ClientCredentials(), eventLoop: harness.loop))
        let transcript = harness.run(steps, on: channel)
        var problems = completionProblems(transcript)
        problems += harness.leaks(after: channel, subscriptionsBefore: before)
        return problems
    }

    /// One JSON record a client may send after the handshake.
    static func record(using random: inout SplitMix) -> String {
        let id = "\(Int.random(in: 1...6, using: &random))"
        let invocation = Int.random(in: 0..<4, using: &random) == 0 ? "" : #""invocationId":"\#(id)","#
        let channel = channels.randomElement(using: &random)!
        switch Int.random(in: 0..<20, using: &random) {
        case 0..<4: return #"{"type":1,\#(invocation)"target":"Subscribe","arguments":["\#(channel)"]}"#
        case 4: return #"{"type":1,\#(invocation)"target":"LeaveGroup","arguments":["\#(channel)"]}"#
        case 5..<8: return #"{"type":1,\#(invocation)"target":"Publish","arguments":["\#(channel)",{"n":1}]}"#
        case 8: return #"{"type":1,\#(invocation)"target":"Presence","arguments":["\#(channel)"]}"#
        case 9: return #"{"type":1,\#(invocation)"target":"Rpc","arguments":["\#(channel)",1,50]}"#
        case 10: return #"{"type":1,\#(invocation)"target":"Nope","arguments":[]}"#
        case 11: return #"{"type":4,"invocationId":"\#(id)","target":"History","arguments":["\#(channel)",3]}"#
        case 12:
            return
                #"{"type":1,\#(invocation)"target":"PublishStream","arguments":["\#(channel)"],"streamIds":["s\#(id)"]}"#
        case 13: return #"{"type":2,"invocationId":"s\#(id)","item":{"n":2}}"#
        case 14: return #"{"type":3,"invocationId":"s\#(id)"}"#
        case 15: return #"{"type":5,"invocationId":"\#(id)"}"#
        case 16: return #"{"type":6}"#
        case 17:
            return [#"{"type":7}"#, #"{"type":8,"sequenceId":1}"#, #"{"type":9,"sequenceId":1}"#].randomElement(
                using: &random)!
        case 18: return #"{"type":1,"target":"Subscribe","arguments":"#
        default: return #"{"protocol":"json","version":1}"#
        }
    }

    /// A text frame of one or more records, or a control or binary frame.
    static func frames(using random: inout SplitMix) -> [UInt8] {
        switch Int.random(in: 0..<12, using: &random) {
        case 0: return StatefulFuzzWebSocket.frame(opcode: 9, payload: Array("p".utf8), using: &random)
        case 1: return StatefulFuzzWebSocket.frame(opcode: 2, payload: [0x01, 0x90], using: &random)
        case 2:
            // A record cut across two frames (the second part arrives with the next one).
            let text = record(using: &random)
            let cut = Int.random(in: 1..<text.utf8.count, using: &random)
            let bytes = Array(text.utf8) + [separator]
            return StatefulFuzzWebSocket.frame(opcode: 1, payload: Array(bytes[..<cut]), using: &random)
                + StatefulFuzzWebSocket.frame(opcode: 1, payload: Array(bytes[cut...]), using: &random)
        default:
            let records = (0..<Int.random(in: 1...3, using: &random)).map { _ in record(using: &random) }
            return StatefulFuzzWebSocket.frame(
                opcode: 1, payload: records.flatMap { Array($0.utf8) + [separator] }, using: &random)
        }
    }

    static func records(_ bytes: [UInt8]) -> (records: [[UInt8]], rest: [UInt8]) {
        var records: [[UInt8]] = []
        var current: [UInt8] = []
        for byte in bytes {
            if byte == separator {
                records.append(current)
                current = []
            } else {
                current.append(byte)
            }
        }
        return (records, current)
    }

    static func completionProblems(_ transcript: StatefulFuzzTranscript) -> [String] {
        // The client's records as the server's text decoder sees them: every text message's bytes in one
        // stream (a record may span frames).
        let sent = records(
            StatefulFuzzWebSocket.textMessages(StatefulFuzzWebSocket.cutFrames(transcript.input, masked: true).frames)
                .flatMap { $0 }
        ).records
        var invoked: [String: Int] = [:]
        for record in sent {
            guard let object = try? JSONSerialization.jsonObject(with: Data(record)) as? [String: Any],
                let type = object["type"] as? Int, type == 1 || type == 4, let id = object["invocationId"] as? String
            else { continue }
            invoked[id, default: 0] += 1
        }
        var problems: [String] = []
        let (frames, rest) = StatefulFuzzWebSocket.cutFrames(transcript.output, masked: false)
        if rest > 0 { problems.append("the server wrote \(rest) bytes that are no whole unmasked frame") }
        var completed: [String: Int] = [:]
        for message in StatefulFuzzWebSocket.textMessages(frames) {
            let (written, tail) = records(message)
            if !tail.isEmpty {
                problems.append(
                    "the server wrote a record without its separator: \(String(decoding: tail, as: UTF8.self))")
            }
            for record in written {
                guard let object = try? JSONSerialization.jsonObject(with: Data(record)) as? [String: Any] else {
                    problems.append(
                        "the server wrote a record that is no JSON object: \(String(decoding: record, as: UTF8.self))")
                    continue
                }
                guard let type = object["type"] as? Int else { continue }  // the handshake response
                let id = object["invocationId"] as? String
                switch type {
                case 3:
                    guard let id else {
                        problems.append("a Completion without an invocation id")
                        continue
                    }
                    completed[id, default: 0] += 1
                    if completed[id]! > invoked[id, default: 0] {
                        problems.append("Completion of invocation \(id), invoked \(invoked[id, default: 0]) times")
                    }
                case 2:
                    if let id, invoked[id, default: 0] == 0 {
                        problems.append("StreamItem of invocation \(id), never made")
                    }
                default: break
                }
            }
        }
        return problems
    }
}
