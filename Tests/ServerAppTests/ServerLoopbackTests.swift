import BusCore
import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import SwitchboardClient
import Testing

@testable import ServerApp

/// The whole server in-process on a loopback port, driven by the Swift client over real sockets.
@Suite struct ServerLoopbackTests {
    func withServer(_ body: (SwitchboardServer, Int) async throws -> Void) async throws {
        var configuration = ServerConfiguration()
        configuration.host = "127.0.0.1"
        configuration.httpPort = 0
        configuration.setAllPorts(0)  // ephemeral ports for every frontend's listener: tests run in parallel
        configuration.eventLoopThreads = 2
        configuration.history = [try ServerConfiguration.parseHistoryRule("chat/#=100")]
        let server = try SwitchboardServer(configuration: configuration, logger: Logger(label: "test"))
        let running = Task { try await server.run(handleSignals: false) }
        var port: Int?
        for _ in 0..<200 {
            if let bound = server.httpAddress?.port { port = bound; break }
            try await Task.sleep(for: .milliseconds(10))
        }
        let boundPort = try #require(port)
        do {
            try await body(server, boundPort)
        } catch {
            running.cancel()
            throw error
        }
        running.cancel()
        _ = await running.result
    }

    @Test func webSocketSubscriberReceivesHTTPPublish() async throws {
        try await withServer { _, port in
            let received = NIOLockedValueBox<[String]>([])
            let client = try await SwitchboardWebSocketClient.connect(
                url: try SwitchboardURL("ws://127.0.0.1:\(port)/ws"),
                onText: { text in received.withLockedValue { $0.append(text) } })
            client.send(#"{"id":1,"type":"subscribe","channel":"chat/+"}"#)
            try await waitFor { received.withLockedValue { $0.count } == 1 }
            let response = try await SwitchboardHTTPClient.request(
                method: "POST", url: try SwitchboardURL("http://127.0.0.1:\(port)/api/publish"),
                body: #"{"channel":"chat/lobby","data":{"hello":"world"}}"#)
            #expect(response.status == 200)
            #expect(response.body.hasPrefix(#"{"offset":1,"epoch":"#))
            try await waitFor { received.withLockedValue { $0.count } == 2 }
            let push = received.withLockedValue { $0[1] }
            #expect(push.hasPrefix(#"{"type":"message","channel":"chat/lobby","data":{"hello":"world"},"offset":1"#))
            client.close()
        }
    }

    @Test func unknownSubprotocolIsRefusedWith400() async throws {
        try await withServer { _, port in
            do {
                _ = try await SwitchboardWebSocketClient.connect(
                    url: try SwitchboardURL("ws://127.0.0.1:\(port)/ws"), subprotocol: "switchboard.v9",
                    onText: { _ in })
                Issue.record("an unknown subprotocol was accepted")
            } catch SwitchboardClientError.upgradeRefused(let status, let body) {
                #expect(status == 400)
                #expect(body.contains("switchboard.v1"))  // the refusal names what is supported
            }
            let plain = try await SwitchboardHTTPClient.request(
                method: "GET", url: try SwitchboardURL("http://127.0.0.1:\(port)/ws"))
            #expect(plain.status == 426)
        }
    }

    func waitFor(_ condition: () -> Bool) async throws {
        for _ in 0..<300 where !condition() { try await Task.sleep(for: .milliseconds(10)) }
        #expect(condition())
    }
}
