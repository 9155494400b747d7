import BusRuntime
import NIOCore
import NIOEmbedded
import SwitchboardTestSupport
import Testing

/// Payload schema refusals (docs/topics.md, "Payload schemas"; docs/protocols/nats.md): `-ERR` naming the
/// failing JSON Pointer, the connection stays, no `+OK`, nothing delivered; valid publishes pass.
@Suite struct NATSPayloadSchemaTests {
    let harness: NATSConnectionHandlerTests

    init() throws {
        harness = try NATSConnectionHandlerTests(bus: .sensorsSchema)
        _ = try harness.received()
    }

    @Test func anInvalidPublishGetsErrAndTheConnectionStays() throws {
        try harness.send("CONNECT {\"verbose\":true,\"headers\":true}\r\nSUB sensors.> 1\r\n")
        #expect(try harness.received().text == "+OK\r\n+OK\r\n")
        let bad = #"{"id":"s","temp":120}"#
        let good = #"{"id":"s","temp":20}"#
        try harness.send("PUB sensors.a \(bad.utf8.count)\r\n\(bad)\r\n")
        let refused = try harness.received().text
        #expect(
            refused.hasPrefix(
                "-ERR 'Permissions Violation for Publish to \"sensors.a\": payload at \"/temp\" does not match"))
        #expect(!refused.contains("MSG"))
        // The repeated subject takes the fast path: checked there too.
        try harness.send("PUB sensors.a \(bad.utf8.count)\r\n\(bad)\r\nPUB sensors.a \(good.utf8.count)\r\n\(good)\r\n")
        let both = try harness.received().text
        #expect(both.hasPrefix("-ERR 'Permissions Violation for Publish to \"sensors.a\": payload at"))
        #expect(both.contains("MSG sensors.a 1 \(good.utf8.count)\r\n\(good)\r\n"))
        // One +OK: the valid one's.
        #expect(both.ranges(of: "+OK\r\n").count == 1)
        #expect(harness.channel.isActive)
    }

    @Test func aDeclaredTextPayloadIsNotJSON() throws {
        try harness.send("CONNECT {\"headers\":true}\r\n")
        let headers = "NATS/1.0\r\nContent-Type: text/plain\r\n\r\n"
        let body = #"{"id":"s","temp":1}"#
        try harness.send(
            "HPUB sensors.a \(headers.utf8.count) \(headers.utf8.count + body.utf8.count)\r\n\(headers)\(body)\r\n")
        #expect(try harness.received().text.contains("payload is text (text/plain), not JSON"))
        #expect(harness.channel.isActive)
    }

    @Test func otherSubjectsAreNotChecked() throws {
        try harness.send("SUB other 1\r\nPUB other 3\r\nabc\r\n")
        #expect(try harness.received().text == "MSG other 1 3\r\nabc\r\n")
    }
}
