import NIOCore
import SocketIOWire
import SwitchboardTestSupport
import Testing

/// Seeded mutations of valid payloads and packets (the `engineio` and `socketio` fuzz targets run the
/// same checks for longer): decoding throws or returns, never crashes, and what decodes re-encodes to
/// the same value.
@Suite struct SocketIODecoderRobustnessTests {
    static let payloads: [[UInt8]] = [
        Array("4hello\u{1e}bAQIDBA==\u{1e}2\u{1e}3probe\u{1e}5\u{1e}6\u{1e}1".utf8),
        Array("440/chat,{\"token\":\"abc\"}\u{1e}42/chat,7[\"publish\",{\"channel\":\"room\",\"data\":[1,2]}]".utf8),
    ]
    static let packets: [[UInt8]] = [
        Array("0/admin,{\"token\":\"123\"}".utf8),
        Array("2/admin,456[\"project:delete\",123]".utf8),
        Array("52-789[\"m\",{\"_placeholder\":true,\"num\":0},{\"_placeholder\":true,\"num\":1}]".utf8),
        Array("61-/admin,456[{\"_placeholder\":true,\"num\":0}]".utf8),
        Array("4{\"message\":\"Not authorized\",\"data\":{\"code\":\"unauthorized\"}}".utf8),
    ]

    @Test func mutatedPayloadsRoundTrip() throws {
        var random = SplitMix(state: 2026)
        let mutator = ByteMutator(alphabet: Array("\u{1e}b0123456/,[]{}\"=+-".utf8) + [0xFF, 0xC3], truncates: true)
        let limits = EngineIOLimits()
        for round in 0..<2_000 {
            let input = mutator.mutate(Self.payloads[round % Self.payloads.count], edits: 1...6, using: &random)
            guard let packets = try? EngineIOPayload.decode(ByteBuffer(bytes: input), limits: limits) else { continue }
            #expect(try EngineIOPayload.decode(EngineIOPayload.encode(packets), limits: limits) == packets)
        }
    }

    @Test func mutatedPacketsRoundTrip() throws {
        var random = SplitMix(state: 2027)
        let mutator = ByteMutator(alphabet: Array("0123456789/,-[]{}\":".utf8) + [0xFF, 0xC3], truncates: true)
        let limits = SocketIOLimits()
        for round in 0..<3_000 {
            let input = mutator.mutate(Self.packets[round % Self.packets.count], edits: 1...6, using: &random)
            guard let packet = try? SocketIOPacket.decode(ByteBuffer(bytes: input), limits: limits) else { continue }
            #expect(try SocketIOPacket.decode(packet.encoded, limits: limits) == packet)
        }
    }
}
