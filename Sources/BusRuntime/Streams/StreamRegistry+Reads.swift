package import BusCore
package import NIOCore
import Storage

extension StreamRegistry {
    // MARK: - Reading

    /// Up to `limit` records of one partition from `offset` on, within `maxBytes` (the first record always).
    /// An offset below the oldest kept starts at the oldest (Kafka's `earliest` after retention). Completes
    /// on `loop`: at once when the bodies are in memory (a `file` stream's tail, every live reader's case),
    /// else once the store has read the older ones (never blocking the loop).
    package func read(
        _ name: String, partition: Int, from offset: UInt64, limit: Int = .max, maxBytes: Int = .max,
        on loop: any EventLoop
    ) -> EventLoopFuture<StreamReadResult> {
        do {
            return try partitionBox(name, partition).read(
                from: offset, limit: limit, maxBytes: maxBytes, now: clock(), on: loop)
        } catch {
            return loop.makeFailedFuture(error)
        }
    }

    /// The same read, waiting for the store when bodies below the memory tail are asked for: for tests
    /// and start-up, never on an event loop.
    package func read(
        _ name: String, partition: Int, from offset: UInt64, limit: Int = .max, maxBytes: Int = .max
    ) throws(BusError) -> StreamReadResult {
        try partitionBox(name, partition).readWaiting(from: offset, limit: limit, maxBytes: maxBytes, now: clock())
    }

    /// Index entries (offset, subject, sizes, time; no body) of one partition from `offset` on: what a scan
    /// by subject needs, from memory whatever the stream keeps of its bodies.
    package func readIndex(_ name: String, partition: Int, from offset: UInt64, limit: Int = .max)
        throws(BusError) -> StreamIndexResult
    {
        try partitionBox(name, partition).readIndex(from: offset, limit: limit, now: clock())
    }

    /// The newest `count` records of one partition ("from the end"), oldest first, completed on `loop`.
    package func readLast(_ name: String, partition: Int, count: Int, on loop: any EventLoop)
        -> EventLoopFuture<StreamReadResult>
    {
        do {
            let box = try partitionBox(name, partition)
            return box.read(from: Self.lastStart(box.info, count), limit: count, maxBytes: .max, now: clock(), on: loop)
        } catch {
            return loop.makeFailedFuture(error)
        }
    }

    /// The newest `count` records, waiting for the store when it must (tests, start-up).
    package func readLast(_ name: String, partition: Int, count: Int) throws(BusError) -> StreamReadResult {
        let box = try partitionBox(name, partition)
        return try box.readWaiting(from: Self.lastStart(box.info, count), limit: count, maxBytes: .max, now: clock())
    }

    /// The newest readable record of one partition, from memory (a partition always keeps the newest
    /// readable record's body); nil when it keeps none.
    package func newest(_ name: String, partition: Int) throws(BusError) -> StreamReadRecord? {
        let box = try partitionBox(name, partition)
        return box.readNow(from: Self.lastStart(box.info, 1), limit: 1, maxBytes: .max, now: clock())?.records.last
    }

    /// Reads one partition from `offset` to its end, `batch` records at a time, folding each batch into
    /// the value with `each` (false: stop there); completes on `loop` with the value. Batches whose bodies
    /// are in memory are read in a loop at once, the others from the store (off the loop), so a scan of a
    /// stream longer than its memory tail never blocks the loop.
    package func scan<Value: Sendable>(
        _ name: String, partition: Int, from offset: UInt64, batch: Int = 1024, into initial: Value,
        on loop: any EventLoop, _ each: @escaping @Sendable (inout Value, [StreamReadRecord]) -> Bool
    ) -> EventLoopFuture<Value> {
        let box: StreamPartitionBox
        do { box = try partitionBox(name, partition) } catch { return loop.makeFailedFuture(error) }
        var value = initial
        var from = offset
        while let result = box.readNow(from: from, limit: batch, maxBytes: .max, now: clock()) {
            guard let last = result.records.last, each(&value, result.records) else {
                return loop.makeSucceededFuture(value)
            }
            from = last.offset + 1
        }
        let reached = value
        let start = from
        return box.read(from: start, limit: batch, maxBytes: .max, now: clock(), on: loop).flatMap { result in
            var value = reached
            guard let last = result.records.last, each(&value, result.records) else {
                return loop.makeSucceededFuture(value)
            }
            return self.scan(
                name, partition: partition, from: last.offset + 1, batch: batch, into: value, on: loop, each)
        }
    }

    /// The index entry of the newest record of one partition; nil when it keeps none.
    package func lastIndex(_ name: String, partition: Int) throws(BusError) -> StreamIndexRecord? {
        let box = try partitionBox(name, partition)
        return box.readIndex(from: Self.lastStart(box.info, 1), limit: 1, now: clock()).records.last
    }

    private static func lastStart(_ info: StreamPartitionInfo, _ count: Int) -> UInt64 {
        let start = info.lastOffset >= UInt64(count) ? info.lastOffset - UInt64(count) + 1 : 0
        return max(start, info.firstOffset)
    }

    /// The first readable offset of one partition appended at or after `time` (ns since the Unix epoch);
    /// nil when every record is older (a reader then starts at the end).
    package func offset(_ name: String, partition: Int, atOrAfter time: UInt64) throws(BusError) -> UInt64? {
        try partitionBox(name, partition).offset(atOrAfter: time)
    }

    /// Completes with true once one partition has a readable record at or after `offset` (at once when it
    /// has), or with false after `timeout`; fails at once when there is no such partition.
    package func waitForRecords(
        _ name: String, partition: Int, from offset: UInt64, timeout: TimeAmount, on loop: any EventLoop
    ) -> EventLoopFuture<Bool> {
        do {
            return try partitionBox(name, partition).waitForRecords(from: offset, timeout: timeout, on: loop)
        } catch {
            return loop.makeFailedFuture(error)
        }
    }

    /// The index entry of the newest readable record of one partition on `subject` (a topic name); nil when
    /// it has none. Its body: `read(…from: offset, limit: 1…)`.
    package func last(_ name: String, partition: Int, subject: String) throws(BusError) -> StreamIndexRecord? {
        try partitionBox(name, partition).last(subject: subject)
    }

    /// Deletes one record (its offset stays used), from memory and then the store; completes with false
    /// when the partition does not keep that offset.
    package func deleteRecord(
        _ name: String, partition: Int, offset: UInt64, completion: @escaping @Sendable (Result<Bool, BusError>) -> Void
    ) {
        let box: StreamPartitionBox
        do { box = try partitionBox(name, partition) } catch { return completion(.failure(error)) }
        if stream(named: name)?.configuration.limits.sealed == true {
            return completion(.failure(.invalidStream("stream \(name) is sealed")))
        }
        guard box.delete(offset: offset) else { return completion(.success(false)) }
        let durable = stream(named: name)?.storage == .file
        let writes: [StoreWrite] =
            durable ? [.deleteStreamMessages(stream: name, partition: partition, offsets: [offset])] : []
        submit(writes) { error in completion(error.map { .failure(.notStored("\($0)")) } ?? .success(true)) }
    }

    func partitionBox(_ name: String, _ partition: Int) throws(BusError) -> StreamPartitionBox {
        guard let box = stream(named: name) else { throw .streamNotFound(name) }
        guard box.partitions.indices.contains(partition) else {
            throw .noPartition(stream: name, partition: partition)
        }
        return box.partitions[partition]
    }

    // MARK: - Consumer groups

    /// Commits `offset` (the next offset the group reads) for `group` in one partition, in the partition's
    /// current epoch; stored before `completion` (on the store's thread, or at once without a store).
    package func commit(
        group: String, stream name: String, partition: Int, offset: UInt64,
        completion: @escaping @Sendable (Result<StreamCommittedOffset, BusError>) -> Void
    ) {
        let box: StreamPartitionBox
        do { box = try partitionBox(name, partition) } catch { return completion(.failure(error)) }
        let stored = StoredStreamConsumerOffset(
            group: group, stream: name, partition: partition, epoch: box.info.epoch, offset: offset)
        submit([.saveStreamConsumerOffset(stored)]) { error in
            if let error { return completion(.failure(.notStored("\(error)"))) }
            self.setCommitted(stored)
            completion(.success(StreamCommittedOffset(offset: offset, epoch: stored.epoch, isCurrent: true)))
        }
    }

    /// The group's committed offset in one partition; nil when it never committed one.
    package func committed(group: String, stream name: String, partition: Int) throws(BusError)
        -> StreamCommittedOffset?
    {
        let box = try partitionBox(name, partition)
        guard let stored = committedOffset(GroupKey(group: group, stream: name, partition: partition)) else {
            return nil
        }
        return StreamCommittedOffset(
            offset: stored.offset, epoch: stored.epoch, isCurrent: stored.epoch == box.info.epoch)
    }
}

extension StreamRegistry {
    /// A stream that holds everything a subscription on `filter` can receive, so the subscription can
    /// read its history and resume from a position in it (wildcard recovery): one partition (a position
    /// is one offset), and a filter covering `filter`. The first such stream by name.
    package func covering(_ filter: TopicFilter) -> StreamBox? {
        list().sorted { $0.name < $1.name }.first { box in
            box.partitions.count == 1 && box.configuration.filters.contains { $0.covers(filter) }
        }
    }
}
