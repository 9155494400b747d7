import BusCore
import Foundation
import FrontendKit
import MQTTFrontend
import MQTTWire
import NATSFrontend
import NATSWire
import SSEFrontend
import Testing

@testable import ServerApp

/// Ports, enable/disable, environment variables, flags and config sections are one generic mechanism
/// for every frontend; today's spellings keep working.
@Suite struct FrontendConfigurationTests {
    func load(
        _ file: String? = nil, _ overrides: ConfigurationOverrides = ConfigurationOverrides(),
        environment: [String: String] = [:]
    ) throws -> ServerConfiguration {
        var overrides = overrides
        var path: URL?
        if let file {
            let url = FileManager.default.temporaryDirectory.appendingPathComponent("sb-\(UUID().uuidString).json")
            try Data(file.utf8).write(to: url)
            overrides.configFile = url.path
            path = url
        }
        defer { if let path { try? FileManager.default.removeItem(at: path) } }
        return try ServerConfiguration.load(overrides: overrides, environment: environment)
    }

    @Test func everyFrontendIsListedOnceWithItsStandardPort() throws {
        let configuration = try load()
        // One configuration per entry of the frontend list, in its order, each name once.
        #expect(configuration.frontends.map(\.name) == FrontendList.all.map { $0.name })
        #expect(Set(configuration.frontends.map(\.name)).count == FrontendList.all.count)
        #expect(configuration[frontend: "mqtt"]?.listener == FrontendListenerSettings(port: 1883))
        #expect(configuration[frontend: "nats"]?.listener == FrontendListenerSettings(port: 4222))
        #expect(configuration[frontend: "amqp"]?.listener == FrontendListenerSettings(port: 5672))
        #expect(configuration[frontend: "sse"]?.listener == FrontendListenerSettings(port: nil))
        #expect(configuration.frontends.allSatisfy { $0.listener.enabled })
    }

    @Test func portsFromSectionEnvironmentAndFlags() throws {
        var overrides = ConfigurationOverrides()
        overrides.ports = ["nats=5000", "http=81"]
        overrides.tlsPorts = ["mqtt=8884"]
        let configuration = try load(
            #"{"mqtt": {"port": 1000}, "nats": {"port": 2000}}"#, overrides,
            environment: ["SWITCHBOARD_MQTT_PORT": "3000", "SWITCHBOARD_NATS_PORT": "4000"])
        #expect(configuration[frontend: "mqtt"]?.listener == FrontendListenerSettings(port: 3000, tlsPort: 8884))
        #expect(configuration[frontend: "nats"]?.listener.port == 5000)
        #expect(configuration.httpPort == 81)
    }

    @Test func offClosesTheListenerAndDisableRemovesTheFrontend() throws {
        var overrides = ConfigurationOverrides()
        overrides.ports = ["mqtt=off"]
        overrides.disabled = ["nats"]
        let configuration = try load(nil, overrides)
        #expect(configuration[frontend: "mqtt"]?.listener == FrontendListenerSettings(enabled: true, port: nil))
        #expect(configuration[frontend: "nats"]?.listener.enabled == false)
        let fromFile = try load(#"{"nats": {"enabled": false}, "mqtt": {"port": "off"}}"#)
        #expect(fromFile[frontend: "nats"]?.listener.enabled == false)
        #expect(fromFile[frontend: "mqtt"]?.listener.port == nil)
        let fromEnvironment = try load(environment: ["SWITCHBOARD_SSE_ENABLED": "false"])
        #expect(fromEnvironment[frontend: "sse"]?.listener.enabled == false)
    }

    @Test func ownKeysFromEverySource() throws {
        var overrides = ConfigurationOverrides()
        overrides.settings = ["nats.max_payload=2048"]
        let configuration = try load(
            #"{"mqtt": {"max_packet_size": 4096, "receive_maximum": 10, "server_reference": "other:1883"}, "nats": {"max_payload": 1024, "server_name": "n1"}}"#,
            overrides, environment: ["SWITCHBOARD_MQTT_RECEIVE_MAXIMUM": "20", "SWITCHBOARD_SSE_RETRY_MS": "750"])
        let mqtt = configuration.settings(of: MQTTServerFrontend.self)
        #expect(mqtt.limits.maxPacketSize == 4096)
        #expect(mqtt.settings.receiveMaximum == 20)  // the environment beats the file
        #expect(mqtt.settings.serverReference == "other:1883")
        let nats = configuration.settings(of: NATSServerFrontend.self)
        #expect(nats.limits.maxPayload == 2048)  // the flag beats the file
        #expect(nats.serverName == "n1")
        #expect(configuration.settings(of: SSEServerFrontend.self).retryMilliseconds == 750)
    }

    /// An extra listener's port (`nats.monitor_port`): off by default, a number or 0 from any source,
    /// `off` or null turns it off again, out of range is refused.
    @Test func extraPortsAreNumbersOrOff() throws {
        #expect(try load().settings(of: NATSServerFrontend.self).monitorPort == nil)
        #expect(
            try load(#"{"nats": {"monitor_port": 8222}}"#).settings(of: NATSServerFrontend.self).monitorPort == 8222)
        #expect(try load(#"{"nats": {"monitor_port": null}}"#).settings(of: NATSServerFrontend.self).monitorPort == nil)
        var flag = ConfigurationOverrides()
        flag.settings = ["nats.monitor_port=0"]
        #expect(
            try load(#"{"nats": {"monitor_port": "off"}}"#, flag).settings(of: NATSServerFrontend.self).monitorPort == 0
        )
        let off = try load(
            #"{"nats": {"monitor_port": 8222}}"#, environment: ["SWITCHBOARD_NATS_MONITOR_PORT": "off"])
        #expect(off.settings(of: NATSServerFrontend.self).monitorPort == nil)
        #expect(throws: ConfigurationError.self) { try load(#"{"nats": {"monitor_port": 70000}}"#) }
        #expect(throws: ConfigurationError.self) { try load(#"{"nats": {"monitor_port": "soon"}}"#) }
        #expect(throws: ConfigurationError.self) {
            try load(#"{"nats": {"lame_duck_duration_seconds": 5, "lame_duck_grace_period_seconds": 5}}"#)
        }
    }

    @Test func todaysSpellingsKeepWorking() throws {
        let configuration = try load(
            #"{"mqtt_port": 1884, "tls": {"cert_file": "c.pem", "key_file": "k.pem", "mqtt_port": 8883, "nats": true}}"#
        )
        #expect(configuration[frontend: "mqtt"]?.listener == FrontendListenerSettings(port: 1884, tlsPort: 8883))
        #expect(configuration.settings(of: NATSServerFrontend.self).tlsRequired)
    }

    @Test func badKeysAndValuesAreNamed() throws {
        #expect(throws: ConfigurationError.self) { try load(#"{"mqtt": {"max_packet_sise": 10}}"#) }
        #expect(throws: ConfigurationError.self) { try load(#"{"mqtt": {"max_packet_size": "big"}}"#) }
        #expect(throws: ConfigurationError.self) { try load(#"{"mqtt": {"receive_maximum": 70000}}"#) }
        #expect(throws: ConfigurationError.self) { try load(#"{"nats": {"max_pending": 10, "max_payload": 100}}"#) }
        #expect(throws: ConfigurationError.self) { try load(environment: ["SWITCHBOARD_NATS_PORT": "99999"]) }
        var unknown = ConfigurationOverrides()
        unknown.disabled = ["smtp"]
        #expect(throws: ConfigurationError.self) { try load(nil, unknown) }
        var malformed = ConfigurationOverrides()
        malformed.settings = ["mqtt.receive_maximum"]
        #expect(throws: ConfigurationError.self) { try load(nil, malformed) }
    }

    @Test func docsListEveryFrontendSettingFromTheSameSource() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let operations = try String(contentsOf: root.appendingPathComponent("docs/operations.md"), encoding: .utf8)
        let begin = "<!-- frontend settings: generated by `switchboard settings`; begin -->\n"
        let end = "<!-- frontend settings: end -->"
        let start = try #require(operations.range(of: begin))
        let stop = try #require(operations.range(of: end))
        #expect(String(operations[start.upperBound..<stop.lowerBound]) == "\n" + FrontendList.markdown)
        for frontend in ServerConfiguration().frontends {
            #expect(FrontendList.helpText.contains("\(frontend.name): \(frontend.type.summary)"))
        }
    }
}

/// `virtual_hosts`: names (their topic prefix is the name) or objects with a prefix; mistakes are named.
@Suite struct VirtualHostConfigurationTests {
    let load = FrontendConfigurationTests().load

    @Test func namesAndObjects() throws {
        let configuration = try load(
            #"{"virtual_hosts": ["tenant-a", {"name": "/prod", "topic_prefix": "envs/prod"}]}"#, .init(), [:])
        #expect(
            configuration.virtualHosts == [
                VirtualHostDefinition(name: "tenant-a", topicPrefix: "tenant-a"),
                VirtualHostDefinition(name: "/prod", topicPrefix: "envs/prod"),
            ])
    }

    @Test func mistakesAreRefused() {
        for file in [
            #"{"virtual_hosts": ["bad\u0001name"]}"#,
            #"{"virtual_hosts": ["a", "a"]}"#,
            #"{"virtual_hosts": [{"name": "a", "topic_prefix": "x/+"}]}"#,
            #"{"virtual_hosts": [{"name": "/", "topic_prefix": "x"}]}"#,
            #"{"virtual_hosts": [""]}"#,
        ] {
            #expect(throws: ConfigurationError.self, "\(file)") { try load(file, .init(), [:]) }
        }
    }
}
