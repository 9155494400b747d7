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

    @Test func requestsMadeWhileTheStoreStreamIsCreatedAreStoredInOrder() throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        defer { try? group.syncShutdownGracefully() }
        let store = GatedStore()
        let bus = Bus(eventLoops: [group.next()], store: store)
        let service = JetStreamService(bus: bus)

        let keeper = try durable("keeper", cursor: 1)
        service.persist(keeper)  // creates the store stream: held
        #expect(store.heldCount == 1)
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
        for _ in 0..<10 where store.heldCount > 0 { store.release() }
        #expect(store.heldCount == 0)
        #expect(try kept(bus) == ["keeper": 2, "gone": -1, "other": 2])
    }

    @Test func theLastRecordReadsTheNewestFloor() throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        defer { try? group.syncShutdownGracefully() }
        let bus = Bus(eventLoops: [group.next()], store: MemoryStore())
        let service = JetStreamService(bus: bus)
        let keeper = try durable("keeper", cursor: 10)
        service.persist(keeper)
        #expect(try kept(bus) == ["keeper": 9])
        service.persist(keeper, deleted: true)
        #expect(try kept(bus) == ["keeper": -1])
    }
}
