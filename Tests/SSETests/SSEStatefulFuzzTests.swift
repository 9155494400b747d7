import BusCore
import BusRuntime
import Foundation
import FrontendKit
import NIOConcurrencyHelpers
import NIOCore
import NIOEmbedded
import NIOHTTP1
import SwitchboardTestSupport
import Testing

@testable import SSEFrontend

/// Stateful fuzzing of the SSE routes — event streams (`/sse`, with and without `Last-Event-ID`), long
/// polls (`/poll`, with cursors and timeouts) and PocketBase's realtime API (`GET`/`POST /api/realtime`),
/// which share the HTTP handler — behind NIO's HTTP server pipeline as on the server (issue 26): random
/// requests in random orders (pipelined, mutated, truncated, split across reads, garbage), with
/// writability changes, time passing (keep-alives, held polls timing out) and publications from
/// elsewhere, each on a fresh connection on an EmbeddedChannel. After each: no crash; no subscription,
/// presence, registry entry or realtime client left once closed; everything written HTTP/1.1 responses,
/// no more than requests were sent; every event-stream body well-formed SSE (only `id`, `event`, `data`,
/// `retry` and comment lines); and no response delivering more messages than were published.
@Suite struct SSEStatefulFuzzTests {
    static let channels = ["chat/a", "chat/b", "x", "chat/%2B", "chat/*", "%23", "", "chat/a&channel=chat/b"]
    static let publishedPayload = "fuzz"

    @Test func randomRequestSequencesNeitherCrashLeakNorDeliverWhatWasNotPublished() throws {
        for failure in try StatefulFuzzPlan(defaultIterations: 100).failures(
            "SSEStatefulFuzzTests", of: Self.runSequence)
        {
            Issue.record(Comment(rawValue: failure))
        }
    }

    /// The check itself: a second response to one request, an event stream with a line that is no SSE
    /// field, and a stream delivering a message twice when it was published once are caught.
    @Test func theCheckCatchesResponsesAndMessagesNeverEarned() {
        var transcript = StatefulFuzzTranscript()
        transcript.input = StatefulFuzzHTTP.request("GET", "/sse?channel=x")
        let stream = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
        let body = "data: fuzz\n\nbogus line\ndata: fuzz\n\n"
        transcript.output = Array(
            (stream + String(body.utf8.count, radix: 16) + "\r\n" + body + "\r\n0\r\n\r\n"
                + "HTTP/1.1 204 No Content\r\n\r\n").utf8)
        let problems = Self.responseProblems(transcript, publications: 1)
        #expect(problems.count == 3, "\(problems)")
        #expect(problems.contains { $0.contains("2 responses") })
        #expect(problems.contains { $0.contains("bogus") })
        #expect(problems.contains { $0.contains("2 published messages") })
    }

    static func runSequence(seed: UInt64) throws -> [String] {
        var random = SplitMix(state: seed)
        let harness = EmbeddedBusHarness(
            configuration: BusConfiguration(
                history: HistoryPolicy(rules: [
                    .init(filter: try TopicFilter("chat/#"), limits: HistoryLimits(count: 10))
                ])))
        var configuration = SSEConfiguration()
        configuration.keepAliveSeconds = 5
        let services = SSEServices(
            configuration: configuration, bus: harness.bus, connections: harness.connections,
            authenticator: StaticTokenAuthenticator(allowsAnonymous: true, tokens: ["t": "alice"]))
        var router = HTTPRouter.Builder()
        SSERoutes(services: services).register(into: &router)
        let built = router.build()
        let script = StatefulFuzzScript(opening: [], topics: ["chat/a", "chat/b", "x"]) { random in
            request(using: &random)
        }
        let steps = script.steps(using: &random)
        let before = harness.bus.registry.count
        let channel = EmbeddedChannel(loop: harness.loop)
        // The pipeline every HTTP port uses.
        try HTTPServerService.configure(
            channel, router: built, endpoints: [],
            configuration: HTTPServerConfiguration(host: "127.0.0.1", port: 0, maxBodyBytes: 1024))
        try channel.connectFromTestPeer()
        let transcript = harness.run(steps, on: channel)
        let publications = steps.filter { if case .publish = $0 { true } else { false } }.count
        var problems = responseProblems(transcript, publications: publications)
        problems += harness.leaks(after: channel, subscriptionsBefore: before)
        let realtime = services.realtimeClients.withLockedValue { $0.count }
        if realtime != 0 { problems.append("\(realtime) realtime clients left after the close") }
        return problems
    }

    /// One request a browser (or anything else) may send.
    static func request(using random: inout SplitMix) -> [UInt8] {
        let channel = channels.randomElement(using: &random)!
        let position = ["", "0", "1", "zz-3", "x:1,y"].randomElement(using: &random)!
        switch Int.random(in: 0..<12, using: &random) {
        case 0..<3:
            let headers = Bool.random(using: &random) ? [("Last-Event-ID", position)] : []
            return StatefulFuzzHTTP.request("GET", "/sse?channel=\(channel)", headers: headers)
        case 3..<6:
            let timeout = ["0", "1", "30", "-1", "x"].randomElement(using: &random)!
            return StatefulFuzzHTTP.request("GET", "/poll?channel=\(channel)&cursor=\(position)&timeout=\(timeout)")
        case 6: return StatefulFuzzHTTP.request("GET", "/api/realtime")
        case 7:
            let body = [
                #"{"clientId":"c","subscriptions":["\#(channel)"]}"#, #"{"clientId":1}"#, "[", "",
            ].randomElement(using: &random)!
            return StatefulFuzzHTTP.request(
                "POST", "/api/realtime", headers: [("Content-Type", "application/json")], body: body)
        case 8:
            return StatefulFuzzHTTP.request(
                "OPTIONS", "/sse", headers: [("Origin", "http://a.test"), ("Access-Control-Request-Method", "GET")])
        case 9: return StatefulFuzzHTTP.request("GET", "/nowhere")
        case 10: return StatefulFuzzHTTP.request("GET", "/sse?channel=\(channel)", headers: [("Connection", "close")])
        default: return Array("GET /sse?channel=x HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nab".utf8)
        }
    }

    static func responseProblems(_ transcript: StatefulFuzzTranscript, publications: Int) -> [String] {
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
        for response in responses where response.header("content-type")?.hasPrefix("text/event-stream") == true {
            let text = String(decoding: response.body, as: UTF8.self)
            var lines = text.split(separator: "\n", omittingEmptySubsequences: false)
            // The last line of an incomplete stream may be cut.
            if !response.complete, !text.hasSuffix("\n") { lines.removeLast() }
            for line in lines where !line.isEmpty && !line.hasPrefix(":") {
                let field = line.split(separator: ":", maxSplits: 1).first.map(String.init) ?? ""
                if !["id", "event", "data", "retry"].contains(field) || line.contains("\r") {
                    problems.append("an event-stream line that is no SSE field: \(line.prefix(60))")
                }
            }
            let delivered = lines.filter { $0.contains(Substring(publishedPayload)) }.count
            if delivered > publications {
                problems.append("a stream delivered \(delivered) published messages, \(publications) were published")
            }
        }
        for response in responses where response.header("content-type")?.hasPrefix("application/json") == true {
            let mentions = String(decoding: response.body, as: UTF8.self).components(separatedBy: publishedPayload)
            if mentions.count - 1 > publications {
                problems.append(
                    "a response delivered \(mentions.count - 1) published messages, \(publications) were published")
            }
            if response.complete, !response.body.isEmpty,
                (try? JSONSerialization.jsonObject(with: Data(response.body))) == nil
            {
                problems.append(
                    "a JSON response that does not parse: \(String(decoding: response.body.prefix(60), as: UTF8.self))")
            }
        }
        return problems
    }
}
