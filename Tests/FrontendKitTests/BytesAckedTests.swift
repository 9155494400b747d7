import NIOCore
import NIOPosix
import Testing

@testable import FrontendKit

/// `CongestedSubscriber.bytesAcked` on a real loopback TCP connection: what the peer's kernel took, read
/// with one `getsockopt(TCP_INFO)` on the channel's loop; nothing off it, or for a channel that is no socket.
@Suite struct BytesAckedTests {
    @Test func countsWhatThePeerAcknowledged() async throws {
        let group = MultiThreadedEventLoopGroup.singleton
        let accepted = group.next().makePromise(of: (any Channel).self)
        let server = try await ServerBootstrap(group: group)
            .childChannelInitializer { channel in
                accepted.succeed(channel)
                return channel.eventLoop.makeSucceededVoidFuture()
            }
            .bind(host: "127.0.0.1", port: 0).get()
        let client = try await ClientBootstrap(group: group)
            .connect(host: "127.0.0.1", port: server.localAddress!.port!).get()
        let child = try await accepted.futureResult.get()

        let before = try await child.eventLoop.submit { CongestedSubscriber.bytesAcked(child) }.get()
        #expect(before != nil && before! <= 1)  // nothing sent yet (a SYN may count as one)
        #expect(CongestedSubscriber.bytesAcked(child) == nil)  // off its loop: not read
        let payload = ByteBuffer(repeating: 7, count: 256 << 10)
        try await child.writeAndFlush(payload).get()
        // The client reads by default (autoRead): its kernel acknowledges all of it soon.
        let deadline = ContinuousClock.now + .seconds(10)
        var acked: UInt64 = 0
        while ContinuousClock.now < deadline {
            acked = try await child.eventLoop.submit { CongestedSubscriber.bytesAcked(child) ?? 0 }.get()
            if acked >= 256 << 10 { break }
            try await Task.sleep(for: .milliseconds(10))
        }
        #expect(acked >= 256 << 10)
        #expect(CongestedSubscriber.bytesAcked(nil) == nil)
        try await client.close().get()
        try await server.close().get()
    }
}
