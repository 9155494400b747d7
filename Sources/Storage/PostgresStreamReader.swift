import Dispatch
import Logging
import NIOConcurrencyHelpers
import NIOCore
import PostgresNIO

/// `PostgresStore.readStream`: one connection of its own (connected on the first read, again after a
/// failure), read on one serial queue of its own — never the writer's connection or thread, never a bus
/// loop. Each read asks for the segments that may hold the offsets a page at a time, by newest offset,
/// until every offset is found.
final class PostgresStreamReader: @unchecked Sendable {  // `connection` is only touched on `queue`
    private let connect: @Sendable () throws -> PostgresConnection
    private let logger: Logger
    private let queue = DispatchQueue(label: "switchboard-store-postgres-reader")
    private var connection: PostgresConnection?
    private let closed = NIOLockedValueBox(false)

    init(connect: @escaping @Sendable () throws -> PostgresConnection, logger: Logger) {
        self.connect = connect
        self.logger = logger
    }

    func read(
        _ stream: String, partition: Int, offsets: [UInt64],
        completion: @escaping @Sendable (Result<[StoredStreamMessage], any Error>) -> Void
    ) {
        guard let first = offsets.first, let last = offsets.last else { return completion(.success([])) }
        queue.async {
            guard !self.closed.withLockedValue({ $0 }) else {
                return completion(.failure(StoreError("the store is closed")))
            }
            do {
                completion(
                    .success(try self.read(stream, partition: partition, offsets: offsets, first: first, last: last)))
            } catch {
                if let connection = self.connection {
                    PostgresWriter.drop(connection)
                    self.connection = nil
                }
                completion(.failure(StoreError("postgres: \(PostgresStore.describe(error))")))
            }
        }
    }

    private func read(_ stream: String, partition: Int, offsets: [UInt64], first: UInt64, last: UInt64) throws
        -> [StoredStreamMessage]
    {
        let connection = try connected()
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

    private func connected() throws -> PostgresConnection {
        if let connection, !connection.isClosed { return connection }
        let fresh = try connect()
        connection = fresh
        return fresh
    }

    func close() {
        closed.withLockedValue { $0 = true }
        queue.sync {
            if let connection { _ = try? connection.close().wait() }
            connection = nil
        }
    }
}
