package import BusCore
package import NIOCore
import Storage

extension StreamRegistry {
    // MARK: - Reading

    /// Up to `limit` records of one partition from `offset` on, within `maxBytes` (the first record always).
    /// An offset below the oldest kept starts at the oldest (Kafka's `earliest` after retention).
    package func read(
        _ name: String, partition: Int, from offset: UInt64, limit: Int = .max, maxBytes: Int = .max
    ) throws(BusError) -> StreamReadResult {
        try partitionBox(name, partition).read(from: offset, limit: limit, maxBytes: maxBytes, now: clock())
    }

    /// The newest `count` records of one partition ("from the end"), oldest first.
    package func readLast(_ name: String, partition: Int, count: Int) throws(BusError) -> StreamReadResult {
        let box = try partitionBox(name, partition)
        let info = box.info
        let start = info.lastOffset >= UInt64(count) ? info.lastOffset - UInt64(count) + 1 : 0
        return box.read(from: max(start, info.firstOffset), limit: count, maxBytes: .max, now: clock())
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

    /// The newest readable record of one partition on `subject` (a topic name); nil when it has none.
    package func last(_ name: String, partition: Int, subject: String) throws(BusError) -> StreamReadRecord? {
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
