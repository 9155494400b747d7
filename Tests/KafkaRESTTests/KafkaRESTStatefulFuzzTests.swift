import BusCore
import BusRuntime
import Foundation
import FrontendKit
import NIOCore
import NIOEmbedded
import NIOHTTP1
import SwitchboardTestSupport
import Testing

@testable import KafkaRESTFrontend

/// Stateful fuzzing of the Kafka REST proxy's routes behind NIO's HTTP server pipeline as on the server
/// (issue 26): random v2 requests — produces to a topic and to partitions (binary and JSON records, good
/// and bad bodies and media types), topic and partition metadata, consumer instances created, subscribed,
/// assigned, sought, read, committed and deleted — in random orders (pipelined, mutated, truncated, split
/// across reads, garbage), with writability changes, time passing and publications from elsewhere, each
/// on a fresh connection on an EmbeddedChannel. After each: no crash; no bus subscription or registry
/// entry left once closed; everything written HTTP/1.1 responses, no more than requests were sent, each
/// body JSON; and every offset a produce answered names a record the stream holds, no offset answered
/// twice, no more offsets answered than records sent.
@Suite struct KafkaRESTStatefulFuzzTests {
    static let binary = "application/vnd.kafka.binary.v2+json"
    static let json = "application/vnd.kafka.json.v2+json"
    static let v2 = "application/vnd.kafka.v2+json"

    @Test func randomRequestSequencesNeitherCrashLeakNorAcknowledgeRecordsNeverStored() throws {
        for failure in try StatefulFuzzPlan(defaultIterations: 100).failures(
            "KafkaRESTStatefulFuzzTests", of: Self.runSequence)
        {
            Issue.record(Comment(rawValue: failure))
        }
    }

    /// The check itself: an offset answered twice, one the stream does not hold and more offsets than
    /// records sent are caught.
    @Test func theCheckCatchesOffsetsOfRecordsNeverStored() {
        let answer = #"{"offsets":[{"partition":0,"offset":0},{"partition":0,"offset":0},{"partition":0,"offset":7}]}"#
        var transcript = StatefulFuzzTranscript()
        transcript.input = StatefulFuzzHTTP.request(
            "POST", "/topics/t", headers: [("Content-Type", Self.binary)], body: #"{"records":[{"value":"ZnV6eg=="}]}"#)
        transcript.output = Array(
            "HTTP/1.1 200 OK\r\nContent-Type: \(Self.v2)\r\nContent-Length: \(answer.utf8.count)\r\n\r\n\(answer)".utf8)
        let problems = Self.acknowledgementProblems(transcript) { partition, offset in partition == 0 && offset == 0 }
        #expect(problems.count == 3, "\(problems)")
        #expect(problems.contains { $0.contains("twice") })
        #expect(problems.contains { $0.contains("offset 7") })
    }

    static func runSequence(seed: UInt64) throws -> [String] {
        var random = SplitMix(state: seed)
        let harness = EmbeddedBusHarness()
        var configuration = KafkaRESTConfiguration()
        configuration.defaultPartitions = 2
        let loop = harness.loop
        let services = KafkaRESTServices(
            configuration: configuration, bus: harness.bus,
            authenticator: StaticTokenAuthenticator(allowsAnonymous: true, tokens: [:]),
            now: { loop.now.uptimeNanoseconds })
        let script = StatefulFuzzScript(opening: [], topics: ["t", "u"]) { random in request(using: &random) }
        let steps = script.steps(using: &random)
        let before = harness.bus.registry.count
        let channel = EmbeddedChannel(loop: harness.loop)
        // The pipeline every HTTP port uses.
        try HTTPServerService.configure(
            channel, router: services.makeRouter(), endpoints: [],
            configuration: HTTPServerConfiguration(host: "127.0.0.1", port: 0, maxBodyBytes: 4096))
        try channel.connectFromTestPeer()
        let transcript = harness.run(steps, on: channel)
        var problems = acknowledgementProblems(transcript) { partition, offset in
            // A Kafka offset is the stream's offset - 1 (the stream counts from 1).
            guard let read = try? harness.bus.streams.read("t", partition: partition, from: offset + 1, limit: 1)
            else { return false }
            return read.records.first?.offset == offset + 1
        }
        problems += harness.leaks(after: channel, subscriptionsBefore: before)
        return problems
    }

    static func request(using random: inout SplitMix) -> [UInt8] {
        let instance = "/consumers/g/instances/c\(Int.random(in: 1...2, using: &random))"
        let records = (0..<Int.random(in: 0...3, using: &random)).map { _ in
            [
                #"{"value":"ZnV6eg=="}"#, #"{"key":"aw==","value":"ZnV6eg=="}"#, #"{"value":"ZnV6eg==","partition":1}"#,
                #"{"value":"ZnV6eg==","partition":9}"#, #"{"value":"!!"}"#,
            ].randomElement(using: &random)!
        }
        let produce = #"{"records":[\#(records.joined(separator: ","))]}"#
        switch Int.random(in: 0..<18, using: &random) {
        case 0..<4:
            return StatefulFuzzHTTP.request("POST", "/topics/t", headers: [("Content-Type", binary)], body: produce)
        case 4:
            return StatefulFuzzHTTP.request(
                "POST", "/topics/t/partitions/\(Int.random(in: 0...2, using: &random))",
                headers: [("Content-Type", binary)], body: produce)
        case 5:
            return StatefulFuzzHTTP.request(
                "POST", "/topics/t", headers: [("Content-Type", json)], body: #"{"records":[{"value":{"f":"fuzz"}}]}"#)
        case 6:
            let type = [v2, "text/plain", binary].randomElement(using: &random)!
            let body = ["{", #"{"records":{}}"#, #"{"records":[{"value":1}]}"#, ""].randomElement(using: &random)!
            return StatefulFuzzHTTP.request("POST", "/topics/t", headers: [("Content-Type", type)], body: body)
        case 7:
            return StatefulFuzzHTTP.request(
                "GET", ["/topics", "/topics/t", "/topics/t/partitions/0/offsets"].randomElement(using: &random)!)
        case 8:
            let name = Int.random(in: 1...2, using: &random)
            return StatefulFuzzHTTP.request(
                "POST", "/consumers/g", headers: [("Content-Type", v2)],
                body: #"{"name":"c\#(name)","format":"binary","auto.offset.reset":"earliest"}"#)
        case 9:
            return StatefulFuzzHTTP.request(
                "POST", instance + "/subscription", headers: [("Content-Type", v2)], body: #"{"topics":["t"]}"#)
        case 10:
            return StatefulFuzzHTTP.request(
                "POST", instance + "/assignments", headers: [("Content-Type", v2)],
                body: #"{"partitions":[{"topic":"t","partition":0}]}"#)
        case 11:
            return StatefulFuzzHTTP.request(
                "POST", instance + "/positions", headers: [("Content-Type", v2)],
                body: #"{"offsets":[{"topic":"t","partition":0,"offset":1}]}"#)
        case 12, 13:
            let timeout = ["0", "100", "5000"].randomElement(using: &random)!
            return StatefulFuzzHTTP.request(
                "GET", instance + "/records?timeout=\(timeout)", headers: [("Accept", binary)])
        case 14:
            return StatefulFuzzHTTP.request("POST", instance + "/offsets", headers: [("Content-Type", v2)], body: "")
        case 15: return StatefulFuzzHTTP.request("DELETE", instance)
        case 16: return StatefulFuzzHTTP.request("DELETE", instance + "/subscription")
        default:
            return StatefulFuzzHTTP.request(
                "POST", "/topics/b:d", headers: [("Content-Type", binary)], body: produce)
        }
    }

    /// The records the client's produce requests carried (counted in their bodies: each `"value"`).
    static func recordsSent(_ input: [UInt8]) -> Int {
        String(decoding: input, as: UTF8.self).components(separatedBy: "\"value\"").count - 1
    }

    static func acknowledgementProblems(
        _ transcript: StatefulFuzzTranscript, stored: (_ partition: Int, _ offset: UInt64) -> Bool
    ) -> [String] {
        var (responses, problems) = StatefulFuzzHTTP.responses(transcript.output)
        problems = problems.map { "the server wrote \($0)" }
        // NIO's 400 for bytes its decoder refuses answers no request: it may come once, last.
        let requests =
            StatefulFuzzHTTP.requestLines(transcript.input)
            + (transcript.output.suffix(StatefulFuzzHTTP.protocolError.count).elementsEqual(
                StatefulFuzzHTTP.protocolError) ? 1 : 0)
        if responses.count > requests {
            problems.append("\(responses.count) responses for \(requests) requests")
        }
        var answered: Set<String> = []
        var count = 0
        for response in responses where response.complete && !response.body.isEmpty {
            guard let object = try? JSONSerialization.jsonObject(with: Data(response.body)) else {
                problems.append("a body that is no JSON: \(String(decoding: response.body.prefix(60), as: UTF8.self))")
                continue
            }
            guard response.status == 200, let offsets = (object as? [String: Any])?["offsets"] as? [[String: Any]]
            else { continue }
            for entry in offsets where entry["error_code"] == nil || entry["error_code"] is NSNull {
                guard let partition = entry["partition"] as? Int, let offset = entry["offset"] as? Int, offset >= 0
                else {
                    problems.append("a produce offset without its partition and offset: \(entry)")
                    continue
                }
                count += 1
                if !answered.insert("\(partition)/\(offset)").inserted {
                    problems.append("partition \(partition) offset \(offset) answered twice")
                }
                if !stored(partition, UInt64(offset)) {
                    problems.append("partition \(partition) offset \(offset) answered, and the stream does not hold it")
                }
            }
        }
        let sent = recordsSent(transcript.input)
        if count > sent { problems.append("\(count) offsets answered for \(sent) records sent") }
        return problems
    }
}
