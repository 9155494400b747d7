package import BusCore
package import FrontendKit

/// One frontend's configuration as the server holds it: the generic keys (`enabled`, `port`,
/// `tls_port`) and the frontend's own settings, applied from the file, the environment and flags.
package struct FrontendConfiguration: Sendable {
    package let type: any Frontend.Type
    package var listener: FrontendListenerSettings
    /// Always a `type.Settings`.
    package private(set) var settings: any FrontendSettings

    package init(_ type: any Frontend.Type) {
        self.type = type
        self.listener = FrontendListenerSettings(port: type.defaultPort)
        self.settings = type.defaultSettings()
    }

    package var name: String { type.name }

    /// The frontend's own settings, typed; nil when `F` is not this frontend.
    package func settings<F: Frontend>(of frontend: F.Type) -> F.Settings? { settings as? F.Settings }

    /// Replaces the frontend's own settings (tests and embedders).
    package mutating func setSettings<F: Frontend>(_ value: F.Settings, of frontend: F.Type) {
        precondition(frontend == type, "settings of \(F.name) given to \(name)")
        settings = value
    }

    /// Every key of the section: the generic ones first, then the frontend's own.
    package var keys: [FrontendSettingInfo] {
        var keys = [
            FrontendSettingInfo(
                key: "enabled", kind: .boolean, help: "false: the frontend is not started at all.",
                defaultValue: "true")
        ]
        if let port = type.defaultPort {
            keys.append(
                FrontendSettingInfo(
                    key: "port", kind: .integer, help: "TCP port; off: no TCP listener; 0: any free port.",
                    defaultValue: "\(port)"))
        }
        if type.offersTLSPort {
            keys.append(
                FrontendSettingInfo(
                    key: "tls_port", kind: .integer, help: "TLS listener port (needs the tls section).",
                    defaultValue: "none"))
        }
        return keys + type.settingInfos()
    }

    /// Sets `key` from a config-file value.
    package mutating func set(_ key: String, json: JSONValue) throws(FrontendSettingError) {
        guard let kind = keys.first(where: { $0.key == key })?.kind else { throw unknownKey(key) }
        if key == "port" || key == "tls_port", case .string(let text) = json { return try set(key, text: text) }
        if key == "port", json == .null { return listener.port = nil }
        guard let value = FrontendSettingValue(json: json, kind: kind) else {
            throw FrontendSettingError("must be \(kind.article)")
        }
        try set(key, value)
    }

    /// Sets `key` from the environment or a flag.
    package mutating func set(_ key: String, text: String) throws(FrontendSettingError) {
        guard let kind = keys.first(where: { $0.key == key })?.kind else { throw unknownKey(key) }
        if key == "port" || key == "tls_port", text.lowercased() == "off" {
            if key == "port" { listener.port = nil } else { listener.tlsPort = nil }
            return
        }
        guard let value = FrontendSettingValue(text: text, kind: kind) else {
            throw FrontendSettingError("\"\(text)\" is not \(kind.article)")
        }
        try set(key, value)
    }

    private mutating func set(_ key: String, _ value: FrontendSettingValue) throws(FrontendSettingError) {
        switch (key, value) {
        case ("enabled", .boolean(let enabled)): listener.enabled = enabled
        case ("port", .integer(let port)), ("tls_port", .integer(let port)):
            guard (0...65535).contains(port) else { throw FrontendSettingError("port \(port) is out of range") }
            if key == "port" { listener.port = port } else { listener.tlsPort = port }
        default:
            settings = try type.applying(key, value, to: settings)
        }
    }

    /// The frontend's own cross-key checks.
    package func validate() throws(FrontendSettingError) {
        try settings.validate()
    }

    /// Builds the frontend.
    package func make(context: FrontendContext) throws -> any Frontend {
        try type.make(settings: settings, context: context)
    }

    private func unknownKey(_ key: String) -> FrontendSettingError {
        FrontendSettingError("unknown key; \(name) has \(keys.map(\.key).joined(separator: ", "))")
    }
}

extension FrontendSettingKind {
    /// "an integer", "true or false" …: for error messages.
    var article: String {
        switch self {
        case .integer: "an integer"
        case .boolean: "true or false"
        case .string: "a string"
        case .strings: "a list of strings"
        case .port: "a port (0 to 65535) or off"
        }
    }
}
