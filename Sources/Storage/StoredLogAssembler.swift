package import BusCore
package import NIOCore

/// Builds a `StoredLog` from a store's rows, oldest first, deciding whether it is intact: every store
/// reads its log rows its own way, and they all judge them the same way — a gap in the offsets, an
/// unreadable row, or a newest row that is not the log's newest offset means clients did not see this
/// log, and the caller starts a new epoch (docs/storage.md).
struct StoredLogAssembler {
    private let topic: Topic
    private let epoch: String
    private let lastOffset: UInt64
    private var messages: [BusMessage] = []
    private var intact = true
    private var expected: UInt64?

    init(topic: Topic, epoch: String, lastOffset: UInt64) {
        self.topic = topic
        self.epoch = epoch
        self.lastOffset = lastOffset
    }

    /// The next row: its offset and its encoded message.
    mutating func add(offset: UInt64, body: ByteBuffer) {
        if let expected, offset != expected { intact = false }
        expected = offset + 1
        guard
            let message = StoredMessageCodec.decode(
                body, topic: topic, position: LogPosition(offset: offset, epoch: epoch))
        else {
            intact = false
            return
        }
        messages.append(message)
    }

    func finish() -> StoredLog {
        let intact = intact && (messages.last.map { $0.offset == lastOffset } ?? true)
        return StoredLog(topic: topic, epoch: epoch, lastOffset: lastOffset, messages: messages, intact: intact)
    }
}
