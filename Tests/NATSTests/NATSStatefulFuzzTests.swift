import BusCore
import BusRuntime
import FrontendKit
import NIOCore
import NIOEmbedded
import SwitchboardTestSupport
import Testing

@testable import NATSFrontend
@testable import NATSWire

/// Stateful fuzzing of the NATS connection handler (issue 26): random operation sequences (valid ones in
/// random orders, mutated, truncated, split across reads), writability changes, time passing (PING
/// timers) and publications from elsewhere, each through a fresh handler on an EmbeddedChannel. After
/// each: no crash, no subscription or registry entry left once closed, `+OK` only in verbose mode and
/// only for a CONNECT, PUB, SUB or UNSUB, `PONG` only for a `PING`, `MSG` only for a subscribed sid.
@Suite struct NATSStatefulFuzzTests {
    static let subjects = ["a.b", "a.c", "x", "a.b.c"]
    static let filters = ["a.>", "a.b", "*.c", "x", "a.*.c", ">", "a..b", "a.>.b"]

    @Test func randomOperationSequencesNeitherCrashLeakNorAcknowledgeWhatWasNotDone() throws {
        for failure in try StatefulFuzzPlan(defaultIterations: 100).failures(
            "NATSStatefulFuzzTests", of: Self.runSequence)
        {
            Issue.record(Comment(rawValue: failure))
        }
    }

    /// The check itself: `+OK` without verbose mode, an unanswered `PONG` and a `MSG` for no subscription
    /// are caught.
    @Test func theCheckCatchesAcknowledgementsOfOperationsNeverSent() {
        var transcript = StatefulFuzzTranscript()
        transcript.input = Array("CONNECT {\"verbose\":false}\r\nSUB a 1\r\nPING\r\n".utf8)
        transcript.output = Array("INFO {}\r\n+OK\r\nPONG\r\nPONG\r\nMSG a 1 1\r\nx\r\nMSG a 9 1\r\nx\r\n".utf8)
        let problems = Self.acknowledgementProblems(transcript, limits: NATSLimits())
        #expect(problems.count == 3, "\(problems)")
        #expect(problems.contains { $0.contains("sid 9") })
    }

    static func runSequence(seed: UInt64) throws -> [String] {
        var random = SplitMix(state: seed)
        let harness = EmbeddedBusHarness()
        var configuration = NATSConfiguration()
        configuration.limits.pingIntervalSeconds = 5
        configuration.limits.maxPingsOut = 2
        configuration.limits.maxPayload = 256
        let services = NATSServices(
            configuration: configuration, bus: harness.bus, connections: harness.connections,
            authenticator: StaticTokenAuthenticator(allowsAnonymous: true, tokens: [:]))
        let verbose = Bool.random(using: &random)
        let connect = Array("CONNECT {\"verbose\":\(verbose),\"pedantic\":false,\"headers\":true}\r\n".utf8)
        let script = StatefulFuzzScript(opening: [connect], topics: ["a/b", "a/c", "x", "a/b/c"]) { random in
            operation(using: &random)
        }
        let steps = script.steps(using: &random)
        let before = harness.bus.registry.count
        let channel = try harness.connectedChannel([NATSConnectionHandler(services: services)])
        let transcript = harness.run(steps, on: channel)
        var problems = acknowledgementProblems(transcript, limits: configuration.limits)
        problems += harness.leaks(after: channel, subscriptionsBefore: before)
        return problems
    }

    /// Any operation a client may send.
    static func operation(using random: inout SplitMix) -> [UInt8] {
        let sid = Int.random(in: 1...5, using: &random)
        let subject = subjects.randomElement(using: &random)!
        let text: String
        switch Int.random(in: 0..<12, using: &random) {
        case 0..<3:
            let payload = String(repeating: "p", count: Int.random(in: 0...8, using: &random))
            let reply = Bool.random(using: &random) ? " r.\(sid)" : ""
            text = "PUB \(subject)\(reply) \(payload.utf8.count)\r\n\(payload)\r\n"
        case 3:
            let headers = "NATS/1.0\r\nk: v\r\n\r\n"
            text = "HPUB \(subject) \(headers.utf8.count) \(headers.utf8.count + 2)\r\n\(headers)hi\r\n"
        case 4..<6:
            let queue = Int.random(in: 0..<4, using: &random) == 0 ? " q" : ""
            text = "SUB \(filters.randomElement(using: &random)!)\(queue) \(sid)\r\n"
        case 6:
            text = "UNSUB \(sid)\(Bool.random(using: &random) ? " \(Int.random(in: 1...3, using: &random))" : "")\r\n"
        case 7, 8: text = "PING\r\n"
        case 9: text = "PONG\r\n"
        case 10: text = "CONNECT {\"verbose\":\(Bool.random(using: &random))}\r\n"
        default: text = "PUB \(subject) 300\r\n" + String(repeating: "z", count: 300) + "\r\n"
        }
        return Array(text.utf8)
    }

    static func acknowledgementProblems(_ transcript: StatefulFuzzTranscript, limits: NATSLimits) -> [String] {
        // What the client sent, as the server's parser reads it: up to the first operation it refuses.
        let parser = NATSParser(limits: limits)
        var input = ByteBuffer(bytes: transcript.input)
        var verbose = false
        var acknowledgeable = 0
        var pings = 0
        var sids: Set<String> = []
        while let operation = try? parser.next(&input) {
            switch operation {
            case .connect(let options):
                verbose = options.verbose
                if verbose { acknowledgeable += 1 }
            case .publish, .unsubscribe:
                if verbose { acknowledgeable += 1 }
            case .subscribe(_, _, let sid):
                sids.insert(sid)
                if verbose { acknowledgeable += 1 }
            case .ping: pings += 1
            case .pong, .ignored: break
            }
        }
        // What the server wrote: control lines, and MSG / HMSG with the payloads they announce skipped.
        var problems: [String] = []
        var oks = 0
        var pongs = 0
        var output = ByteBuffer(bytes: transcript.output)
        while let end = output.readableBytesView.firstIndex(of: UInt8(ascii: "\n")) {
            let line = output.readString(length: end - output.readerIndex + 1)!.trimmingSuffix("\r\n")
            let fields = line.split(separator: " ")
            switch fields.first {
            case "+OK": oks += 1
            case "PONG": pongs += 1
            case "MSG", "HMSG":
                guard fields.count >= 4, let size = Int(fields.last!), output.readableBytes >= size + 2 else {
                    problems.append("a \(fields.first!) line that does not parse or is cut: \(line)")
                    return problems
                }
                if !sids.contains(String(fields[2])) {
                    problems.append("\(fields.first!) for sid \(fields[2]), never subscribed")
                }
                output.moveReaderIndex(forwardBy: size + 2)
            case "INFO", "PING", "-ERR": break
            default: problems.append("the server wrote a line that is no NATS operation: \(line)")
            }
        }
        if output.readableBytes > 0 {
            problems.append("the server wrote \(output.readableBytes) bytes of a partial line")
        }
        if oks > acknowledgeable {
            problems.append("\(oks) +OK for \(acknowledgeable) operations a verbose client sent")
        }
        if pongs > pings { problems.append("\(pongs) PONGs for \(pings) PINGs") }
        return problems
    }
}

extension String {
    fileprivate func trimmingSuffix(_ suffix: String) -> String {
        hasSuffix(suffix) ? String(dropLast(suffix.count)) : self
    }
}
