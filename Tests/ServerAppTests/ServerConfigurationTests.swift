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
        // Recovery works out of the box (issue 25): every topic keeps a bounded log, every channel lists
        // its presence without announcing joins and leaves.
        #expect(configuration.history == nil)
        let history = configuration.historyPolicy
        // On demand: a topic gets its log once a client that can resume follows it (a publish makes none).
        #expect(
            history.limits(for: try Topic("any/topic"))
                == HistoryLimits(count: 100, maxAgeSeconds: 120, onDemand: true))
        #expect(history.limits(for: try Topic("$SYS/broker/uptime")) == nil)
        // Collaboration's durable rules come before the catch-all.
        #expect(history.limits(for: try Topic("sessions/s1/messages"))?.durable == true)
        #expect(configuration.limits.maxHistoryBytes == 64 << 20)
        let presence = configuration.presencePolicy
        let channel = try Topic("any/channel")
        #expect(presence.isEnabled(for: channel) && !presence.announces(channel))
        #expect(presence.announces(try Topic("sessions/s1/messages")))
    }

    /// An explicit rule list replaces the default, from any source; `none` / `[]` turns it off.
    @Test func explicitHistoryAndPresenceReplaceTheDefault() throws {
        var overrides = ConfigurationOverrides()
        overrides.history = ["chat/#=10"]
        overrides.presence = ["chat/#"]
        let flags = try ServerConfiguration.load(overrides: overrides, environment: [:])
        #expect(flags.historyPolicy.limits(for: try Topic("other")) == nil)
        #expect(flags.historyPolicy.limits(for: try Topic("chat/a"))?.count == 10)
        #expect(!flags.presencePolicy.isEnabled(for: try Topic("other")))
        #expect(flags.presencePolicy.announces(try Topic("chat/a")))

        overrides = ConfigurationOverrides()
        overrides.history = ["none"]
        overrides.presence = ["none"]
        let none = try ServerConfiguration.load(
            overrides: overrides, environment: ["SWITCHBOARD_HISTORY": "env/#=5", "SWITCHBOARD_PRESENCE": "env/#"])
        #expect(none.history?.isEmpty == true && none.presence?.isEmpty == true)
        #expect(none.historyPolicy.limits(for: try Topic("env/a")) == nil)
        #expect(!none.presencePolicy.isEnabled(for: try Topic("env/a")))

        let environment = try ServerConfiguration.load(
            overrides: ConfigurationOverrides(), environment: ["SWITCHBOARD_HISTORY": "none"])
        #expect(environment.history?.isEmpty == true)
        #expect(environment.presence == nil)

        let file = FileManager.default.temporaryDirectory.appendingPathComponent("sb-\(UUID().uuidString).json")
        try Data(#"{"history": [], "presence": [], "limits": {"max_history_bytes": 1024}}"#.utf8).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        overrides = ConfigurationOverrides()
        overrides.configFile = file.path
        overrides.durableHistory = ["orders/#=100"]
        let fromFile = try ServerConfiguration.load(overrides: overrides, environment: [:])
        #expect(fromFile.history?.map(\.filter.text) == ["orders/#"])
        #expect(fromFile.presence?.isEmpty == true)
        #expect(fromFile.limits.maxHistoryBytes == 1024)
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
        #expect(configuration.history?.count == 2)
        #expect(configuration.history?[0].limits == HistoryLimits(count: 7, maxAgeSeconds: 600, maxBytes: 2048))
        #expect(configuration.history?[1].limits == HistoryLimits(count: 5, maxAgeSeconds: 60))
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
