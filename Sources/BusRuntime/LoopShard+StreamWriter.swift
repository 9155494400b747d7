import BusCore
import NIOCore

/// Streams several instances share (`StreamRegistry+Sharing`): a publish a `file` stream captures, when
/// this instance does not hold the writer claim of every partition of that stream, waits for the claims
/// on the publisher's loop, in capture order, instead of being refused — as Kafka REST and JetStream
/// publishes do (`StreamRegistry.ensureWritable`) and as a durable log's publications do
/// (LoopShard+HistoryWriter.swift). Only the stream's record waits: subscribers get the message at once,
/// as they do from a stream capture on one instance; the publisher's acknowledgement (an MQTT PUBACK, an
/// AMQP confirm, …) waits for the record, as it waits for its commit. Past
/// `StreamRegistry.writerClaimTimeout` the record is refused as before. Confined to the shard's loop.
extension LoopShard {
    /// A capture waiting for writer claims.
    struct HeldCapture {
        let message: BusMessage
        let streams: [StreamBox]
        let placement: StreamPlacement?
        let acknowledged: (([StreamAppendAck]) -> Void)?
        /// When it began to wait.
        let since = NIODeadline.now()
    }

    /// Whether a capture into `streams` waits: one of their `file` partitions is written by another
    /// instance (its claim is not held here), or captures into one of them already wait (they keep their
    /// order).
    func holdsCapture(into streams: [StreamBox]) -> Bool {
        if !heldStreams.isEmpty, streams.contains(where: { heldStreams[ObjectIdentifier($0)] != nil }) { return true }
        return streams.contains(where: Self.writtenElsewhere)
    }

    /// Whether a `file` partition of `box` may not be appended to here now.
    private static func writtenElsewhere(_ box: StreamBox) -> Bool {
        box.partitions.contains { $0.writtenElsewhere != nil && !$0.isWritable }
    }

    func hold(_ capture: HeldCapture) {
        heldCaptures.append(capture)
        for box in capture.streams { heldStreams[ObjectIdentifier(box), default: 0] += 1 }
        if heldCaptures.count - heldCaptureHead == 1 { claimForFirstHeld() }
    }

    /// Claims the first held capture's partitions; the held captures go on once it has them.
    private func claimForFirstHeld() {
        guard heldCaptureHead < heldCaptures.count else { return }
        let loop = eventLoop
        let ready = bus.streams.ensureWritable(heldCaptures[heldCaptureHead].streams) {
            loop.execute { self.releaseHeld() }
        }
        // Writable meanwhile: gone on from a fresh loop turn, not from inside the caller's capture.
        if ready { loop.execute { self.releaseHeld() } }
    }

    /// Captures the held ones in order while their partitions may be appended to here; the first that may
    /// not waits for its claims again, until the timeout (then it is captured and so refused).
    private func releaseHeld() {
        while heldCaptureHead < heldCaptures.count {
            let first = heldCaptures[heldCaptureHead]
            if first.streams.contains(where: Self.writtenElsewhere),
                NIODeadline.now() - first.since < StreamRegistry.writerClaimTimeout
            {
                return claimForFirstHeld()
            }
            heldCaptureHead += 1
            for box in first.streams {
                let id = ObjectIdentifier(box)
                if heldStreams[id]! == 1 { heldStreams[id] = nil } else { heldStreams[id]! -= 1 }
            }
            captureNow(
                first.message, streams: first.streams, placement: first.placement, acknowledged: first.acknowledged)
        }
        heldCaptures.removeAll(keepingCapacity: false)
        heldCaptureHead = 0
    }
}
