import BusCore
import Foundation
import FrontendKit
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix
import ServiceLifecycle
import SwitchboardClient
import Testing

@testable import ServerApp

/// A protocol written only against the `Frontend` contract — no line of ServerApp knows it — gets a
/// config section, environment variables, flags, a listener on a chosen or free port, its bound address,
/// HTTP routes, its services in the group and help text, exactly as the built-in protocols do.
@Suite struct FrontendContractTests {
    /// A line protocol for the test: the server greets, then echoes each line upper-cased.
    struct ShoutSettings: FrontendSettings {
        var greeting = "hello"
        var maxLineBytes = 1024

        static let settings: [FrontendSetting<ShoutSettings>] = [
            .string("greeting", \.greeting, help: "First line sent."),
            .integer("max_line_bytes", \.maxLineBytes, minimum: 1, help: "Longest line echoed."),
        ]
    }

    struct ShoutFrontend: Frontend {
        static let name = "shout"
        static let summary = "A test protocol: greets, then echoes lines upper-cased."
        static let defaultPort: Int? = 7777

        let settings: ShoutSettings
        let context: FrontendContext
        let started = NIOLockedValueBox(false)

        init(settings: ShoutSettings, context: FrontendContext) throws {
            self.settings = settings
            self.context = context
        }

        func makeServices() -> [any Service] {
            let settings = self.settings
            return context.listeners(label: "shout", maxOutboundBytes: 1 << 16) { channel, _ in
                try channel.pipeline.syncOperations.addHandler(ShoutHandler(settings: settings))
            }
        }

        func registerRoutes(into router: inout HTTPRouter.Builder) {
            let greeting = settings.greeting
            router.add(.GET, "/shout/greeting", sync: { _ in .json { $0.writeJSONString(greeting) } })
        }
    }

    final class ShoutHandler: ChannelInboundHandler, @unchecked Sendable {
        typealias InboundIn = ByteBuffer
        typealias OutboundOut = ByteBuffer
        let settings: ShoutSettings

        init(settings: ShoutSettings) { self.settings = settings }

        func channelActive(context: ChannelHandlerContext) {
            context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: settings.greeting + "\n")), promise: nil)
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let text = String(buffer: unwrapInboundIn(data)).prefix(settings.maxLineBytes).uppercased()
            context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: text)), promise: nil)
        }
    }

    @Test func aNewProtocolIsConfiguredServedAndStoppedLikeTheOthers() async throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("sb-\(UUID().uuidString).json")
        try Data(#"{"shout": {"greeting": "hi from the file"}}"#.utf8).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        var overrides = ConfigurationOverrides()
        overrides.configFile = file.path
        overrides.ports = ["shout=0"]
        var configuration = try ServerConfiguration.load(
            overrides: overrides, environment: ["SWITCHBOARD_SHOUT_MAX_LINE_BYTES": "5"],
            frontends: FrontendList.all + [ShoutFrontend.self])
        #expect(configuration.settings(of: ShoutFrontend.self).greeting == "hi from the file")
        #expect(configuration.settings(of: ShoutFrontend.self).maxLineBytes == 5)
        configuration.host = "127.0.0.1"
        configuration.httpPort = 0
        configuration.setAllPorts(0)
        configuration.eventLoopThreads = 1

        let server = try SwitchboardServer(configuration: configuration, logger: Logger(label: "test"))
        let running = Task { try await server.run(handleSignals: false) }
        var shoutPort: Int?
        var httpPort: Int?
        for _ in 0..<300 where shoutPort == nil || httpPort == nil {
            shoutPort = server.addresses["shout"]?.port
            httpPort = server.httpAddress?.port
            try await Task.sleep(for: .milliseconds(10))
        }
        let port = try #require(shoutPort)

        let received = try await exchange(port: port, send: "quiet please")
        #expect(received == "hi from the file\nQUIET")

        let route = try await SwitchboardHTTPClient.request(
            method: "GET", url: try SwitchboardURL("http://127.0.0.1:\(try #require(httpPort))/shout/greeting"))
        #expect(route.status == 200 && route.body == #""hi from the file""#)

        running.cancel()
        _ = await running.result
        #expect(FrontendList.all.allSatisfy { $0.name != "shout" })  // nothing outside the test knew it
    }

    @Test func itsKeysAreInTheHelpAndItsSectionIsStrict() throws {
        let configuration = ServerConfiguration(frontends: [ShoutFrontend.self])
        let keys = try #require(configuration[frontend: "shout"]).keys.map(\.key)
        #expect(keys == ["enabled", "port", "tls_port", "greeting", "max_line_bytes"])
        var overrides = ConfigurationOverrides()
        overrides.settings = ["shout.volume=11"]
        #expect(throws: ConfigurationError.self) {
            try ServerConfiguration.load(overrides: overrides, environment: [:], frontends: [ShoutFrontend.self])
        }
    }

    /// Connects, sends `send` once the greeting arrived, and returns everything read until two reads came.
    func exchange(port: Int, send: String) async throws -> String {
        let collected = NIOLockedValueBox("")
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(Collector(collected: collected))
                }
            }
            .connect(host: "127.0.0.1", port: port).get()
        for _ in 0..<300 where !collected.withLockedValue({ $0.hasSuffix("\n") }) {
            try await Task.sleep(for: .milliseconds(10))
        }
        try await channel.writeAndFlush(ByteBuffer(string: send)).get()
        for _ in 0..<300 where !collected.withLockedValue({ $0.contains("\n") && !$0.hasSuffix("\n") }) {
            try await Task.sleep(for: .milliseconds(10))
        }
        try await channel.close()
        return collected.withLockedValue { $0 }
    }

    final class Collector: ChannelInboundHandler, Sendable {
        typealias InboundIn = ByteBuffer
        let collected: NIOLockedValueBox<String>
        init(collected: NIOLockedValueBox<String>) { self.collected = collected }
        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let text = String(buffer: unwrapInboundIn(data))
            collected.withLockedValue { $0 += text }
        }
    }
}
