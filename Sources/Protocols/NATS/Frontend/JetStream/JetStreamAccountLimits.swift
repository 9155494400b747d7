/// JetStream's account limits (nats-server's `accounts.<a>.jetstream` block; Switchboard has one account)
/// and its domain, from the `nats` section of the config file (`jetstream_max_streams`, …): `$JS.API.INFO`
/// reports them, and stream and consumer requests are refused past them with nats-server's errors.
/// -1 is "no limit", as nats-server says it.
package struct JetStreamAccountLimits: Sendable, Equatable {
    /// The JetStream domain: the API answers on `$JS.<domain>.API.>` too (nats.py `jetstream(domain:)`).
    package var domain: String?
    /// Bytes of memory-stored streams (their `max_bytes` reserved, else what they hold).
    package var maxMemory = -1
    /// Bytes of file-stored streams, likewise.
    package var maxStorage = -1
    package var maxStreams = -1
    package var maxConsumers = -1
    /// A consumer's `max_ack_pending` default and most.
    package var maxAckPending = -1
    /// Most `max_bytes` of one memory (file) stream.
    package var memoryMaxStreamBytes = -1
    package var storageMaxStreamBytes = -1
    /// Every stream must set `max_bytes`.
    package var maxBytesRequired = false

    package init() {}

    /// The JSON of `limits` in account info.
    var json: [String: Any] {
        [
            "max_memory": maxMemory, "max_storage": maxStorage, "max_streams": maxStreams,
            "max_consumers": maxConsumers, "max_ack_pending": maxAckPending,
            "memory_max_stream_bytes": memoryMaxStreamBytes, "storage_max_stream_bytes": storageMaxStreamBytes,
            "max_bytes_required": maxBytesRequired,
        ]
    }

    /// Why a stream of `maxBytes` (nil: none set) on memory (`memory`) may not be made or changed to it,
    /// given the other streams' count and reserved bytes; checked in nats-server's order.
    func refusal(maxBytes: Int?, memory: Bool, otherStreams: Int, creating: Bool, reservedElsewhere: Int)
        -> JetStreamAPIError?
    {
        if maxBytesRequired && (maxBytes ?? 0) <= 0 { return .streamMaxBytesRequired }
        let streamMost = memory ? memoryMaxStreamBytes : storageMaxStreamBytes
        if streamMost > 0, let maxBytes, maxBytes > streamMost { return .streamMaxStreamBytesExceeded }
        if creating && maxStreams > 0 && otherStreams >= maxStreams { return .maximumStreams }
        let accountMost = memory ? maxMemory : maxStorage
        if accountMost >= 0, let maxBytes, maxBytes > 0, reservedElsewhere + maxBytes > accountMost {
            return memory ? .insufficientMemory : .insufficientStorage
        }
        return nil
    }
}
