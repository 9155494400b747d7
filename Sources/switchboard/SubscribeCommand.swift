import ArgumentParser
import BusCore
import Foundation
import NIOConcurrencyHelpers
import NIOCore
import SwitchboardClient

struct SubscribeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "subscribe",
        abstract: "Subscribe to a channel or filter and print each message as one JSON line.")

    @Argument(help: "Channel or filter, e.g. chat/+ or $share/workers/jobs/#.")
    var filter: String

    @Option(help: "First print the newest N messages from history (channels with history only).")
    var history: Int?

    @Option(help: "WebSocket URL of the server.")
    var url: String = "ws://127.0.0.1:8080/ws"

    @Option(help: "Token for the connect request, when the server requires one.")
    var token: String?

    @Option(help: "Exit after this many messages.")
    var count: Int?

    func run() async throws {
        let remaining = NIOLockedValueBox(count ?? Int.max)
        let printer = LinePrinter()
        let client = try await SwitchboardWebSocketClient.connect(
            url: try SwitchboardURL(url),
            onText: { text in
                let parsed = try? Array(text.utf8).withUnsafeBytes { try JSONParser.parse($0) }
                guard let value = parsed else { return }
                var lines: [JSONValue] = []
                switch value["type"]?.stringValue {
                case "subscribed": lines = value["messages"]?.arrayValue ?? []
                case "message", "request", "join", "leave": lines = [value]
                case "error": printer.error(text)
                default: break
                }
                for line in lines where printer.isOpen {
                    var buffer = ByteBuffer()
                    buffer.writeJSONValue(line)
                    // Printed before the count drops, so `run` never exits with the last line unwritten.
                    let more = remaining.withLockedValue { count -> Bool in
                        guard count > 0 else { return false }
                        printer.print(String(buffer: buffer))
                        count -= 1
                        return true
                    }
                    guard more else { break }
                }
            },
            onClose: { code in printer.closed(code) })
        var request = ByteBuffer()
        if let token {
            request.writeStaticString("{\"type\":\"connect\",\"token\":")
            request.writeJSONString(token)
            request.writeStaticString("}")
            client.send(String(buffer: request))
            request.clear()
        }
        request.writeStaticString("{\"id\":1,\"type\":\"subscribe\",\"channel\":")
        request.writeJSONString(filter)
        if let history { request.writeString(",\"history\":\(history)") }
        request.writeStaticString("}")
        client.send(String(buffer: request))
        while remaining.withLockedValue({ $0 > 0 }) {
            try await Task.sleep(for: .milliseconds(20))
            if printer.failed { throw ExitCode(1) }
            if !printer.isOpen { break }
        }
        client.close()
    }
}

/// Prints lines from the event loop without interleaving.
final class LinePrinter: Sendable {
    private let state = NIOLockedValueBox(false)
    private let open = NIOLockedValueBox(true)
    var failed: Bool { state.withLockedValue { $0 } }
    var isOpen: Bool { open.withLockedValue { $0 } }

    /// The server closed the connection: report it and stop.
    func closed(_ code: Int?) {
        open.withLockedValue { $0 = false }
        FileHandle.standardError.write(
            "connection closed\(code.map { " with code \($0)" } ?? "")\n".data(using: .utf8)!)
    }

    func print(_ line: String) {
        state.withLockedValue { _ in
            FileHandle.standardOutput.write((line + "\n").data(using: .utf8)!)
        }
    }

    func error(_ line: String) {
        state.withLockedValue { failed in
            FileHandle.standardError.write((line + "\n").data(using: .utf8)!)
            failed = true
        }
    }
}
