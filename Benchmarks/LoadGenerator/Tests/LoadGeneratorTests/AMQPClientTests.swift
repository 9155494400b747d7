import NIOCore
import NIOEmbedded
import XCTest

@testable import switchboard_bench

/// The load generator's AMQP 0-9-1 client against hand-made server frames.
final class AMQPClientTests: XCTestCase {
    final class Recorder: BenchRole {
        var ready = 0
        var replies = 0
        var errors: [String] = []
        var deliveries: [UInt64] = []
        func linkReady(_ link: any BenchLink) { ready += 1 }
        func replyReceived(_ link: any BenchLink) { replies += 1 }
        func errorReceived(_ link: any BenchLink, message: String, answersRequest: Bool) { errors.append(message) }
        func deliveryReceived(sentAt: UInt64, receivedAt: UInt64) { deliveries.append(sentAt) }
        func linkClosed() {}
    }

    private func method(
        _ channel: UInt16, _ classID: UInt16, _ methodID: UInt16, _ arguments: (inout ByteBuffer) -> Void = { _ in }
    ) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeAMQPMethod(channel: channel, classID: classID, methodID: methodID, arguments)
        return buffer
    }

    /// Reads every outbound frame as (type, channel, class id, method id) — 0, 0 for non-method frames.
    private func outboundFrames(_ channel: EmbeddedChannel) throws -> [(UInt8, UInt16, UInt16, UInt16)] {
        var frames: [(UInt8, UInt16, UInt16, UInt16)] = []
        while var buffer = try channel.readOutbound(as: ByteBuffer.self) {
            if buffer.readableBytesView.starts(with: AMQPClientFrame.protocolHeader) { continue }
            while let (type, number, payload) = try AMQPClientFrame.nextFrame(&buffer, limit: 1 << 20) {
                let ids =
                    type == AMQPClientFrame.methodType
                    ? (
                        payload.getInteger(at: payload.readerIndex, as: UInt16.self)!,
                        payload.getInteger(at: payload.readerIndex + 2, as: UInt16.self)!
                    ) : (0, 0)
                frames.append((type, number, ids.0, ids.1))
            }
        }
        return frames
    }

    /// Drives the handshake up to an open channel; returns the handler, its channel and its role.
    private func openLink(_ target: BenchTarget) throws -> (AMQPClientHandler, EmbeddedChannel, Recorder) {
        let role = Recorder()
        let handler = AMQPClientHandler(target: target, role: role)
        let channel = EmbeddedChannel(handler: handler)
        channel.connect(to: try SocketAddress(ipAddress: "127.0.0.1", port: 5672), promise: nil)
        let header = try XCTUnwrap(channel.readOutbound(as: ByteBuffer.self))
        XCTAssertEqual(Array(header.readableBytesView), AMQPClientFrame.protocolHeader)
        try channel.writeInbound(
            method(0, 10, 10) {
                $0.writeInteger(UInt16(0x0009))  // version 0-9
                $0.writeInteger(UInt32(0))  // server properties
                $0.writeAMQPLongString(Array("PLAIN".utf8))
                $0.writeAMQPLongString(Array("en_US".utf8))
            })
        XCTAssertEqual(try outboundFrames(channel).map(\.3), [11], "start-ok")
        try channel.writeInbound(
            method(0, 10, 30) {
                $0.writeInteger(UInt16(2047))
                $0.writeInteger(UInt32(131_072))
                $0.writeInteger(UInt16(60))
            })
        XCTAssertEqual(try outboundFrames(channel).map(\.3), [31, 40], "tune-ok, open")
        try channel.writeInbound(method(0, 10, 41) { $0.writeAMQPShortString("") })
        XCTAssertEqual(try outboundFrames(channel).map { [$0.1, $0.2, $0.3] }, [[1, 20, 10]], "channel.open")
        try channel.writeInbound(method(1, 20, 11) { $0.writeInteger(UInt32(0)) })
        return (handler, channel, role)
    }

    func testFramesNeedTheirWholeLengthAndFrameEnd() throws {
        var buffer = method(0, 10, 41)
        var short = buffer.getSlice(at: 0, length: buffer.readableBytes - 1)!
        XCTAssertNil(try AMQPClientFrame.nextFrame(&short, limit: 4096))
        buffer.setInteger(UInt8(0), at: buffer.writerIndex - 1)
        XCTAssertThrowsError(try AMQPClientFrame.nextFrame(&buffer, limit: 4096))
    }

    func testSubscribeWithPrefetchThenDeliveriesAreAcknowledgedPerRead() throws {
        var target = BenchTarget(host: "127.0.0.1", port: 5672, path: "", channel: "q")
        target.prefetch = 100
        let (handler, channel, role) = try openLink(target)
        XCTAssertEqual(role.ready, 1)
        handler.sendSubscribe(channel: "q")
        XCTAssertEqual(try outboundFrames(channel).map(\.2), [50], "queue.declare")
        try channel.writeInbound(
            method(1, 50, 11) {
                $0.writeAMQPShortString("q")
                $0.writeInteger(UInt64(0))
            })
        XCTAssertEqual(try outboundFrames(channel).map { [$0.2, $0.3] }, [[60, 10]], "basic.qos")
        try channel.writeInbound(method(1, 60, 11))
        XCTAssertEqual(try outboundFrames(channel).map { [$0.2, $0.3] }, [[60, 20]], "basic.consume")
        XCTAssertEqual(role.replies, 0)
        try channel.writeInbound(method(1, 60, 21) { $0.writeAMQPShortString("ctag") })
        XCTAssertEqual(role.replies, 1, "consume-ok confirms the subscription")

        // Two deliveries in one read (body of the second split over two frames), one ack (multiple).
        var payload = BenchPayload.template(size: 16, compact: true)
        payload.withUnsafeMutableBytes { BenchPayload.patch($0, value: 42) }
        var read = ByteBuffer()
        for tag in [UInt64(1), 2] {
            read.writeAMQPMethod(channel: 1, classID: 60, methodID: 60) {
                $0.writeAMQPShortString("ctag")
                $0.writeInteger(tag)
                $0.writeInteger(UInt8(0))
                $0.writeAMQPShortString("")
                $0.writeAMQPShortString("q")
            }
            read.writeAMQPFrame(type: 2, channel: 1) {
                $0.writeInteger(UInt16(60))
                $0.writeInteger(UInt16(0))
                $0.writeInteger(UInt64(payload.count))
                $0.writeInteger(UInt16(0))
            }
            if tag == 1 {
                read.writeAMQPFrame(type: 3, channel: 1) { $0.writeBytes(payload) }
            } else {
                read.writeAMQPFrame(type: 3, channel: 1) { $0.writeBytes(payload[..<5]) }
                read.writeAMQPFrame(type: 3, channel: 1) { $0.writeBytes(payload[5...]) }
            }
        }
        try channel.writeInbound(read)
        XCTAssertEqual(role.deliveries, [42, 42])
        var ack = try XCTUnwrap(channel.readOutbound(as: ByteBuffer.self))
        let (_, _, arguments) = try XCTUnwrap(AMQPClientFrame.nextFrame(&ack, limit: 4096))
        XCTAssertEqual(arguments.getInteger(at: arguments.readerIndex + 2, as: UInt16.self), 80, "basic.ack")
        XCTAssertEqual(arguments.getInteger(at: arguments.readerIndex + 4, as: UInt64.self), 2)
        XCTAssertEqual(arguments.getInteger(at: arguments.readerIndex + 12, as: UInt8.self), 1, "multiple")
        XCTAssertEqual(role.errors, [])
    }

    func testConfirmedPublishesAreAnsweredByTheConfirmOfTheirLastMessage() throws {
        var target = BenchTarget(host: "127.0.0.1", port: 5672, path: "", channel: "q", persistent: true)
        target.confirms = true
        let (handler, channel, role) = try openLink(target)
        XCTAssertEqual(role.ready, 0, "waits for confirm.select-ok")
        XCTAssertEqual(try outboundFrames(channel).map { [$0.2, $0.3] }, [[85, 10]])
        try channel.writeInbound(method(1, 85, 11))
        XCTAssertEqual(role.ready, 1)

        handler.writePublishes(count: 3, payloadSize: 16, now: 7, acknowledged: true)
        handler.writePublishes(count: 3, payloadSize: 16, now: 8, acknowledged: true)
        handler.flush()
        let frames = try outboundFrames(channel)
        XCTAssertEqual(frames.map(\.0), Array(repeating: [UInt8(1), 2, 3], count: 6).flatMap { $0 })
        // Single acks for tags other than 3 and 6 answer nothing; a multiple ack answers everything below.
        try channel.writeInbound(
            method(1, 60, 80) {
                $0.writeInteger(UInt64(2))
                $0.writeInteger(UInt8(0))
            })
        XCTAssertEqual(role.replies, 0)
        try channel.writeInbound(
            method(1, 60, 80) {
                $0.writeInteger(UInt64(3))
                $0.writeInteger(UInt8(0))
            })
        XCTAssertEqual(role.replies, 1)
        try channel.writeInbound(
            method(1, 60, 80) {
                $0.writeInteger(UInt64(9))
                $0.writeInteger(UInt8(1))
            })
        XCTAssertEqual(role.replies, 2)
    }

    func testPersistentPublishCarriesDeliveryMode2() {
        let frames = AMQPClientFrame.publishFrames(
            channel: 1, routingKey: "q", persistent: true, body: Array(repeating: 120, count: 10), frameMax: 4096)
        var buffer = ByteBuffer(bytes: frames)
        _ = try? AMQPClientFrame.nextFrame(&buffer, limit: 4096)
        let header = try? AMQPClientFrame.nextFrame(&buffer, limit: 4096)
        XCTAssertEqual(header?.0, 2)
        XCTAssertEqual(
            header.map { Array($0.2.readableBytesView) }, [0, 60, 0, 0, 0, 0, 0, 0, 0, 0, 0, 10, 0x10, 0, 2])
    }
}
