import BusCore
import Foundation
import NIOCore
import NIOPosix
import Storage
import SwitchboardTestSupport
import Testing

@testable import BusRuntime
@testable import NATSFrontend

/// Durable consumers kept in the `_jetstream_consumers` stream: what is asked while that stream is still
/// being created is stored once it exists, and a consumer's last record holds its newest state.
@Suite struct JetStreamDurabilityTests {
    private func durable(_ name: String, cursor: UInt64) throws -> JetStreamConsumer {
        let config = try JetStreamConsumerConfig(json: ["durable_name": name, "ack_policy": "explicit"], name: name)
        return JetStreamConsumer(
            stream: "S", state: JetStreamConsumerState(config: config, filters: [], cursor: cursor), created: 0)
    }

    /// One `ack_floor` per consumer, the last record of each subject.
    private func kept(_ bus: Bus) throws -> [String: Int] {
        let records = try bus.streams.read(JetStreamStreamConfig.consumerStoreName, partition: 0, from: 0).records
        var floors: [String: Int] = [:]
        for record in records {
            let name = String(record.record.message.topic.name.split(separator: "/").last ?? "")
            let payload = record.record.message.payload
            guard payload.readableBytes > 0 else {
                floors[name] = -1
                continue
            }
            floors[name] = JetStreamJSON.int(try JetStreamJSON.object(payload), "ack_floor")
        }
        return floors
    }

    /// The record written as the floor moves splices the floor into the description encoded once: the
    /// same bytes as encoding the whole document, so restore reads it as before.
    @Test func storedRecordIsTheEncodedDocument() throws {
        let consumer = JetStreamConsumer(
            stream: "S",
            state: JetStreamConsumerState(
                config: try JetStreamConsumerConfig(
                    json: ["durable_name": "d", "ack_policy": "explicit", "filter_subject": "S.\"x\""], name: "d"),
                filters: [], cursor: 1),
            created: 1_700_000_000_123_456_789)
        for floor: UInt64 in [0, 7, 123_456_789_012] {
            let whole = JetStreamJSON.encode([
                "stream": "S", "config": consumer.config.json, "ack_floor": floor, "created": consumer.created,
            ])
            #expect(consumer.storedRecord(ackFloor: floor) == whole)
        }
    }

    @Test func requestsMadeWhileTheStoreStreamIsCreatedAreStoredInOrder() throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        defer { try? group.syncShutdownGracefully() }
        let store = GatedStore()
        let bus = Bus(eventLoops: [group.next()], store: store)
        let service = JetStreamService(bus: bus)

        let keeper = try durable("keeper", cursor: 1)
        service.persist(keeper)  // creates the store stream (on the loop's next turn): held
        try eventually { store.heldCount == 1 }
        // The floor moves while the stream is not there yet: delivered 1…2, both acknowledged.
        let message = BusMessage(topic: try Topic("S/job"), payload: ByteBuffer(string: "j"), timestamp: 0)
        _ = keeper.withState { state in
            state.next(limit: 2, now: 1) { from, limit in
                let record = StreamRecord(message: message, key: nil)
                return (from..<from + UInt64(limit)).map {
                    StreamReadRecord(partition: 0, offset: $0, time: 0, record: record)
                }
            }
        }
        keeper.withState { $0.acknowledge(1, .ack, now: 2) }
        service.persist(keeper)
        keeper.withState { $0.acknowledge(2, .ack, now: 3) }
        service.persist(keeper)
        let gone = try durable("gone", cursor: 5)
        service.persist(gone)
        service.persist(gone, deleted: true)
        let other = try durable("other", cursor: 3)
        service.persist(other)

        // Released until nothing more is asked of the store: the creation, then the appends.
        try eventually {
            store.release()
            return (try? kept(bus)) == ["keeper": 2, "gone": -1, "other": 2]
        }
    }

    /// A consumer's record holds its floor (just below where it starts), and a deletion leaves an empty one.
    @Test func aRecordHoldsTheFloorAndADeletionEmptiesIt() throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        defer { try? group.syncShutdownGracefully() }
        let bus = Bus(eventLoops: [group.next()], store: MemoryStore())
        let service = JetStreamService(bus: bus)
        let keeper = try durable("keeper", cursor: 10)
        service.persist(keeper)
        try eventually { (try? kept(bus)) == ["keeper": 9] }
        service.persist(keeper, deleted: true)
        try eventually { (try? kept(bus)) == ["keeper": -1] }
    }

    /// Requests coalesce: the last for each consumer or stream, in the order of those last requests.
    @Test func aBatchKeepsTheLastRequestForEach() throws {
        let a = try durable("a", cursor: 1)
        let b = try durable("b", cursor: 1)
        let kept = JetStreamService.lastOfEach([
            .consumer(a, deleted: false), .stream("S"), .consumer(b, deleted: false), .consumer(a, deleted: true),
        ])
        #expect(kept.count == 3)
        guard case .stream("S") = kept[0], case .consumer(let first, false) = kept[1],
            case .consumer(let second, true) = kept[2]
        else {
            Issue.record("unexpected order: \(kept)")
            return
        }
        #expect(first === b && second === a)
    }

    /// Waits (up to 5 s) for `condition`, which runs on this thread between short sleeps.
    private func eventually(_ condition: () throws -> Bool) throws {
        let deadline = Date().addingTimeInterval(5)
        while Date() < deadline {
            if try condition() { return }
            Thread.sleep(forTimeInterval: 0.01)
        }
        Issue.record("condition not met within 5 s")
    }
}
