import BusCore
import NIOCore

/// The local run: consecutive plain publications of one publisher to one topic whose recipients are all on
/// this loop and all take plain publications (`MatchPlan.localTakesPlain`: a NATS fan-out on one loop).
/// They are copied into one buffer as they are read and written when the read ends, **subscriber by
/// subscriber**: each subscriber gets all of the run's messages in one pass while its connection's state
/// (subscription, handler, outbound buffer) is in the cache, instead of one pass over every subscriber per
/// message. Each subscriber still gets them in publish order; what each delivery checks (no-local, read ACL,
/// the slow-consumer policy, an UNSUB's limit) is unchanged.
///
/// The run is closed — written — before anything else reaches the shard: the end of the read
/// (`flushWritten`), any other publish or delivery batch, a barrier (`afterDeliveries`), another topic's
/// or publisher's plain publication, the hand-off; a frontend closes it before an operation that could
/// observe the order (NATS: every operation that is not a `PUB`). Confined to the shard's loop, as
/// everything in `LoopShard`.
extension LoopShard {
    /// Starts a run for `plan` (closing the one open), and holds the plan until it is written.
    func openLocalRun(_ plan: MatchPlan, topic: Topic, publisherID: String?) {
        closeLocalRun()
        localRunPlan = plan
        localRunIdentifier = ObjectIdentifier(plan)
        localRunTopic = topic
        localRunPublisherID = publisherID
        // A frontend that does not call `flushWritten` still has its run written at the hand-off.
        scheduleHandOff()
    }

    /// Appends one publication (its header and payload in one write), and writes the run once it holds
    /// `localRunByteLimit`.
    @inline(__always)
    func appendToLocalRun(_ buffer: ByteBuffer, at index: Int, length: Int, timestamp: UInt64) {
        PackedPublications.write(buffer, at: index, length: length, timestamp: timestamp, to: &localRunPayloads)
        localRunCount &+= 1
        if localRunPayloads.readableBytes >= Self.localRunByteLimit { closeLocalRun() }
    }

    /// Writes the open run, if any, to its subscribers: all of its messages to one subscriber, then the
    /// next. Written, not flushed (the read's `flushWritten` or the hand-off flushes).
    @inline(__always)
    package func closeLocalRun() {
        guard localRunPlan != nil else { return }
        writeLocalRun()
    }

    private func writeLocalRun() {
        guard let plan = localRunPlan else { return }
        let topic = localRunTopic
        let publisherID = localRunPublisherID
        messagesSinceFlush &+= localRunCount
        localRunPlan = nil
        localRunIdentifier = nil
        localRunCount = 0
        // Taken out first: a delivery may publish (a slow consumer's presence event), which may open a run.
        var payloads = ByteBuffer()
        swap(&payloads, &localRunPayloads)
        plan.local.withUnsafeBufferPointer { subscriptions in
            payloads.withUnsafeReadableBytes { bytes in
                for subscription in subscriptions {
                    // `deliver`'s checks that need no message, once per subscriber.
                    guard subscription.isActive else { continue }
                    if subscription.options.noLocal, publisherID == subscription.subscriberID { continue }
                    if let acl = subscription.options.readACL, !acl.permitsReading(topic) { continue }
                    let subscriber = subscription.subscriber
                    var at = 0
                    // Stops when a delivery ended the subscription (an UNSUB's limit, a slow consumer).
                    while at + 12 <= bytes.count, subscription.isActive {
                        let timestamp = bytes.loadUnaligned(fromByteOffset: at, as: UInt64.self)
                        let length = Int(bytes.loadUnaligned(fromByteOffset: at + 8, as: UInt32.self))
                        let payload = UnsafeRawBufferPointer(rebasing: bytes[(at + 12)..<(at + 12 + length)])
                        at += 12 + length
                        let outcome = subscriber.deliverPlain(
                            topic: topic, payload: payload, publisherID: publisherID, timestamp: timestamp,
                            for: subscription)
                        delivered(outcome, subscriber, subscription)
                    }
                }
            }
        }
        // Its storage kept for the next run, unless a delivery opened one meanwhile.
        if localRunPlan == nil && localRunPayloads.readableBytes == 0 {
            payloads.clear()
            localRunPayloads = payloads
        }
    }

    /// A run is written once its buffer holds this much (about 200 messages of 64 bytes): the copy stays
    /// small and in the cache, and a long read's subscribers start receiving before it ends.
    static let localRunByteLimit = 16 << 10
}
