import Foundation
import Testing

@testable import ServerApp

/// `engine` (issue 23, docs/redis.md "Routing between instances"): the Redis an instance joins, from the
/// config file's `engine`, from `SWITCHBOARD_ENGINE`, or from `--engine`, the later source winning.
@Suite struct EngineConfigurationTests {
    /// A config file holding `body`, removed when the test ends.
    private final class ConfigFile {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("sb-\(UUID().uuidString).json")
        init(_ body: String) throws { try Data(body.utf8).write(to: url) }
        deinit { try? FileManager.default.removeItem(at: url) }
    }

    private func overrides(file: ConfigFile?) -> ConfigurationOverrides {
        var overrides = ConfigurationOverrides()
        overrides.configFile = file?.url.path
        return overrides
    }

    @Test func withoutAnySourceThereIsNoEngine() throws {
        #expect(try ServerConfiguration.load(overrides: ConfigurationOverrides(), environment: [:]).engine == nil)
    }

    @Test func theConfigFilesEngineIsRead() throws {
        let file = try ConfigFile(#"{"engine": "redis://file.internal:6380/2"}"#)
        let configuration = try ServerConfiguration.load(overrides: overrides(file: file), environment: [:])
        #expect(configuration.engine == "redis://file.internal:6380/2")
    }

    @Test func theEnvironmentIsReadAndBeatsTheFile() throws {
        let environment = ["SWITCHBOARD_ENGINE": "rediss://env.internal:6390"]
        let alone = try ServerConfiguration.load(overrides: ConfigurationOverrides(), environment: environment)
        #expect(alone.engine == "rediss://env.internal:6390")
        let file = try ConfigFile(#"{"engine": "redis://file.internal:6380"}"#)
        let both = try ServerConfiguration.load(overrides: overrides(file: file), environment: environment)
        #expect(both.engine == "rediss://env.internal:6390")
    }

    @Test func theFlagBeatsTheEnvironmentAndTheFile() throws {
        let file = try ConfigFile(#"{"engine": "redis://file.internal:6380"}"#)
        var flags = overrides(file: file)
        flags.engine = "redis-sentinel://s1:26379,s2/mymaster"
        let environment = ["SWITCHBOARD_ENGINE": "redis://env.internal:6390"]
        let configuration = try ServerConfiguration.load(overrides: flags, environment: environment)
        #expect(configuration.engine == "redis-sentinel://s1:26379,s2/mymaster")
    }

    /// A value that is not a Redis URL stops loading, and the error names where it came from.
    @Test func aBadValueIsRefusedNamingItsSource() throws {
        let file = try ConfigFile(#"{"engine": "http://file.internal"}"#)
        let fromFile = #expect(throws: ConfigurationError.self) {
            try ServerConfiguration.load(overrides: overrides(file: file), environment: [:])
        }
        #expect(fromFile?.description.hasPrefix("engine: ") == true, "\(String(describing: fromFile))")
        let fromEnvironment = #expect(throws: ConfigurationError.self) {
            try ServerConfiguration.load(
                overrides: ConfigurationOverrides(), environment: ["SWITCHBOARD_ENGINE": "nats://h:4222"])
        }
        #expect(
            fromEnvironment?.description.hasPrefix("SWITCHBOARD_ENGINE: ") == true,
            "\(String(describing: fromEnvironment))")
    }

    /// A config file that gives `engine` something other than a string is refused, not ignored.
    @Test func aNonStringInTheFileIsRefused() throws {
        let file = try ConfigFile(#"{"engine": 6379}"#)
        #expect(throws: (any Error).self) {
            try ServerConfiguration.load(overrides: overrides(file: file), environment: [:])
        }
    }
}
