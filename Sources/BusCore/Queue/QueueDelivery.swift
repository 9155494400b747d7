/// A message handed to a consumer by `MessageQueue.dispatch`: the caller sends it (`basic.deliver`,
/// STOMP MESSAGE). In manual-ack mode the queue holds it as unacked until `ack` or `reject`.
package struct QueueDelivery<Payload> {
    /// Who gets it.
    package var consumer: QueueConsumerID
    /// The message, `redelivered` set when it had been delivered before and came back, `deliveryCount`
    /// including this delivery.
    package var message: QueueMessage<Payload>
}

extension QueueDelivery: Equatable where Payload: Equatable {}
extension QueueDelivery: Sendable where Payload: Sendable {}
