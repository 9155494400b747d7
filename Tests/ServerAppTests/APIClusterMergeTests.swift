import BusCore
import FrontendKit
import NIOCore
import NIOHTTP1
import Prometheus
import RedisBus
import Testing

@testable import ServerApp

/// The admin API across instances (docs/redis.md, "The admin API across instances"): this instance's part
/// and the others' answers merged into one, an instance without an answer named with its reason, and a
/// close answered by whichever instance held the connection.
@Suite struct APIClusterMergeTests {
    func connection(_ id: String, _ protocolName: String, subscriptions: [String] = []) -> ConnectionInfo {
        ConnectionInfo(
            id: id, protocolName: protocolName, remoteAddress: "127.0.0.1:1", userID: nil, name: nil,
            connectedAt: 1_700_000_000, subscriptions: subscriptions)
    }

    /// What another instance answers for its own part (as `/api/connections` does when forwarded).
    func part(_ instance: String, _ list: [ConnectionInfo]) -> HTTPResponse {
        .json { buffer in
            buffer.writeStaticString("{\"instance\":")
            buffer.writeJSONString(instance)
            buffer.writeInteger(UInt8(ascii: ","))
            APIClusterMerge.writeConnections(&buffer, list, instance: instance, open: false)
        }
    }

    func document(_ response: HTTPResponse) throws -> JSONDocument {
        try response.body.withUnsafeReadableBytes { try JSONParser.parseDocument($0) }
    }

    @Test func connectionsOfEveryInstanceAreOneListEachTaggedWithItsInstance() throws {
        let answers = [
            InstanceAnswer(
                instance: "B", outcome: .success(part("B", [connection("b1", "mqtt"), connection("b2", "nats")]))),
            InstanceAnswer(instance: "C", outcome: .success(part("C", []))),
            InstanceAnswer(instance: "D", outcome: .failure(InstanceRequestError.timedOut(.seconds(2)))),
            InstanceAnswer(
                instance: "E",
                outcome: .success(.error(.unauthorized("a valid API key … or admin credentials are required")))),
        ]
        let merged = APIClusterMerge.connections(
            local: ("A", [connection("a1", "websocket", subscriptions: ["chat/1"])]), answers: answers)
        #expect(merged.status == .ok)
        let body = try document(merged)
        let listed = try #require(body["connections"]?.arrayValue)
        #expect(listed.map { $0["id"]?.stringValue } == ["a1", "b1", "b2"])
        #expect(listed.map { $0["instance"]?.stringValue } == ["A", "B", "B"])
        #expect(listed[0]["subscriptions"]?.arrayValue == [.string("chat/1")])
        #expect(body["count"]?.intValue == 3)
        let instances = try #require(body["instances"]?.arrayValue)
        #expect(instances.map { $0["instance"]?.stringValue } == ["A", "B", "C"])
        #expect(instances.map { $0["connections"]?.intValue } == [1, 2, 0])
        let unreachable = try #require(body["unreachable"]?.arrayValue)
        #expect(unreachable.map { $0["instance"]?.stringValue } == ["D", "E"])
        #expect(unreachable[0]["reason"]?.stringValue == "no answer within 2000 ms")
        #expect(unreachable[1]["reason"]?.stringValue?.hasPrefix("answered 401 Unauthorized: a valid API key") == true)
    }

    @Test func anAnswerThatIsNotAListIsNamedNotMerged() throws {
        let garbage = HTTPResponse(status: .ok, body: ByteBuffer(string: "{\"connections\":{}}"))
        let notJSON = HTTPResponse(status: .ok, body: ByteBuffer(string: "<html>"))
        let merged = APIClusterMerge.connections(
            local: ("A", []),
            answers: [
                InstanceAnswer(instance: "B", outcome: .success(garbage)),
                InstanceAnswer(instance: "C", outcome: .success(notJSON)),
                InstanceAnswer(instance: "D", outcome: .failure(InstanceRequestError.noAddress)),
            ])
        let body = try document(merged)
        #expect(body["connections"]?.arrayValue == [])
        #expect(body["count"]?.intValue == 0)
        #expect(
            body["unreachable"]?.arrayValue?.map { $0["reason"]?.stringValue } == [
                "answered without a \"connections\" list", "answered without a \"connections\" list",
                "no address in Redis",
            ])
    }

    @Test func channelsSumTheirSubscribersOverTheInstances() throws {
        let remote: HTTPResponse = .json { buffer in
            buffer.writeStaticString("{\"instance\":\"B\",")
            APIClusterMerge.writeChannels(&buffer, [("chat/1", 2), ("news", 1)], open: false)
        }
        let merged = APIClusterMerge.channels(
            local: ("A", [("chat/1", 1), ("alerts", 4)]),
            answers: [
                InstanceAnswer(instance: "B", outcome: .success(remote)),
                InstanceAnswer(instance: "C", outcome: .failure(InstanceRequestError.failed("connection refused"))),
            ])
        let body = try document(merged)
        let channels = try #require(body["channels"]?.arrayValue)
        #expect(channels.map { $0["channel"]?.stringValue } == ["alerts", "chat/1", "news"])
        #expect(channels.map { $0["subscribers"]?.intValue } == [4, 3, 1])
        #expect(body["instances"]?.arrayValue?.map { $0["subscribers"]?.intValue } == [5, 3])
        #expect(body["unreachable"]?.arrayValue?.first?["reason"]?.stringValue == "unreachable: connection refused")
    }

    @Test func aCloseIsAnsweredByTheInstanceHoldingTheConnection() {
        let notHere = HTTPResponse.error(.notFound("no connection x"))
        let closed = HTTPResponse(status: .noContent)
        let down = InstanceRequestError.failed("connection refused")
        func answer(_ outcomes: [Result<HTTPResponse, any Error>]) -> HTTPResponseStatus {
            let answers = outcomes.enumerated().map { InstanceAnswer(instance: "i\($0.offset)", outcome: $0.element) }
            return APIClusterMerge.closed("x", answers: answers).status
        }
        #expect(answer([.success(notHere), .success(closed)]) == .noContent)
        // One that did not answer may hold it, unless another closed it.
        #expect(answer([.failure(down), .success(closed)]) == .noContent)
        #expect(answer([.success(notHere), .failure(down)]) == .serviceUnavailable)
        #expect(answer([.success(notHere), .success(.error(.forbidden("admin only")))]) == .serviceUnavailable)
        // Every instance answered that it holds none (and there may be no other instance at all).
        #expect(answer([.success(notHere), .success(notHere)]) == .notFound)
        #expect(answer([]) == .notFound)
        let named = APIClusterMerge.closed("x", answers: [InstanceAnswer(instance: "C", outcome: .failure(down))])
        #expect(String(buffer: named.body).contains("C (unreachable: connection refused)"))
    }

    @Test func engineMetricsAreRenderedForPrometheus() {
        _ = MetricsBootstrap.registry  // bootstrapped first, so the metrics are Prometheus's
        let metrics = EngineMetrics()
        metrics.report(
            RedisBusEngineStatistics(
                degraded: true, framesLost: 5, backlogFrames: 3, backlogBytes: 1200, clusterConnections: 9))
        // The counter adds only what is new; the gauges follow the engine.
        metrics.report(
            RedisBusEngineStatistics(
                degraded: false, framesLost: 7, backlogFrames: 0, backlogBytes: 0, clusterConnections: 11))
        let text = String(decoding: MetricsBootstrap.registry.emitToBuffer(), as: UTF8.self)
        for line in [
            "switchboard_engine_degraded 0.0", "switchboard_engine_frames_lost_total 7",
            "switchboard_engine_backlog_frames 0.0", "switchboard_engine_backlog_bytes 0.0",
            "switchboard_cluster_connections 11.0",
        ] {
            #expect(text.contains(line + "\n"), "\(line) in \(text)")
        }
    }
}
