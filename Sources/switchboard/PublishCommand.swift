import ArgumentParser
import BusCore
import Foundation
import NIOCore
import SwitchboardClient

struct PublishCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "publish",
        abstract: "Publish one message to a channel through the HTTP API.",
        discussion: "DATA is sent as JSON when it parses as JSON, otherwise as a JSON string. '-' reads standard input."
    )

    @Argument(help: "The channel, e.g. chat/room1.")
    var channel: String

    @Argument(help: "The message (JSON, or text), or '-' for standard input.")
    var data: String = "-"

    @Option(help: "Server base URL.")
    var url: String = "http://127.0.0.1:8080"

    @Option(name: .customLong("api-key"), help: "API key, when the server requires one (env SWITCHBOARD_API_KEY).")
    var apiKey: String?

    func run() async throws {
        var text = data
        if text == "-" {
            var lines: [String] = []
            while let line = readLine(strippingNewline: false) { lines.append(line) }
            text = lines.joined()
            if text.hasSuffix("\n") { text.removeLast() }
        }
        let isJSON = Array(text.utf8).withUnsafeBytes { JSONParser.isValidJSON($0) }
        var body = ByteBuffer()
        body.writeStaticString("{\"channel\":")
        body.writeJSONString(channel)
        body.writeStaticString(",\"data\":")
        if isJSON { body.writeString(text) } else { body.writeJSONString(text) }
        body.writeStaticString("}")
        var base = try SwitchboardURL(url)
        base.path = "/api/publish"
        var headers: [(String, String)] = []
        if let key = apiKey ?? ProcessInfo.environmentValue("SWITCHBOARD_API_KEY") {
            headers.append(("Authorization", "Bearer \(key)"))
        }
        let response = try await SwitchboardHTTPClient.request(
            method: "POST", url: base, headers: headers, body: String(buffer: body))
        print(response.body)
        if response.status >= 300 { throw ExitCode(1) }
    }
}

extension ProcessInfo {
    static func environmentValue(_ name: String) -> String? { processInfo.environment[name] }
}
