import BusCore
import NIOCore
import Testing

@testable import NATSWire

/// Golden bytes for what the server writes (docs.nats.io "Client Protocol" examples).
@Suite struct NATSWireEncodingTests {
    func written(_ body: (inout ByteBuffer) -> Void) -> String {
        var buffer = ByteBuffer()
        body(&buffer)
        return String(buffer: buffer)
    }

    @Test func message() {
        var prefix = ByteBuffer()
        NATSEncoder.messagePrefix(&prefix, subject: ByteBuffer(string: "FOO.BAR"), sid: ByteBuffer(string: "9"))
        #expect(String(buffer: prefix) == "MSG FOO.BAR 9 ")
        #expect(
            written { (buffer: inout ByteBuffer) in
                NATSEncoder.message(&buffer, prefix: prefix, replyTo: nil, payload: ByteBuffer(string: "Hello World"))
            } == "MSG FOO.BAR 9 11\r\nHello World\r\n")
        #expect(
            written { (buffer: inout ByteBuffer) in
                NATSEncoder.message(
                    &buffer, prefix: prefix, replyTo: ByteBuffer(string: "GREETING.34"),
                    payload: ByteBuffer(string: "Hello World"))
            } == "MSG FOO.BAR 9 GREETING.34 11\r\nHello World\r\n")
        // A payload larger than the buffer's room: the one capacity check must cover it.
        var small = ByteBuffer()
        small.reserveCapacity(8)
        let big = ByteBuffer(repeating: UInt8(ascii: "x"), count: 5000)
        NATSEncoder.message(&small, prefix: prefix, replyTo: nil, payload: big)
        #expect(String(buffer: small) == "MSG FOO.BAR 9 5000\r\n" + String(repeating: "x", count: 5000) + "\r\n")
    }

    @Test func headerMessage() {
        var headers = ByteBuffer()
        NATSHeaderBlock(fields: [UserProperty(name: "FoodGroup", value: "vegetable")]).write(to: &headers)
        #expect(
            written { (buffer: inout ByteBuffer) in
                NATSEncoder.headerMessage(
                    &buffer, subject: ByteBuffer(string: "FOO.BAR"), sid: ByteBuffer(string: "34"),
                    replyTo: ByteBuffer(string: "BAZ.69"), headers: headers, payload: ByteBuffer(string: "Hello World"))
            } == "HMSG FOO.BAR 34 BAZ.69 34 45\r\nNATS/1.0\r\nFoodGroup: vegetable\r\n\r\nHello World\r\n")
    }

    @Test func noRespondersStatus() {
        #expect(
            written { (buffer: inout ByteBuffer) in NATSHeaderBlock(status: 503).write(to: &buffer) }
                == "NATS/1.0 503\r\n\r\n")
    }

    @Test func controlOperations() {
        #expect(written { (buffer: inout ByteBuffer) in NATSEncoder.ping(&buffer) } == "PING\r\n")
        #expect(written { (buffer: inout ByteBuffer) in NATSEncoder.pong(&buffer) } == "PONG\r\n")
        #expect(written { (buffer: inout ByteBuffer) in NATSEncoder.ok(&buffer) } == "+OK\r\n")
        #expect(
            written { (buffer: inout ByteBuffer) in NATSEncoder.error(&buffer, .staleConnection) }
                == "-ERR 'Stale Connection'\r\n")
        // A quote from a client must not end the error early.
        #expect(
            written { (buffer: inout ByteBuffer) in NATSEncoder.error(&buffer, .malformed("it's\r\n")) }
                == "-ERR 'Unknown Protocol Operation: it s  '\r\n")
    }

    @Test(arguments: [0, 7, 10, 99, 12_345, 1_048_576, 9_999_999_999])
    func decimals(value: Int) {
        #expect(written { (buffer: inout ByteBuffer) in NATSEncoder.writeDecimal(&buffer, value) } == String(value))
    }

    @Test func info() throws {
        let text = written { (buffer: inout ByteBuffer) in
            NATSServerInfo(
                serverID: "NID", serverName: "sb", version: "2.10.0", host: "0.0.0.0", port: 4222, maxPayload: 1024,
                clientID: 7, clientIP: "127.0.0.1", authRequired: true
            ).write(to: &buffer)
        }
        #expect(text.hasPrefix("INFO {") && text.hasSuffix("}\r\n"))
        let json = try Array(text.utf8.dropFirst(5).dropLast(2)).withUnsafeBytes { try JSONParser.parse($0) }
        #expect(json["server_id"]?.stringValue == "NID")
        #expect(json["proto"]?.intValue == 1)
        #expect(json["headers"] == .bool(true))
        #expect(json["max_payload"]?.intValue == 1024)
        #expect(json["client_id"]?.intValue == 7)
        #expect(json["auth_required"] == .bool(true))
    }

    @Test func lameDuckInfo() throws {
        var info = NATSServerInfo(
            serverID: "NID", serverName: "sb", version: "2.10.0", host: "0.0.0.0", port: 4222, maxPayload: 1024,
            clientID: 7, clientIP: nil, authRequired: false)
        #expect(!written { (buffer: inout ByteBuffer) in info.write(to: &buffer) }.contains("ldm"))
        info.lameDuckMode = true
        let text = written { (buffer: inout ByteBuffer) in info.write(to: &buffer) }
        let json = try Array(text.utf8.dropFirst(5).dropLast(2)).withUnsafeBytes { try JSONParser.parse($0) }
        #expect(json["ldm"] == .bool(true))
    }

    @Test func headerBlockParsesAndMapsToBusHeaders() throws {
        let block = try NATSHeaderBlock.parse(
            ByteBuffer(string: "NATS/1.0\r\nContent-Type: text/plain\r\nA: 1\r\nA: 2\r\nB:spaced  \r\n\r\n"))
        #expect(block.status == nil)
        let headers = block.messageHeaders
        #expect(headers.contentType == "text/plain")
        #expect(
            headers.userProperties == [
                UserProperty(name: "A", value: "1"), UserProperty(name: "A", value: "2"),
                UserProperty(name: "B", value: "spaced  "),
            ])
        let status = try NATSHeaderBlock.parse(ByteBuffer(string: "NATS/1.0 503 No Responders\r\n\r\n"))
        #expect(status.status == 503 && status.statusDescription == "No Responders")
    }

    @Test(arguments: ["NATS/1.1\r\n\r\n", "NATS/1.0\r\nno colon\r\n\r\n", "NATS/1.0\r\n", "NATS/1.0 abc\r\n\r\n"])
    func malformedHeaderBlocks(text: String) {
        #expect(throws: NATSProtocolError.self) { _ = try NATSHeaderBlock.parse(ByteBuffer(string: text)) }
    }

    @Test func busHeadersThatCannotBeWrittenAreLeftOut() {
        let block = NATSHeaderBlock(
            MessageHeaders(userProperties: [
                UserProperty(name: "ok", value: "v"), UserProperty(name: "bad\r\nname", value: "v"),
                UserProperty(name: "k", value: "line\nbreak"),
            ]))
        #expect(block?.fields == [UserProperty(name: "ok", value: "v")])
        #expect(NATSHeaderBlock(MessageHeaders()) == nil)
    }
}
