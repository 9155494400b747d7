import Foundation
import FrontendKit
import Testing

@testable import ServerApp

@Suite struct SecurityConfigurationTests {
    private func load(_ json: String) throws -> ServerConfiguration {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("sb-\(UUID().uuidString).json")
        try Data(json.utf8).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        var overrides = ConfigurationOverrides()
        overrides.configFile = file.path
        return try ServerConfiguration.load(overrides: overrides, environment: [:])
    }

    static let hash = "pbkdf2-sha256$1000$c2FsdHNhbHRzYWx0c2FsdA==$" + Data(count: 32).base64EncodedString()

    @Test func usersTurnAnonymousOffUnlessTheFileSaysOtherwise() throws {
        let users = #""security": {"users": [{"name": "a", "password_hash": "\#(Self.hash)"}]}"#
        #expect(try load("{\(users)}").anonymous == false)
        #expect(try load(#"{"anonymous": true, \#(users)}"#).anonymous == true)
        #expect(try load(#"{"security": {"roles": {}}}"#).anonymous == true)
    }

    @Test func tlsAndLimitKeysAreRead() throws {
        let configuration = try load(
            #"{"tls": {"cert_file": "c.pem", "key_file": "k.pem", "mqtt_port": 8883, "nats": true}, "limits": {"max_connections_per_ip": 5, "max_connects_per_second": 50}}"#
        )
        #expect(configuration.tls?.mqtt_port == 8883)
        #expect(configuration.tls?.nats == true)
        #expect(configuration.limits.maxConnectionsPerAddress == 5)
        #expect(configuration.limits.maxConnectsPerSecond == 50)
        #expect(throws: ConfigurationError.self) {
            try load(#"{"tls": {"cert_file": "c", "key_file": "k", "https_port": 70000}}"#)
        }
        #expect(throws: ConfigurationError.self) { try load(#"{"limits": {"max_connects_per_second": -1}}"#) }
    }

    @Test func loadRefusesAPlainTextPasswordHash() async throws {
        let configuration = try load(#"{"security": {"users": [{"name": "a", "password_hash": "secret"}]}}"#)
        await #expect(throws: ConfigurationError.self) { try await ServerSecurity.load(configuration) }
        let good = try load(#"{"security": {"users": [{"name": "a", "password_hash": "\#(Self.hash)"}]}}"#)
        let security = try await ServerSecurity.load(good)
        #expect(!security.authenticator.allowsAnonymous)
        #expect(security.authenticator.isSecured)
    }
}
