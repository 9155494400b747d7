import NIOCore
import NIOEmbedded
import Testing

@testable import FrontendKit

/// HTTP publishers under publisher flow control: a connection takes a publisher id at its first publish,
/// found through the registry until it closes; paused, it is not read (its next request waits unread).
@Suite struct HTTPPublishingConnectionTests {
    static func autoRead(_ channel: EmbeddedChannel) -> Bool? {
        channel.options.last { $0.option is ChannelOptions.Types.AutoReadOption }?.value as? Bool
    }

    @Test func aPublishingConnectionIsFoundByItsIDPausedAndForgottenWhenItCloses() throws {
        let channel = EmbeddedChannel()
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        let registry = ConnectionRegistry(maxConnections: 10)
        let connection = HTTPPublishingConnection(channel: channel)
        var made = 0
        let id = connection.publisherID(in: registry) {
            made += 1
            return "x"
        }
        #expect(id == "http-x")
        #expect(connection.publisherID(in: registry) { "y" } == id && made == 1)  // one id per connection
        let found = try #require(registry.controller(id))
        #expect(found === connection)

        found.publishingPaused(true, by: "s1")
        found.publishingPaused(true, by: "s2")
        channel.embeddedEventLoop.run()
        #expect(Self.autoRead(channel) == false)
        found.publishingPaused(false, by: "s1")
        channel.embeddedEventLoop.run()
        #expect(Self.autoRead(channel) == false)  // s2 still behind
        found.publishingPaused(false, by: "s2")
        channel.embeddedEventLoop.run()
        #expect(Self.autoRead(channel) == true)

        _ = try channel.finish()
        #expect(registry.controller(id) == nil)
    }
}
