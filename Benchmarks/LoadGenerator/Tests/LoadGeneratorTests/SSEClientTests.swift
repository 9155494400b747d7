import NIOCore
import NIOEmbedded
import XCTest

@testable import switchboard_bench

/// The SSE bench client against golden server bytes, fed one byte at a time.
final class SSEClientTests: XCTestCase {
    func testStreamOpensAndCountsEventsWithTimestampsOnly() throws {
        let role = RecordingRole()
        let target = BenchTarget(host: "127.0.0.1", port: 8080, path: "/ws", channel: "bench")
        let channel = EmbeddedChannel(handler: SSEClientHandler(target: target, role: role))
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 8080)).wait()
        let request = String(buffer: try XCTUnwrap(channel.readOutbound(as: ByteBuffer.self)))
        XCTAssertTrue(request.hasPrefix("GET /sse?channel=bench HTTP/1.1\r\n"))
        var payload = BenchPayload.template(size: 24)
        payload.withUnsafeMutableBytes { BenchPayload.patchDigits($0, at: 3, value: 9) }
        let event = Array("event: message\ndata: \"".utf8) + payload + Array("\"\n\n".utf8)
        func chunk(_ bytes: [UInt8]) -> [UInt8] {
            Array(String(bytes.count, radix: 16).utf8) + [13, 10] + bytes + [13, 10]
        }
        let input =
            Array("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n".utf8)
            + chunk(Array("retry: 2000\n\n".utf8)) + chunk(event) + chunk(Array(": keep-alive\n\n".utf8))
            + chunk(event + event) + Array("0\r\n\r\n".utf8)
        for byte in input { try channel.writeInbound(ByteBuffer(bytes: [byte])) }
        // The subscriber role asks to subscribe when ready; the stream is already subscribed.
        XCTAssertEqual(role.events, ["ready", "delivery 9", "delivery 9", "delivery 9", "closed"])
    }

    func testRefusedStreamIsAnError() throws {
        let role = RecordingRole()
        let target = BenchTarget(host: "127.0.0.1", port: 8080, path: "/ws", channel: "bench")
        let channel = EmbeddedChannel(handler: SSEClientHandler(target: target, role: role))
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 8080)).wait()
        try channel.writeInbound(ByteBuffer(string: "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n"))
        XCTAssertEqual(role.events.first, "error SSE stream refused: HTTP/1.1 400 Bad Request")
    }

    func testPublishersOfTheSSEProtocolSpeakWebSocket() {
        let target = BenchTarget(host: "127.0.0.1", port: 8080, path: "/ws", channel: "bench")
        XCTAssertTrue(BenchProtocolKind.sse.makeHandler(target: target, role: RecordingRole()) is SSEClientHandler)
    }
}
