import BusCore
import Foundation
import FrontendKit

extension ServerConfiguration {
    /// Sets one key of frontend `name`'s section; `source` names the key, variable or flag in errors.
    mutating func setFrontend(_ name: String, _ key: String, text: String, source: String) throws {
        guard let index = frontends.firstIndex(where: { $0.name == name }) else {
            let names = frontends.map(\.name).joined(separator: ", ")
            throw ConfigurationError("\(source): no frontend called \(name) (there are \(names))")
        }
        do { try frontends[index].set(key, text: text) } catch {
            throw ConfigurationError("\(source): \(error)")
        }
    }

    /// The config file's frontend sections: `"mqtt": {"port": 1883, "max_packet_size": …}`. Unknown
    /// keys are refused with the section's known keys, so a typo never passes silently.
    mutating func apply(frontendSections data: Data) throws {
        let document: JSONValue
        do { document = try data.withUnsafeBytes { bytes throws(JSONError) in try JSONParser.parse(bytes) } } catch {
            throw ConfigurationError("config file is not valid JSON: \(error)")
        }
        for index in frontends.indices {
            let name = frontends[index].name
            guard let section = document[name] else { continue }
            guard case .object(let fields) = section else {
                throw ConfigurationError("config file: \(name) must be an object of settings")
            }
            for field in fields {
                do { try frontends[index].set(field.key, json: field.value) } catch {
                    throw ConfigurationError("config file: \(name).\(field.key): \(error)")
                }
            }
        }
    }

    /// `--port NAME=PORT|off`, `--tls-port NAME=PORT|off`, `--disable NAME`, `--enable NAME` and
    /// `--set NAME.KEY=VALUE`.
    mutating func apply(frontendFlags overrides: ConfigurationOverrides) throws {
        for (flag, values, key) in [
            ("--port", overrides.ports, "port"), ("--tls-port", overrides.tlsPorts, "tls_port"),
        ] {
            for text in values {
                guard let equals = text.firstIndex(of: "=") else {
                    throw ConfigurationError("\(flag) \(text): expected NAME=PORT (or NAME=off)")
                }
                let name = String(text[..<equals]).lowercased()
                let value = String(text[text.index(after: equals)...])
                if name == "http" && key == "port" {
                    httpPort = try Self.port(value, key: "\(flag) http")
                } else {
                    try setFrontend(name, key, text: value, source: "\(flag) \(name)")
                }
            }
        }
        for name in overrides.enabled {
            try setFrontend(name.lowercased(), "enabled", text: "true", source: "--enable")
        }
        for name in overrides.disabled {
            try setFrontend(name.lowercased(), "enabled", text: "false", source: "--disable")
        }
        for text in overrides.settings {
            guard let dot = text.firstIndex(of: "."), let equals = text.firstIndex(of: "="), dot < equals else {
                throw ConfigurationError("--set \(text): expected NAME.KEY=VALUE, e.g. mqtt.max_packet_size=65536")
            }
            let name = String(text[..<dot]).lowercased()
            let key = String(text[text.index(after: dot)..<equals])
            try setFrontend(name, key, text: String(text[text.index(after: equals)...]), source: "--set \(name).\(key)")
        }
    }
}
