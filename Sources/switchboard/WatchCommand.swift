import ArgumentParser
import BusCore
import Foundation
import NIOConcurrencyHelpers
import NIOCore
import SwitchboardClient

/// `switchboard watch collections/tasks/*`: follows a collection's (or one record's) changes, one JSON
/// line per change (`{"action","record","changed_by"}`), and after a dropped connection reconnects with
/// backoff and recovers from its last position in the collection's feed — no change inside the feed's
/// window is lost or printed twice (docs/records.md).
struct WatchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "watch",
        abstract: "Follow a record collection's changes, one JSON line each, reconnecting with recovery.",
        discussion: "TARGET is collections/<c>/* (or <c>, <c>/*) for every record, collections/<c>/<id> for one.")

    @Argument(help: "collections/tasks/*, tasks, tasks/<id>, …")
    var target: String

    @Option(help: "First print the newest N changes from the feed.")
    var history: Int = 0

    @Option(help: "WebSocket URL of the server.")
    var url: String = "ws://127.0.0.1:8080/ws"

    @Option(help: "Token (a user's token or JWT) when the server requires one (env SWITCHBOARD_TOKEN).")
    var token: String?

    @Option(help: "Exit after this many changes.")
    var count: Int?

    /// The bus channel the target names.
    var channel: String {
        var levels = target.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        if levels.first == "collections" { levels.removeFirst() }
        if levels.count == 1 { levels.append("+") }
        if levels[1] == "*" { levels[1] = "+" }
        return (["collections"] + levels).joined(separator: "/")
    }

    func run() async throws {
        let state = WatchState(remaining: count ?? .max)
        var backoff = Duration.milliseconds(200)
        while state.remaining > 0 {
            let printer = LinePrinter()
            do {
                let client = try await connect(state, printer)
                backoff = .milliseconds(200)
                while state.remaining > 0, printer.isOpen, !printer.failed {
                    try await Task.sleep(for: .milliseconds(20))
                }
                client.close()
                if printer.failed { throw ExitCode(1) }
            } catch let error as ExitCode {
                throw error
            } catch {
                FileHandle.standardError.write("watch: \(error); reconnecting\n".data(using: .utf8)!)
            }
            guard state.remaining > 0 else { break }
            try await Task.sleep(for: backoff)
            backoff = min(backoff * 2, .seconds(5))
        }
    }

    private func connect(_ state: WatchState, _ printer: LinePrinter) async throws -> SwitchboardWebSocketClient {
        let client = try await SwitchboardWebSocketClient.connect(
            url: try SwitchboardURL(url),
            onText: { text in
                guard let value = try? Array(text.utf8).withUnsafeBytes({ try JSONParser.parse($0) }) else { return }
                switch value["type"]?.stringValue {
                case "subscribed":
                    if value["recovered"] == .bool(false) {
                        FileHandle.standardError.write(
                            "watch: could not recover every missed change\n".data(using: .utf8)!)
                    }
                    for message in value["messages"]?.arrayValue ?? [] { state.emit(message, printer) }
                case "message": state.emit(value, printer)
                case "error": printer.error(text)
                default: break
                }
            },
            onClose: { code in printer.closed(code) })
        var request = ByteBuffer()
        if let token = token ?? ProcessInfo.environmentValue("SWITCHBOARD_TOKEN") {
            request.writeStaticString("{\"type\":\"connect\",\"token\":")
            request.writeJSONString(token)
            request.writeStaticString("}")
            client.send(String(buffer: request))
            request.clear()
        }
        request.writeStaticString("{\"id\":1,\"type\":\"subscribe\",\"channel\":")
        request.writeJSONString(channel)
        if let position = state.position {
            request.writeString(",\"recover\":{\"offset\":\(position.offset),\"epoch\":")
            request.writeJSONString(position.epoch)
            request.writeStaticString("}")
        } else {
            request.writeString(",\"history\":\(history)")
        }
        request.writeStaticString("}")
        client.send(String(buffer: request))
        return client
    }
}

/// What a watch has printed: how many more it may, and its position in the feed (for recovery).
final class WatchState: Sendable {
    private let state: NIOLockedValueBox<(remaining: Int, position: (offset: UInt64, epoch: String)?)>

    init(remaining: Int) { state = NIOLockedValueBox((remaining, nil)) }

    var remaining: Int { state.withLockedValue { $0.remaining } }
    var position: (offset: UInt64, epoch: String)? { state.withLockedValue { $0.position } }

    /// Prints a message's change event and moves the position past it. The line is written before the
    /// count drops under the lock, so `run` never sees the last change counted and exits before it is
    /// printed.
    func emit(_ message: JSONValue, _ printer: LinePrinter) {
        let line = message["data"].map { data -> String in
            var buffer = ByteBuffer()
            buffer.writeJSONValue(data)
            return String(buffer: buffer)
        }
        state.withLockedValue { state in
            if let offset = message["offset"]?.uint64Value, let epoch = message["epoch"]?.stringValue {
                state.position = (offset, epoch)
            }
            guard state.remaining > 0, let line else { return }
            printer.print(line)
            state.remaining -= 1
        }
    }
}
