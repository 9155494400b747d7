import PostgresNIO

extension PostgresWriter {
    /// A consumer offset committed when several instances share the database: a conditional upsert that
    /// never moves an offset back within its epoch. The conflicting row is locked by the upsert, so of two
    /// instances committing the same group at once the further offset stays, whichever commits last; a
    /// new epoch (the log or partition started again) replaces the offset whatever it is.
    static func enqueueForwardOnlyOffset(_ write: StoreWrite, into statements: inout Statements) {
        switch write {
        case .saveConsumerOffset(let offset):
            statements.run(
                """
                INSERT INTO consumer_offset (group_name, topic, epoch, "offset")
                VALUES (\(offset.group), \(offset.topic), \(offset.epoch), \(Int64(offset.offset)))
                ON CONFLICT (group_name, topic) DO UPDATE SET epoch = excluded.epoch, "offset" = excluded."offset"
                WHERE consumer_offset.epoch <> excluded.epoch OR consumer_offset."offset" <= excluded."offset"
                """)
        case .saveStreamConsumerOffset(let offset):
            statements.run(
                """
                INSERT INTO stream_consumer_offset (group_name, stream, partition, epoch, "offset")
                VALUES (\(offset.group), \(offset.stream), \(Int64(offset.partition)), \(offset.epoch),
                \(Int64(offset.offset)))
                ON CONFLICT (group_name, stream, partition) DO UPDATE SET epoch = excluded.epoch,
                "offset" = excluded."offset"
                WHERE stream_consumer_offset.epoch <> excluded.epoch
                OR stream_consumer_offset."offset" <= excluded."offset"
                """)
        default:
            preconditionFailure("not a consumer offset: \(write)")
        }
    }
}
