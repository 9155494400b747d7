import Dispatch
import Logging
import NIOConcurrencyHelpers
import NIOCore
import PostgresNIO

/// `PostgresStore.readStream`: a pool of connections of its own (`read_connections`, default 4), never
/// the writer's connection or thread, never a bus loop. Each lane is a connection (made on its first
/// read, again after a failure) and a serial queue; a read goes to the lane with the fewest reads in
/// flight, so a consumer reading far behind does not hold up another's read. Each read asks for the
/// segments that may hold the offsets a page at a time, by newest offset, until every offset is found.
final class PostgresStreamReader: @unchecked Sendable {  // a lane's `connection` is only touched on its queue
    private final class Lane: @unchecked Sendable {
        let queue: DispatchQueue
        var connection: PostgresConnection?

        init(index: Int) { queue = DispatchQueue(label: "switchboard-store-postgres-reader-\(index)") }
    }

    private let connect: @Sendable () throws -> PostgresConnection
    private let logger: Logger
    private let lanes: [Lane]
    /// Reads in flight per lane, and whether the store is closed.
    private let state: NIOLockedValueBox<(inFlight: [Int], closed: Bool)>

    init(connect: @escaping @Sendable () throws -> PostgresConnection, connections: Int, logger: Logger) {
        self.connect = connect
        self.logger = logger
        lanes = (0..<max(1, connections)).map(Lane.init(index:))
        state = NIOLockedValueBox((Array(repeating: 0, count: max(1, connections)), false))
    }

    /// Connections the pool has open now (each lane connects on its first read).
    var openConnections: Int {
        lanes.reduce(0) { count, lane in count + lane.queue.sync { lane.connection?.isClosed == false ? 1 : 0 } }
    }

    func read(
        _ stream: String, partition: Int, offsets: [UInt64],
        completion: @escaping @Sendable (Result<[StoredStreamMessage], any Error>) -> Void
    ) {
        guard let first = offsets.first, let last = offsets.last else { return completion(.success([])) }
        let picked: Int? = state.withLockedValue { state in
            guard !state.closed, let least = state.inFlight.indices.min(by: { state.inFlight[$0] < state.inFlight[$1] })
            else { return nil }
            state.inFlight[least] += 1
            return least
        }
        guard let index = picked else { return completion(.failure(StoreError("the store is closed"))) }
        let lane = lanes[index]
        lane.queue.async {
            let result: Result<[StoredStreamMessage], any Error>
            if self.state.withLockedValue({ $0.closed }) {
                result = .failure(StoreError("the store is closed"))
            } else {
                do {
                    result = .success(
                        try self.read(
                            stream, partition: partition, offsets: offsets, first: first, last: last, on: lane))
                } catch {
                    if let connection = lane.connection {
                        PostgresWriter.drop(connection)
                        lane.connection = nil
                    }
                    result = .failure(StoreError("postgres: \(PostgresStore.describe(error))"))
                }
            }
            self.state.withLockedValue { $0.inFlight[index] -= 1 }
            completion(result)
        }
    }

    private func read(
        _ stream: String, partition: Int, offsets: [UInt64], first: UInt64, last: UInt64, on lane: Lane
    ) throws -> [StoredStreamMessage] {
        let connection = try connected(lane)
        // Records below the trim floor may still sit in a segment kept for newer ones: not the store's.
        var floor: Int64 = 0
        for row in try PostgresWriter.await(
            connection.query(
                """
                SELECT trimmed_before FROM stream_partition WHERE stream = \(stream) AND partition = \(Int64(partition))
                """, logger: logger))
        {
            floor = try row.decode(Int64.self)
        }
        var picker = StreamSegmentPicker(
            stream: stream, partition: partition, offsets: offsets.filter { $0 >= UInt64(max(0, floor)) })
        guard !picker.isComplete else { return [] }
        var after: (last: Int64, id: Int64) = (Int64(first) - 1, Int64.max)
        while !picker.isComplete {
            let rows = try PostgresWriter.await(
                connection.query(
                    """
                    SELECT id, last_offset, records FROM stream_segment
                    WHERE stream = \(stream) AND partition = \(Int64(partition)) AND first_offset <= \(Int64(last))
                    AND (last_offset > \(after.last) OR (last_offset = \(after.last) AND id > \(after.id)))
                    ORDER BY last_offset, id LIMIT \(StreamSegmentPicker.page)
                    """, logger: logger))
            var count = 0
            for row in rows {
                let (id, segmentLast, records) = try row.decode((Int64, Int64, ByteBuffer).self)
                picker.add(segment: records)
                after = (segmentLast, id)
                count += 1
            }
            if count < StreamSegmentPicker.page { break }
        }
        return picker.messages
    }

    private func connected(_ lane: Lane) throws -> PostgresConnection {
        if let connection = lane.connection, !connection.isClosed { return connection }
        let fresh = try connect()
        lane.connection = fresh
        return fresh
    }

    func close() {
        state.withLockedValue { $0.closed = true }
        for lane in lanes {
            lane.queue.sync {
                if let connection = lane.connection { _ = try? connection.close().wait() }
                lane.connection = nil
            }
        }
    }
}
