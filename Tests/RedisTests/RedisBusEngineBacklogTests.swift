import BusCore
import BusRuntime
import Foundation
import Logging
import NIOCore
import NIOPosix
import RedisEngine
import Storage
import Testing

@testable import RedisBus

/// What an instance keeps while Redis is unreachable (docs/redis.md, "Redis unreachable"): bounded by
/// `maxBacklogBytes`, the oldest frames dropped first and counted, and the statistics `/metrics` reports —
/// degraded while Redis is down, not once it is back and what was kept was sent.
@Suite(.serialized) struct RedisBusEngineBacklogTests {
    /// Polls `condition` every 20 ms for up to `seconds`.
    func eventually(_ seconds: Double = 10, _ condition: () -> Bool) async throws -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if condition() { return true }
            try await Task.sleep(for: .milliseconds(20))
        }
        return condition()
    }

    @Test func aSmallBacklogKeepsTheNewestFramesAndCountsTheDroppedOnes() async throws {
        let server = try RedisServer.start()
        defer { server.stop() }
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let bus = Bus(eventLoops: [group.next()], store: MemoryStore())
        let bound = 2048
        let engine = RedisBusEngine(
            bus: bus, retained: RetainedMessageStore(),
            configuration: try RedisClientConfiguration(url: "redis://127.0.0.1:\(server.port)"),
            maxBacklogBytes: bound, logger: Logger(label: "backlog-test"), connectionCount: { 7 })
        try await engine.start().get()
        #expect(
            engine.statistics
                == RedisBusEngineStatistics(
                    degraded: false, framesLost: 0, backlogFrames: 0, backlogBytes: 0, clusterConnections: 7))

        server.kill()
        #expect(try await eventually { engine.statistics.degraded })
        // 20 publications of about 200 bytes each: about 4,000 bytes, twice the bound.
        let topic = try Topic("backlog/a")
        for n in 0..<20 {
            let payload = ByteBuffer(string: String(format: "%03d", n) + String(repeating: "x", count: 197))
            engine.forward(BusMessage(topic: topic, payload: payload, timestamp: UInt64(n)))
        }
        #expect(try await eventually { engine.statistics.framesLost > 0 })
        let kept = try await engine.eventLoop.submit {
            engine.backlog.compactMap { item -> Int? in
                guard case .message(let message)? = RedisBusFrame.decode(item.frame)?.event else { return nil }
                return Int(String(buffer: message.payload).prefix(3))
            }
        }.get()
        // The newest, in order, with nothing missing between them: the oldest went first.
        #expect(!kept.isEmpty && kept.count < 20)
        #expect(kept == Array((20 - kept.count)..<20), "\(kept)")
        let down = engine.statistics
        #expect(down.degraded && down.backlogBytes <= bound && down.backlogBytes > bound - 300)
        #expect(down.backlogFrames == kept.count)
        #expect(down.framesLost == 20 - kept.count)
        // The heartbeats due while Redis is down (every 2 s) are not kept: they would be stale once it is
        // back, and would push the kept publications out.
        try await Task.sleep(for: .milliseconds(2_500))
        #expect(engine.statistics == down)

        // Redis back: what was kept is sent, the instance is joined again, nothing more was lost.
        try server.restart()
        #expect(try await eventually(15) { !engine.statistics.degraded && engine.statistics.backlogFrames == 0 })
        let back = engine.statistics
        #expect(back.backlogBytes == 0 && back.framesLost == down.framesLost)
        try await engine.stop().get()
        try await group.shutdownGracefully()
    }
}
