import BusCore
import Foundation
import FrontendKit
import SSEFrontend
import Testing

@testable import ServerApp

@Suite struct ServerConfigurationTests {
    @Test func defaultsAreTheEmbeddedDefaults() throws {
        let configuration = try ServerConfiguration.load(overrides: ConfigurationOverrides(), environment: [:])
        #expect(configuration.httpPort == 8080)
        #expect(configuration.dataDirectory == "./data")
        #expect(configuration.anonymous)
        #expect(configuration.history.isEmpty)
    }

    @Test func flagsBeatEnvironmentBeatFile() throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("sb-\(UUID().uuidString).json")
        try Data(
            #"{"http_port": 1, "host": "file", "api_key": "k1", "history": [{"filter": "chat/#", "count": 5, "age_seconds": 60}], "limits": {"slow_consumer": "disconnect", "connect_timeout_seconds": 3, "max_history_topics": 7}}"#
                .utf8
        ).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        var overrides = ConfigurationOverrides()
        overrides.configFile = file.path
        overrides.httpPort = 3
        overrides.history = ["chat/vip/#=7,10m,2048"]
        let configuration = try ServerConfiguration.load(
            overrides: overrides, environment: ["SWITCHBOARD_HTTP_PORT": "2", "SWITCHBOARD_HOST": "env"])
        #expect(configuration.httpPort == 3)
        #expect(configuration.host == "env")
        #expect(configuration.apiKey == "k1")
        #expect(configuration.limits.slowConsumer == .disconnect)
        #expect(configuration.limits.connectTimeoutSeconds == 3)
        #expect(configuration.limits.maxHistoryTopics == 7)
        #expect(configuration.history.count == 2)
        #expect(configuration.history[0].limits == HistoryLimits(count: 7, maxAgeSeconds: 600, maxBytes: 2048))
        #expect(configuration.history[1].limits == HistoryLimits(count: 5, maxAgeSeconds: 60))
    }

    @Test func sseSettingsFromFileAndFlags() throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("sb-\(UUID().uuidString).json")
        try Data(
            #"{"sse": {"keep_alive_seconds": 3, "retry_ms": 500, "poll_max_timeout_seconds": 9, "allowed_origins": ["https://a.example"]}}"#
                .utf8
        ).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        var overrides = ConfigurationOverrides()
        overrides.configFile = file.path
        overrides.settings = ["sse.poll_max_timeout_seconds=20", "sse.realtime_inactivity_seconds=7"]
        let configuration = try ServerConfiguration.load(overrides: overrides, environment: [:])
        let sse = configuration.settings(of: SSEServerFrontend.self)
        #expect(sse.keepAliveSeconds == 3)
        #expect(sse.retryMilliseconds == 500)
        #expect(sse.pollMaxTimeoutSeconds == 20)  // the flag wins
        #expect(sse.pollDefaultTimeoutSeconds == 30)  // default kept
        #expect(sse.realtimeInactivitySeconds == 7)
        #expect(sse.allowedOrigins == ["https://a.example"])
        var bad = ConfigurationOverrides()
        bad.settings = ["sse.keep_alive_seconds=0"]
        #expect(throws: ConfigurationError.self) { try ServerConfiguration.load(overrides: bad, environment: [:]) }
    }

    @Test func badValuesAreNamed() {
        #expect(throws: ConfigurationError.self) { try ServerConfiguration.parseHistoryRule("chat/#") }
        #expect(throws: ConfigurationError.self) { try ServerConfiguration.parseHistoryRule("chat/#=x") }
        #expect(throws: ConfigurationError.self) { try ServerConfiguration.parseHistoryRule("a#=1") }
        #expect(throws: ConfigurationError.self) { try ServerConfiguration.parseHistoryRule("a=1,soon") }
        #expect(throws: ConfigurationError.self) {
            try ServerConfiguration.load(
                overrides: ConfigurationOverrides(), environment: ["SWITCHBOARD_HTTP_PORT": "99999"])
        }
    }
}
