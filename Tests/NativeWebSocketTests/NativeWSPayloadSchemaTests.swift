import BusRuntime
import NIOCore
import NIOEmbedded
import SwitchboardTestSupport
import Testing

/// Payload schema refusals (docs/topics.md, "Payload schemas"; docs/protocols/websocket.md): an
/// `invalid_payload` error naming the failing JSON Pointer, for `publish` and `rpc`; valid data passes.
@Suite struct NativeWSPayloadSchemaTests {
    let harness = try! NativeWSConnectionHandlerTests(
        payloadSchemas: .testing([("sensors/#", PayloadSchemas.readingSchema)]))

    @Test func anInvalidPublishIsRefusedAndAValidOneDelivered() throws {
        try harness.send(#"{"id":1,"type":"subscribe","channel":"sensors/#"}"#)
        _ = try harness.texts()
        try harness.send(#"{"id":2,"type":"publish","channel":"sensors/a","data":{"id":"s","temp":"hot"}}"#)
        let refused = try harness.texts()
        #expect(refused.count == 1)
        #expect(
            refused.first?.hasPrefix(
                #"{"id":2,"type":"error","code":"invalid_payload","message":"payload at \"/temp\""#) == true)
        try harness.send(#"{"type":"publish","channel":"sensors/a","data":{"id":"s","temp":3}}"#)
        harness.channel.embeddedEventLoop.run()
        let delivered = try harness.texts()
        #expect(delivered.count == 1)
        #expect(delivered.first?.contains(#""data":{"id":"s","temp":3}"#) == true)
    }

    @Test func aPublishWithoutAnIdStillHearsTheRefusal() throws {
        try harness.send(#"{"type":"publish","channel":"sensors/a","data":[1]}"#)
        #expect(try harness.texts().first?.contains(#""code":"invalid_payload""#) == true)
    }

    @Test func anInvalidRPCIsRefusedBeforeItIsSent() throws {
        try harness.send(#"{"id":5,"type":"rpc","channel":"sensors/a","data":{"id":""}}"#)
        let refused = try harness.texts()
        #expect(refused.first?.hasPrefix(#"{"id":5,"type":"error","code":"invalid_payload""#) == true)
    }
}
