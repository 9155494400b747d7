import BusCore
import BusRuntime
import Foundation
import FrontendKit
import KafkaRESTFrontend
import KafkaRESTWire
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix
import SchemaKit
import Storage
import Testing

/// The v2 resources in-process: a real bus with a memory store, the frontend's router called with whole
/// requests (no sockets; the interop suite drives the real listener).
@Suite struct KafkaRESTRouteTests {
    final class Harness: Sendable {
        let group: MultiThreadedEventLoopGroup
        let bus: Bus
        let services: KafkaRESTServices
        let router: HTTPRouter
        let monotonic: NIOLockedValueBox<UInt64>

        init(_ configure: (inout KafkaRESTConfiguration) -> Void = { _ in }, schemas: (any RecordSchemaSource)? = nil) {
            var configuration = KafkaRESTConfiguration()
            configure(&configuration)
            let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
            let monotonic = NIOLockedValueBox<UInt64>(1_000_000_000)
            self.group = group
            self.monotonic = monotonic
            let bus = Bus(eventLoops: Array(group.makeIterator()), store: MemoryStore())
            self.bus = bus
            let services = KafkaRESTServices(
                configuration: configuration, bus: bus,
                authenticator: StaticTokenAuthenticator(allowsAnonymous: true, tokens: [:]), schemas: schemas,
                now: { monotonic.withLockedValue { $0 } })
            self.services = services
            router = services.makeRouter()
        }

        struct Answer {
            var status: Int
            var contentType: String?
            var text: String
            var json: JSONValue? {
                text.isEmpty ? nil : try? Array(text.utf8).withUnsafeBytes { try JSONParser.parse($0) }
            }
            var errorCode: Int? { json?["error_code"]?.intValue }
        }

        func call(
            _ method: HTTPMethod, _ uri: String, type: String? = nil, accept: String? = nil, body: String? = nil
        ) async throws -> Answer {
            var headers = HTTPHeaders()
            headers.add(name: "Host", value: "proxy.test")  // no listener: the routes run in-process
            if let type { headers.add(name: "Content-Type", value: type) }
            if let accept { headers.add(name: "Accept", value: accept) }
            let request = HTTPRequest(
                head: HTTPRequestHead(version: .http1_1, method: method, uri: uri, headers: headers),
                body: ByteBuffer(string: body ?? ""), remoteAddress: nil)
            let loop = group.next()
            let response = try await loop.flatSubmit { self.router.respond(to: request, on: loop) }.get()
            return Answer(
                status: Int(response.status.code), contentType: response.headers.first(name: "Content-Type"),
                text: String(buffer: response.body))
        }

        static let binary = "application/vnd.kafka.binary.v2+json"
        static let json = "application/vnd.kafka.json.v2+json"
        static let v2 = "application/vnd.kafka.v2+json"

        func produce(_ topic: String, _ records: String, type: String = binary) async throws -> Answer {
            try await call(.POST, "/topics/\(topic)", type: type, body: #"{"records":\#(records)}"#)
        }

        func consumer(_ group: String, _ body: String) async throws -> String {
            let answer = try await call(.POST, "/consumers/\(group)", type: Self.v2, body: body)
            #expect(answer.status == 200, "\(answer.text)")
            return answer.json?["instance_id"]?.stringValue ?? ""
        }

        func records(_ group: String, _ id: String, timeout: Int = 0, accept: String? = nil) async throws -> Answer {
            try await call(.GET, "/consumers/\(group)/instances/\(id)/records?timeout=\(timeout)", accept: accept)
        }

        func shutdown() async throws { try await group.shutdownGracefully() }
    }

    static func base64(_ text: String) -> String { Data(text.utf8).base64EncodedString() }

    @Test func producedRecordsAreStoredAndConsumedInOrder() async throws {
        let harness = Harness()
        let produced = try await harness.produce(
            "orders.eu",
            #"[{"key":"\#(Self.base64("k"))","value":"\#(Self.base64("one"))"},{"value":"\#(Self.base64("two"))"}]"#)
        #expect(produced.status == 200, "\(produced.text)")
        #expect(produced.contentType == "application/vnd.kafka.v2+json")
        let offsets = produced.json?["offsets"]?.arrayValue ?? []
        #expect(offsets.map { $0["offset"]?.intValue } == [0, 1])
        #expect(produced.json?["value_schema_id"] == .null)
        // The topic is a stream capturing orders/eu.
        #expect(
            harness.bus.streams.stream(named: "orders.eu")?.configuration.filters.map(\.description) == ["orders/eu"])

        let id = try await harness.consumer("g", #"{"name":"c","format":"binary","auto.offset.reset":"earliest"}"#)
        #expect(id == "c")
        let subscribed = try await harness.call(
            .POST, "/consumers/g/instances/c/subscription", type: Harness.v2, body: #"{"topics":["orders.eu"]}"#)
        #expect(subscribed.status == 204)
        let records = try await harness.records("g", "c")
        #expect(records.contentType == Harness.binary)
        let values = records.json?.arrayValue ?? []
        #expect(values.map { $0["value"]?.stringValue } == [Self.base64("one"), Self.base64("two")])
        #expect(values.first?["key"]?.stringValue == Self.base64("k"))
        #expect(values.map { $0["offset"]?.intValue } == [0, 1])
        // Positions moved: nothing more.
        #expect(try await harness.records("g", "c").json?.arrayValue?.count == 0)
        try await harness.shutdown()
    }

    @Test func keysLandOnKafkasPartitions() async throws {
        let harness = Harness { $0.defaultPartitions = 7 }
        // Kafka's murmur2("21") = -973932308: positive 1173551340, partition 3 of 7.
        var records: [String] = []
        let keys = ["21", "foobar", "user-42", "a-little-bit-long-string", "x"]
        for key in keys { records.append(#"{"key":"\#(Self.base64(key))","value":"\#(Self.base64("v"))"}"#) }
        let produced = try await harness.produce("keyed", "[" + records.joined(separator: ",") + "]")
        let partitions = (produced.json?["offsets"]?.arrayValue ?? []).map { $0["partition"]?.intValue }
        #expect(partitions.first == 3)
        #expect(partitions == keys.map { KafkaPartitioner.partition(forKey: Array($0.utf8), count: 7) })
        // An explicit partition wins over the key; one out of range is 40402.
        let explicit = try await harness.call(
            .POST, "/topics/keyed/partitions/2", type: Harness.json,
            body: #"{"records":[{"key":"21","value":{"a":1}}]}"#)
        #expect(explicit.json?["offsets"]?.arrayValue?.first?["partition"]?.intValue == 2)
        let outside = try await harness.call(
            .POST, "/topics/keyed/partitions/9", type: Harness.json, body: #"{"records":[{"value":1}]}"#)
        #expect(outside.status == 404 && outside.errorCode == 40402)
        try await harness.shutdown()
    }

    @Test func topicsShowStreams() async throws {
        let harness = Harness { $0.defaultPartitions = 2 }
        _ = try await harness.produce("a.b", #"[{"value":"AA=="}]"#)
        let list = try await harness.call(.GET, "/topics")
        #expect(list.json == .array([.string("a.b")]))
        let topic = try await harness.call(.GET, "/topics/a.b")
        #expect(topic.json?["name"]?.stringValue == "a.b")
        #expect(topic.json?["partitions"]?.arrayValue?.count == 2)
        #expect(topic.json?["configs"]?["cleanup.policy"]?.stringValue == "delete")
        let partitions = try await harness.call(.GET, "/topics/a.b/partitions")
        #expect(partitions.json?.arrayValue?.map { $0["leader"]?.intValue } == [0, 0])
        let partition = try await harness.call(.GET, "/topics/a.b/partitions/1")
        #expect(partition.json?["replicas"]?.arrayValue?.first?["in_sync"] == .bool(true))
        #expect(try await harness.call(.GET, "/topics/nope").errorCode == 40401)
        #expect(try await harness.call(.GET, "/topics/a.b/partitions/5").errorCode == 40402)
        try await harness.shutdown()
    }

    @Test func withoutAutoCreateAMissingTopicIs40401() async throws {
        let harness = Harness { $0.autoCreateTopics = false }
        let answer = try await harness.produce("missing", #"[{"value":"AA=="}]"#)
        #expect(answer.status == 404 && answer.errorCode == 40401)
        try await harness.shutdown()
    }

    @Test func contentNegotiationErrors() async throws {
        let harness = Harness()
        let wrongType = try await harness.produce("t", #"[{"value":1}]"#, type: "application/json")
        #expect(wrongType.status == 415 && wrongType.errorCode == 415)
        let notAcceptable = try await harness.call(.GET, "/topics", accept: "text/html")
        #expect(notAcceptable.status == 406 && notAcceptable.errorCode == 406)
        let plainJSON = try await harness.call(.GET, "/topics", accept: "application/json")
        #expect(plainJSON.contentType == "application/json")
        let badJSON = try await harness.produce("t", "[{", type: Harness.json)
        #expect(badJSON.status == 400)
        _ = try await harness.consumer("g", #"{"name":"c","format":"binary"}"#)
        let mismatch = try await harness.records("g", "c", accept: "application/vnd.kafka.json.v2+json")
        #expect(mismatch.status == 406 && mismatch.errorCode == 40601)
        try await harness.shutdown()
    }

    @Test func consumerErrors() async throws {
        let harness = Harness()
        _ = try await harness.produce("t", #"[{"value":"AA=="}]"#)
        _ = try await harness.consumer("g", #"{"name":"c"}"#)
        let duplicate = try await harness.call(.POST, "/consumers/g", type: Harness.v2, body: #"{"name":"c"}"#)
        #expect(duplicate.status == 409 && duplicate.errorCode == 40902)
        let missing = try await harness.records("g", "nobody")
        #expect(missing.status == 404 && missing.errorCode == 40403)
        let badConfig = try await harness.call(
            .POST, "/consumers/g", type: Harness.v2, body: #"{"auto.offset.reset":"sometimes"}"#)
        #expect(badConfig.status == 422 && badConfig.errorCode == 42204)
        #expect(
            try await harness.call(
                .POST, "/consumers/g/instances/c/assignments", type: Harness.v2,
                body: #"{"partitions":[{"topic":"t","partition":0}]}"#
            ).status == 204)
        let mixed = try await harness.call(
            .POST, "/consumers/g/instances/c/subscription", type: Harness.v2, body: #"{"topics":["t"]}"#)
        #expect(mixed.status == 409 && mixed.errorCode == 40903)
        let notHeld = try await harness.call(
            .POST, "/consumers/g/instances/c/positions", type: Harness.v2,
            body: #"{"offsets":[{"topic":"other","partition":0,"offset":1}]}"#)
        #expect(notHeld.errorCode == 40903)
        #expect(try await harness.call(.DELETE, "/consumers/g/instances/c").status == 204)
        #expect(try await harness.call(.DELETE, "/consumers/g/instances/c").errorCode == 40403)
        // Records with neither a subscription nor an assignment: KafkaConsumer.poll's IllegalStateException.
        _ = try await harness.consumer("g", #"{"name":"idle"}"#)
        let idle = try await harness.records("g", "idle")
        #expect(idle.status == 409 && idle.errorCode == 40903)
        try await harness.shutdown()
    }

    @Test func groupRebalancesOnJoinLeaveAndExpiry() async throws {
        let harness = Harness {
            $0.defaultPartitions = 4
            $0.consumerInstanceTimeoutMilliseconds = 1_000
        }
        _ = try await harness.produce("work", #"[{"value":"AA=="}]"#)
        for name in ["a", "b"] {
            _ = try await harness.consumer("g", #"{"name":"\#(name)"}"#)
            _ = try await harness.call(
                .POST, "/consumers/g/instances/\(name)/subscription", type: Harness.v2,
                body: #"{"topic_pattern":"wo.*"}"#)
        }
        func held(_ name: String) async throws -> [Int] {
            let answer = try await harness.call(.GET, "/consumers/g/instances/\(name)/assignments")
            return (answer.json?["partitions"]?.arrayValue ?? []).compactMap { $0["partition"]?.intValue }
        }
        #expect(try await held("a") == [0, 1])
        #expect(try await held("b") == [2, 3])
        let subscription = try await harness.call(.GET, "/consumers/g/instances/b/subscription")
        #expect(subscription.json?["topics"] == .array([.string("work")]))
        #expect(try await harness.call(.DELETE, "/consumers/g/instances/b").status == 204)
        #expect(try await held("a") == [0, 1, 2, 3])
        // A third joins, then a goes idle past the timeout and expires: c holds everything.
        _ = try await harness.consumer("g", #"{"name":"c"}"#)
        _ = try await harness.call(
            .POST, "/consumers/g/instances/c/subscription", type: Harness.v2, body: #"{"topics":["work"]}"#)
        #expect(try await held("c") == [2, 3])
        harness.monotonic.withLockedValue { $0 += 800_000_000 }
        #expect(try await held("c") == [2, 3])
        harness.monotonic.withLockedValue { $0 += 800_000_000 }
        #expect(harness.services.expireIdleConsumers() == 1)
        #expect(try await held("c") == [0, 1, 2, 3])
        #expect(try await harness.records("g", "a").errorCode == 40403)
        try await harness.shutdown()
    }

    @Test func offsetsAreCommittedAndRead() async throws {
        let harness = Harness()
        _ = try await harness.produce("log", #"[{"value":"AA=="},{"value":"AQ=="},{"value":"Ag=="}]"#)
        _ = try await harness.consumer(
            "g", #"{"name":"c","auto.offset.reset":"earliest","auto.commit.enable":"false"}"#)
        _ = try await harness.call(
            .POST, "/consumers/g/instances/c/assignments", type: Harness.v2,
            body: #"{"partitions":[{"topic":"log","partition":0}]}"#)
        #expect(try await harness.records("g", "c").json?.arrayValue?.count == 3)
        let partitions = #"{"partitions":[{"topic":"log","partition":0}]}"#
        let none = try await harness.call(.GET, "/consumers/g/instances/c/offsets", type: Harness.v2, body: partitions)
        #expect(none.json?["offsets"] == .array([]))
        // An explicit commit of offset 0 stores 1, the next to read (the proxy's + 1).
        let explicit = try await harness.call(
            .POST, "/consumers/g/instances/c/offsets", type: Harness.v2,
            body: #"{"offsets":[{"topic":"log","partition":0,"offset":0}]}"#)
        #expect(explicit.status == 200)
        var read = try await harness.call(.GET, "/consumers/g/instances/c/offsets", type: Harness.v2, body: partitions)
        #expect(read.json?["offsets"]?.arrayValue?.first?["offset"]?.intValue == 1)
        // No body: every position (3, after the three records).
        _ = try await harness.call(.POST, "/consumers/g/instances/c/offsets")
        read = try await harness.call(.GET, "/consumers/g/instances/c/offsets", type: Harness.v2, body: partitions)
        #expect(read.json?["offsets"]?.arrayValue?.first?["offset"]?.intValue == 3)
        // Seeking back re-reads; a new instance of the group starts at the committed offset.
        _ = try await harness.call(
            .POST, "/consumers/g/instances/c/positions", type: Harness.v2,
            body: #"{"offsets":[{"topic":"log","partition":0,"offset":1}]}"#)
        #expect(try await harness.records("g", "c").json?.arrayValue?.map { $0["offset"]?.intValue } == [1, 2])
        _ = try await harness.call(
            .POST, "/consumers/g/instances/c/positions/beginning", type: Harness.v2, body: partitions)
        #expect(try await harness.records("g", "c").json?.arrayValue?.count == 3)
        _ = try await harness.consumer("g", #"{"name":"d"}"#)
        _ = try await harness.call(
            .POST, "/consumers/g/instances/d/assignments", type: Harness.v2, body: partitions)
        _ = try await harness.produce("log", #"[{"value":"Aw=="}]"#)
        #expect(try await harness.records("g", "d").json?.arrayValue?.map { $0["offset"]?.intValue } == [3])
        try await harness.shutdown()
    }

    @Test func recordsWaitUntilOneArrives() async throws {
        let harness = Harness()
        _ = try await harness.produce("live", #"[{"value":"AA=="}]"#)
        _ = try await harness.consumer("g", #"{"name":"c","format":"json"}"#)
        _ = try await harness.call(
            .POST, "/consumers/g/instances/c/subscription", type: Harness.v2, body: #"{"topics":["live"]}"#)
        // Latest: nothing yet, an empty answer after the timeout.
        let started = ContinuousClock.now
        #expect(try await harness.records("g", "c", timeout: 200).json == .array([]))
        #expect(ContinuousClock.now - started >= .milliseconds(150))
        // Held for up to the proxy's longest poll (60 s): only the record can answer it sooner. A shorter
        // hold made this flaky: under the whole suite's parallel run the produce below waited up to ~10 s for
        // a thread (5 s and 10 s bounds each failed once), and a record that lands just before a timeout
        // answers either way.
        async let held = harness.records("g", "c", timeout: 60_000)
        try await Task.sleep(for: .milliseconds(200))
        _ = try await harness.produce("live", #"[{"value":{"n":1}}]"#, type: Harness.json)
        let answer = try await held
        #expect(answer.json?.arrayValue?.first?["value"]?["n"]?.intValue == 1)
        #expect(ContinuousClock.now - started < .seconds(50))
        try await harness.shutdown()
    }

    @Test func maxBytesAndFetchMinBytesShapeTheAnswer() async throws {
        let harness = Harness()
        let records = (0..<4).map { _ in #"{"value":"\#(Self.base64(String(repeating: "x", count: 100)))"}"# }
        _ = try await harness.produce("sized", "[" + records.joined(separator: ",") + "]")
        _ = try await harness.consumer("g", #"{"name":"c","auto.offset.reset":"earliest"}"#)
        _ = try await harness.call(
            .POST, "/consumers/g/instances/c/subscription", type: Harness.v2, body: #"{"topics":["sized"]}"#)
        // max_bytes bounds the answer (the first record always goes); the rest follows.
        let first = try await harness.call(.GET, "/consumers/g/instances/c/records?timeout=0&max_bytes=150")
        #expect(first.json?.arrayValue?.count == 1)
        #expect(try await harness.records("g", "c").json?.arrayValue?.count == 3)
        // fetch.min.bytes holds the answer until that many bytes are there (or the timeout).
        _ = try await harness.consumer("g2", #"{"name":"c","auto.offset.reset":"earliest","fetch.min.bytes":"1000"}"#)
        _ = try await harness.call(
            .POST, "/consumers/g2/instances/c/subscription", type: Harness.v2, body: #"{"topics":["sized"]}"#)
        let started = ContinuousClock.now
        let held = try await harness.records("g2", "c", timeout: 300)
        #expect(held.json?.arrayValue?.count == 4)
        #expect(ContinuousClock.now - started >= .milliseconds(250))
        try await harness.shutdown()
    }
}
