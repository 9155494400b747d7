import Storage
import Testing

@testable import BusRuntime

/// The topology notification's payload between instances sharing the store: what a deletion says, read
/// back as sent, and a plain change (declarations) read as one.
@Suite struct QueueTopologyDeletionTests {
    @Test func deletionsReadBackAsSent() {
        let deletions: [QueueTopologyDeletion] = [
            .exchange("orders"), .queue("\u{1F}staging\u{1F}jobs:1"),
            .binding(exchange: "x", queue: "q\nline", routingKey: "a.é.#"),
            .exchangeBinding(source: "up", destination: "down", routingKey: ""),
        ]
        for deletion in deletions {
            let payload = deletion.payload(slot: "7")
            #expect(payload != nil)
            let (slot, read) = QueueTopologyDeletion.parse(payload ?? "")
            #expect(slot == "7")
            #expect(read == deletion)
        }
    }

    @Test func aPlainChangeOrAnUnreadablePayloadCarriesNoDeletion() {
        #expect(QueueTopologyDeletion.parse("3").slot == "3")
        #expect(QueueTopologyDeletion.parse("3").deletion == nil)
        #expect(QueueTopologyDeletion.parse("3\nqueue\n9:short").deletion == nil)
        #expect(QueueTopologyDeletion.parse("3\nqueue\nx:abc").deletion == nil)
        #expect(QueueTopologyDeletion.parse("3\nmystery\n1:a").deletion == nil)
    }

    @Test func storeWritesThatDeleteAreDeletionsAndOthersAreNot() {
        #expect(QueueTopologyDeletion(.deleteQueue(name: "q")) == .queue("q"))
        #expect(
            QueueTopologyDeletion(.deleteBinding(StoredBinding(exchange: "x", queue: "q", routingKey: "k")))
                == .binding(exchange: "x", queue: "q", routingKey: "k"))
        #expect(QueueTopologyDeletion(.saveBinding(StoredBinding(exchange: "x", queue: "q", routingKey: "k"))) == nil)
    }

    @Test func aDeletionTooLongForANotifyHasNoPayload() {
        #expect(QueueTopologyDeletion.queue(String(repeating: "q", count: 8_000)).payload(slot: "1") == nil)
    }

    @Test func aDeletionDeclaredAgainIsStoredStill() {
        var state = StoredState()
        state.queues = [StoredQueue(name: "q", durable: true, exclusive: false, autoDelete: false, arguments: [])]
        #expect(QueueTopologyDeletion.queue("q").isStored(in: state))
        #expect(!QueueTopologyDeletion.queue("other").isStored(in: state))
    }
}
