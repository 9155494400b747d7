package import BusRuntime
package import FrontendKit
package import NIOCore
package import NIOEmbedded

/// What a handler test stands on: one `EmbeddedEventLoop` carrying the bus and the connection registry,
/// so a test drives reads, deliveries and time (`loop.advanceTime`) itself, with no threads and no sleeps.
package struct EmbeddedBusHarness {
    package let loop: EmbeddedEventLoop
    package let bus: Bus
    package let connections: ConnectionRegistry

    /// `clock` and `random` are the bus's (wall-clock nanoseconds; the source of epochs and ids): fix
    /// them to make timestamps, epochs and client ids golden.
    package init(
        loop: EmbeddedEventLoop = EmbeddedEventLoop(),
        configuration: BusConfiguration = BusConfiguration(),
        clock: @escaping @Sendable () -> UInt64 = Bus.systemClock,
        random: @escaping @Sendable () -> UInt64 = { UInt64.random(in: .min ... .max) },
        maxConnections: Int = 10
    ) {
        self.loop = loop
        self.bus = Bus(eventLoops: [loop], configuration: configuration, clock: clock, random: random)
        self.connections = ConnectionRegistry(maxConnections: maxConnections)
    }

    /// A channel on the harness's loop with `handlers` in its pipeline, connected from the test peer.
    package func connectedChannel(_ handlers: [any ChannelHandler]) throws -> EmbeddedChannel {
        let channel = EmbeddedChannel(loop: loop)
        try channel.pipeline.syncOperations.addHandlers(handlers)
        try channel.connectFromTestPeer()
        return channel
    }
}

extension EmbeddedChannel {
    /// The address handler tests connect from.
    package static var testPeerAddress: SocketAddress {
        try! SocketAddress(ipAddress: "127.0.0.1", port: 4000)
    }

    /// Becomes active, as if a client at `testPeerAddress` had connected, and lets the loop run what that
    /// scheduled (greetings, timers).
    package func connectFromTestPeer() throws {
        connect(to: Self.testPeerAddress, promise: nil)
        embeddedEventLoop.run()
    }

    /// `value` arrives as one read: read, read-complete (where handlers flush), then the loop runs what
    /// that scheduled (bus deliveries included).
    package func receiveRead(_ value: some Any) throws {
        try writeInbound(value)
        pipeline.fireChannelReadComplete()
        embeddedEventLoop.run()
    }

    /// Every buffer written since the last call, one per write.
    package func writtenBuffers() throws -> [ByteBuffer] {
        var buffers: [ByteBuffer] = []
        while let buffer = try readOutbound(as: ByteBuffer.self) { buffers.append(buffer) }
        return buffers
    }

    /// Everything written since the last call, as one buffer.
    package func writtenBytes() throws -> ByteBuffer {
        var all = ByteBuffer()
        for var buffer in try writtenBuffers() { all.writeBuffer(&buffer) }
        return all
    }
}
