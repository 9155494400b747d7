import NIOCore
import NIOEmbedded
import XCTest

@testable import switchboard_bench

/// The load generator's MQTT client against hand-made server bytes.
final class MQTTClientTests: XCTestCase {
    final class Recorder: BenchRole {
        var ready = 0
        var replies = 0
        var deliveries: [UInt64] = []
        func linkReady(_ link: any BenchLink) { ready += 1 }
        func replyReceived(_ link: any BenchLink) { replies += 1 }
        func errorReceived(_ link: any BenchLink, message: String, answersRequest: Bool) {}
        func deliveryReceived(sentAt: UInt64, receivedAt: UInt64) { deliveries.append(sentAt) }
        func linkClosed() {}
    }

    func testPacketSplittingNeedsWholePackets() {
        var buffer = ByteBuffer(bytes: [0x30, 0x80])  // remaining length continues
        XCTAssertNil(MQTTClientHandler.nextPacket(&buffer))
        buffer = ByteBuffer(bytes: [0xD0, 0x00, 0x20, 0x02, 0x00])
        XCTAssertEqual(MQTTClientHandler.nextPacket(&buffer)?.0, 0xD0)
        XCTAssertNil(MQTTClientHandler.nextPacket(&buffer), "CONNACK is one byte short")
    }

    func testConnectPublishAndQoS1Acknowledgement() throws {
        let role = Recorder()
        let target = BenchTarget(host: "127.0.0.1", port: 1883, path: "", channel: "t", qos: 1)
        let handler = MQTTClientHandler(target: target, role: role)
        let channel = EmbeddedChannel(handler: handler)
        channel.connect(to: try SocketAddress(ipAddress: "127.0.0.1", port: 1883), promise: nil)
        let connect = try XCTUnwrap(channel.readOutbound(as: ByteBuffer.self))
        XCTAssertEqual(connect.getInteger(at: 0, as: UInt8.self), 0x10)
        try channel.writeInbound(ByteBuffer(bytes: [0x20, 0x02, 0x00, 0x00]))
        XCTAssertEqual(role.ready, 1)
        handler.writePublishes(count: 2, payloadSize: 16, now: 42, acknowledged: true)
        handler.flush()
        let publishes = try XCTUnwrap(channel.readOutbound(as: ByteBuffer.self))
        XCTAssertEqual(publishes.getInteger(at: 0, as: UInt8.self), 0x32, "PUBLISH QoS 1")
        // The PUBACK of the batch's last message (packet id 2) is the reply; id 1's is not.
        try channel.writeInbound(ByteBuffer(bytes: [0x40, 0x02, 0x00, 0x01]))
        XCTAssertEqual(role.replies, 0)
        try channel.writeInbound(ByteBuffer(bytes: [0x40, 0x02, 0x00, 0x02]))
        XCTAssertEqual(role.replies, 1)
        // A delivered QoS 1 message is counted and PUBACKed.
        var incoming = publishes
        let first = try XCTUnwrap(MQTTClientHandler.nextPacket(&incoming))
        var packet = ByteBuffer(bytes: [0x32, UInt8(first.1.readableBytes)])
        packet.writeImmutableBuffer(first.1)
        try channel.writeInbound(packet)
        XCTAssertEqual(role.deliveries, [42])
        channel.pipeline.fireChannelReadComplete()
        XCTAssertEqual(try channel.readOutbound(as: ByteBuffer.self), ByteBuffer(bytes: [0x40, 0x02, 0x00, 0x01]))
    }
}
