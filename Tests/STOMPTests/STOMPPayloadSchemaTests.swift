import BusRuntime
import NIOCore
import NIOEmbedded
import STOMPWire
import SwitchboardTestSupport
import Testing

/// Payload schema refusals (docs/topics.md, "Payload schemas"; docs/protocols/stomp.md): an ERROR naming
/// the failing JSON Pointer, with the SEND's receipt-id, then the connection closes; valid SENDs pass.
@Suite struct STOMPPayloadSchemaTests {
    let harness = STOMPConnectionHandlerTests(bus: .sensorsSchema)

    @Test func aValidSendIsDeliveredAndAnInvalidOneIsAnErrorWithTheReceipt() throws {
        let client = try STOMPConnectionHandlerTests.Client(harness)
        _ = try client.connect()
        try client.send(.subscribe, [("id", "0"), ("destination", "/topic/sensors.#")])
        try client.send(.send, [("destination", "/topic/sensors.a"), ("receipt", "ok")], body: #"{"id":"s","temp":5}"#)
        harness.harness.loop.run()
        #expect(try client.received().map(\.command) == [.message, .receipt])
        try client.send(
            .send, [("destination", "/topic/sensors.a"), ("receipt", "r1")], body: #"{"id":"s","temp":5,"x":1}"#)
        let error = try #require(try client.received().first)
        #expect(error.command == .error)
        #expect(error.headers["message"] == "Invalid payload")
        #expect(error.headers["receipt-id"] == "r1")
        #expect(String(buffer: error.body).contains("payload at \"/x\" does not match the schema of sensors/#"))
        harness.harness.loop.run()
        #expect(!client.channel.isActive)
    }

    @Test func aTextContentTypeIsNotJSON() throws {
        let client = try STOMPConnectionHandlerTests.Client(harness)
        _ = try client.connect()
        try client.send(
            .send, [("destination", "/topic/sensors.a"), ("content-type", "text/plain")], body: #"{"id":"s","temp":5}"#)
        let error = try #require(try client.received().first)
        #expect(error.command == .error)
        #expect(String(buffer: error.body).contains("not JSON"))
    }
}
