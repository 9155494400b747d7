import Foundation
import Testing

@testable import ServerApp

/// `engine_max_backlog_bytes` (docs/redis.md, "Redis unreachable"): what an instance keeps while Redis is
/// unreachable, from the file, `SWITCHBOARD_ENGINE_MAX_BACKLOG_BYTES` and `--engine-max-backlog-bytes`.
@Suite struct EngineBacklogConfigurationTests {
    @Test func flagBeatsEnvironmentBeatsFileBeatsTheDefault() throws {
        #expect(
            try ServerConfiguration.load(overrides: ConfigurationOverrides(), environment: [:]).engineMaxBacklogBytes
                == 64 << 20)
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("sb-\(UUID().uuidString).json")
        try Data(#"{"engine_max_backlog_bytes": 1048576}"#.utf8).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        var overrides = ConfigurationOverrides()
        overrides.configFile = file.path
        #expect(try ServerConfiguration.load(overrides: overrides, environment: [:]).engineMaxBacklogBytes == 1 << 20)
        let environment = ["SWITCHBOARD_ENGINE_MAX_BACKLOG_BYTES": "4096"]
        #expect(
            try ServerConfiguration.load(overrides: overrides, environment: environment).engineMaxBacklogBytes == 4096)
        overrides.engineMaxBacklogBytes = "0"
        #expect(try ServerConfiguration.load(overrides: overrides, environment: environment).engineMaxBacklogBytes == 0)
    }

    @Test func anythingButANumberOfBytesIsRefusedAndNamed() throws {
        for text in ["", "-1", "64MiB", "1.5", " 10", "0x10"] {
            var overrides = ConfigurationOverrides()
            overrides.engineMaxBacklogBytes = text
            #expect {
                try ServerConfiguration.load(overrides: overrides, environment: [:])
            } throws: { error in
                "\(error)".contains("--engine-max-backlog-bytes")
            }
            #expect {
                try ServerConfiguration.load(
                    overrides: ConfigurationOverrides(), environment: ["SWITCHBOARD_ENGINE_MAX_BACKLOG_BYTES": text])
            } throws: { error in
                "\(error)".contains("SWITCHBOARD_ENGINE_MAX_BACKLOG_BYTES")
            }
        }
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("sb-\(UUID().uuidString).json")
        try Data(#"{"engine_max_backlog_bytes": -5}"#.utf8).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        var overrides = ConfigurationOverrides()
        overrides.configFile = file.path
        #expect {
            try ServerConfiguration.load(overrides: overrides, environment: [:])
        } throws: { error in
            "\(error)".contains("engine_max_backlog_bytes")
        }
    }
}
