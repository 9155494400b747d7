import Foundation
import NIOCore
import Testing

@testable import ServerApp

/// `engine_advertise` (issue 23, docs/operations.md "Scale-out"): where the other instances reach this
/// one's HTTP port, for the session requests and connections they forward or splice to it.
@Suite struct EngineAdvertiseConfigurationTests {
    @Test func flagBeatsEnvironmentBeatsFile() throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("sb-\(UUID().uuidString).json")
        try Data(#"{"engine_advertise": "file.internal:9000"}"#.utf8).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        var overrides = ConfigurationOverrides()
        overrides.configFile = file.path
        let fromFile = try ServerConfiguration.load(overrides: overrides, environment: [:])
        #expect(fromFile.engineAdvertise == "file.internal:9000")
        let environment = ["SWITCHBOARD_ENGINE_ADVERTISE": "10.0.0.7"]
        #expect(
            try ServerConfiguration.load(overrides: overrides, environment: environment).engineAdvertise == "10.0.0.7")
        overrides.engineAdvertise = "[fd00::7]:28480"
        #expect(
            try ServerConfiguration.load(overrides: overrides, environment: environment).engineAdvertise
                == "[fd00::7]:28480")
        #expect(
            try ServerConfiguration.load(overrides: ConfigurationOverrides(), environment: [:]).engineAdvertise == nil)
    }

    /// `engine` takes redis://, rediss:// and redis-sentinel:// URLs, checked as the client reads them.
    @Test func engineURLsOfEveryForm() throws {
        for url in ["redis://127.0.0.1:6379", "rediss://h/2", "redis-sentinel://s1:26379,s2/mymaster/1"] {
            #expect(try ServerConfiguration.engineURL(url, key: "--engine") == url)
        }
        for url in ["http://h", "redis-sentinel://s1", "redis-sentinel://s1:0/m", "redis-cluster://h"] {
            #expect(throws: ConfigurationError.self, "\(url)") {
                try ServerConfiguration.engineURL(url, key: "--engine")
            }
        }
    }

    @Test func malformedAddressesAreNamed() {
        for text in ["", ":80", "host:", "host:0", "host:70000", "host:x", "[::1", "[::1]80", "a b:1", "http://h:1"] {
            #expect(throws: ConfigurationError.self, "\(text)") {
                try ServerConfiguration.advertisedAddress(text, key: "--engine-advertise")
            }
        }
    }

    /// The address announced in Redis: the setting (with the bound port when it names none), else the
    /// bound address; nothing before the listener is bound.
    @Test func theAnnouncedAddress() throws {
        let bound = try SocketAddress(ipAddress: "127.0.0.1", port: 18080)
        #expect(SwitchboardServer.advertisedAddress(bound) == "127.0.0.1:18080")
        #expect(SwitchboardServer.advertisedAddress(bound, advertise: "sb-1.internal") == "sb-1.internal:18080")
        #expect(SwitchboardServer.advertisedAddress(bound, advertise: "203.0.113.9:443") == "203.0.113.9:443")
        #expect(SwitchboardServer.advertisedAddress(bound, advertise: "[fd00::7]") == "[fd00::7]:18080")
        #expect(SwitchboardServer.advertisedAddress(bound, advertise: "[fd00::7]:81") == "[fd00::7]:81")
        #expect(SwitchboardServer.advertisedAddress(nil, advertise: "sb-1.internal") == nil)
    }
}
