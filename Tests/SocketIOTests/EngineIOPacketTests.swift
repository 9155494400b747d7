import NIOCore
import SocketIOWire
import Testing

/// Engine.IO v4 packets and polling payloads: golden text from the protocol's README (§packet
/// encoding, §payload), both directions.
@Suite struct EngineIOPacketTests {
    @Test func decodesEveryTextType() throws {
        let cases: [(String, EngineIOPacketType, String)] = [
            ("0{\"sid\":\"x\"}", .open, "{\"sid\":\"x\"}"), ("1", .close, ""), ("2", .ping, ""),
            ("2probe", .ping, "probe"),
            ("3", .pong, ""), ("3probe", .pong, "probe"), ("4hello", .message, "hello"), ("5", .upgrade, ""),
            ("6", .noop, ""),
        ]
        for (text, type, data) in cases {
            let packet = try EngineIOPacket.decodeText(ByteBuffer(string: text))
            #expect(packet.type == type)
            #expect(String(buffer: packet.data) == data)
            #expect(!packet.isBinary)
            var encoded = ByteBuffer()
            packet.writeText(into: &encoded)
            #expect(String(buffer: encoded) == text)
        }
    }

    @Test func refusesUnknownTypesAndEmptyPackets() {
        for text in ["abc", "7", "9x", "", "b"] {
            #expect(throws: EngineIOError.self) { try EngineIOPacket.decodeText(ByteBuffer(string: text)) }
        }
    }

    @Test func decodesPayloadsWithTextAndBinaryPackets() throws {
        let limits = EngineIOLimits()
        let packets = try EngineIOPayload.decode(ByteBuffer(string: "4hello\u{1e}bAQIDBA==\u{1e}2"), limits: limits)
        #expect(packets.count == 3)
        #expect(packets[0] == .message(ByteBuffer(string: "hello")))
        #expect(packets[1] == .binary(ByteBuffer(bytes: [1, 2, 3, 4])))
        #expect(packets[2].type == .ping)
        #expect(String(buffer: EngineIOPayload.encode(packets)) == "4hello\u{1e}bAQIDBA==\u{1e}2")
    }

    @Test func refusesMalformedAndOversizedPayloads() {
        var limits = EngineIOLimits()
        limits.maxPayload = 16
        limits.maxPacketsPerPayload = 3
        #expect(throws: EngineIOError.payloadTooLarge) {
            try EngineIOPayload.decode(ByteBuffer(string: "4" + String(repeating: "x", count: 16)), limits: limits)
        }
        #expect(throws: EngineIOError.payloadTooLarge) {
            try EngineIOPayload.decode(ByteBuffer(string: "2\u{1e}2\u{1e}2\u{1e}2"), limits: limits)
        }
        #expect(throws: EngineIOError.self) {
            try EngineIOPayload.decode(ByteBuffer(string: "4a\u{1e}\u{1e}4b"), limits: limits)
        }
        #expect(throws: EngineIOError.self) { try EngineIOPayload.decode(ByteBuffer(string: "b!!!"), limits: limits) }
    }

    @Test func handshakeHasTheSpecKeys() {
        let handshake = EngineIOHandshake(
            sessionID: "abc", upgrades: ["websocket"], pingIntervalMilliseconds: 25_000,
            pingTimeoutMilliseconds: 20_000, maxPayload: 1_000_000)
        var text = ByteBuffer()
        handshake.packet.writeText(into: &text)
        #expect(
            String(buffer: text)
                == "0{\"sid\":\"abc\",\"upgrades\":[\"websocket\"],\"pingInterval\":25000,\"pingTimeout\":20000,\"maxPayload\":1000000}"
        )
    }

    @Test func heartbeatPingsThenTimesOut() {
        let start = NIODeadline.uptimeNanoseconds(1_000_000_000)
        var heartbeat = EngineIOHeartbeat(interval: .milliseconds(300), timeout: .milliseconds(200), now: start)
        #expect(heartbeat.tick(now: start + .milliseconds(100)) == .wait(next: start + .milliseconds(300)))
        #expect(heartbeat.tick(now: start + .milliseconds(300)) == .sendPing(next: start + .milliseconds(500)))
        // Answered: the next ping is an interval after the last.
        #expect(heartbeat.pongReceived() == start + .milliseconds(600))
        #expect(heartbeat.tick(now: start + .milliseconds(600)) == .sendPing(next: start + .milliseconds(800)))
        #expect(heartbeat.tick(now: start + .milliseconds(700)) == .wait(next: start + .milliseconds(800)))
        #expect(heartbeat.tick(now: start + .milliseconds(800)) == .timedOut)
    }
}
