/// One message kept in a stream partition: the bus message (its topic is the record's subject) and the
/// key it was partitioned by (Kafka's record key; nil for publishes from protocols without keys). In
/// BusCore beside `StreamPartition`, which is specialized for it.
package struct StreamRecord: Sendable {
    package let message: BusMessage
    package let key: [UInt8]?

    package init(message: BusMessage, key: [UInt8]?) {
        self.message = message
        self.key = key
    }
}
