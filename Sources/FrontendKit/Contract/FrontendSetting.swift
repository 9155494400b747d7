package import BusCore
import Foundation

/// One key of a frontend's settings: its config key (`mqtt: {max_packet_size: …}`), the environment
/// variable (`SWITCHBOARD_MQTT_MAX_PACKET_SIZE`) and the flag (`--set mqtt.max_packet_size=…`) that set
/// it, the help line `serve --help` and docs/operations.md print, and how it writes into the settings.
/// Every spelling comes from this one declaration, so a protocol's settings are listed and parsed the
/// same way as every other protocol's.
package struct FrontendSetting<Settings>: Sendable {
    package typealias Kind = FrontendSettingKind

    /// The config key inside the frontend's section (`snake_case`).
    package let key: String
    package let kind: Kind
    /// One line: what it does and why its default is what it is.
    package let help: String
    /// Writes a value (already checked to be of `kind`) into the settings; throws a reason when refused.
    package let apply: @Sendable (inout Settings, FrontendSettingValue) throws(FrontendSettingError) -> Void
    /// The value in `settings`, as the docs print it (defaults come from `Settings()`).
    package let describe: @Sendable (Settings) -> String

    package init(
        _ key: String, kind: Kind, help: String,
        apply: @escaping @Sendable (inout Settings, FrontendSettingValue) throws(FrontendSettingError) -> Void,
        describe: @escaping @Sendable (Settings) -> String
    ) {
        self.key = key
        self.kind = kind
        self.help = help
        self.apply = apply
        self.describe = describe
    }
}

/// What a setting holds; decides how a string from the environment or a flag is read.
package enum FrontendSettingKind: String, Sendable {
    case integer
    case boolean
    case string
    /// A list: a JSON array in the config file, comma-separated in the environment or a flag.
    case strings
    /// A TCP port of an extra listener: 0 to 65535 (0 picks a free one), or `off` (JSON `null` or
    /// `"off"`) for none.
    case port
}

/// A setting's value, read from JSON, the environment or a flag.
package enum FrontendSettingValue: Sendable, Equatable {
    case integer(Int)
    case boolean(Bool)
    case string(String)
    case strings([String])
    /// A port, or nil for `off`.
    case port(Int?)

    /// `text` (from the environment or a flag) read as `kind`; nil when it is not one.
    package init?(text: String, kind: FrontendSettingKind) {
        switch kind {
        case .integer:
            guard let value = Int(text.trimmingCharacters(in: .whitespaces)) else { return nil }
            self = .integer(value)
        case .boolean:
            switch text.lowercased() {
            case "true", "yes", "on", "1": self = .boolean(true)
            case "false", "no", "off", "0": self = .boolean(false)
            default: return nil
            }
        case .string: self = .string(text)
        case .strings:
            self = .strings(text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) })
        case .port:
            let trimmed = text.trimmingCharacters(in: .whitespaces)
            if trimmed.lowercased() == "off" {
                self = .port(nil)
            } else if let port = Int(trimmed) {
                self = .port(port)
            } else {
                return nil
            }
        }
    }

    /// A value of the config file, read as `kind`; nil when it is not one.
    package init?(json: JSONValue, kind: FrontendSettingKind) {
        switch (kind, json) {
        case (.integer, _):
            guard let value = json.intValue else { return nil }
            self = .integer(value)
        case (.boolean, .bool(let value)): self = .boolean(value)
        case (.string, .string(let value)): self = .string(value)
        case (.strings, .array(let values)):
            let strings = values.compactMap(\.stringValue)
            guard strings.count == values.count else { return nil }
            self = .strings(strings)
        case (.port, .null): self = .port(nil)
        case (.port, .string(let text)):
            guard let value = FrontendSettingValue(text: text, kind: .port) else { return nil }
            self = value
        case (.port, _):
            guard let value = json.intValue else { return nil }
            self = .port(value)
        default: return nil
        }
    }
}

/// Why a setting's value was refused (the loader adds which key and source).
package struct FrontendSettingError: Error, Sendable, CustomStringConvertible {
    package var description: String
    package init(_ description: String) { self.description = description }
}

extension FrontendSetting {
    /// An integer setting at `path`, at least `minimum`.
    package static func integer(
        _ key: String, _ path: any WritableKeyPath<Settings, Int> & Sendable, minimum: Int = 0, help: String
    ) -> FrontendSetting {
        FrontendSetting(
            key, kind: .integer, help: help,
            apply: { settings, value throws(FrontendSettingError) in
                guard case .integer(let number) = value, number >= minimum else {
                    throw FrontendSettingError("must be an integer of at least \(minimum)")
                }
                settings[keyPath: path] = number
            },
            describe: { "\($0[keyPath: path])" })
    }

    /// An integer setting stored in a narrower unsigned type; values past its range are refused.
    package static func integer<Value: FixedWidthInteger & UnsignedInteger & Sendable>(
        _ key: String, _ path: any WritableKeyPath<Settings, Value> & Sendable, minimum: Int = 0, help: String
    ) -> FrontendSetting {
        FrontendSetting(
            key, kind: .integer, help: help,
            apply: { settings, value throws(FrontendSettingError) in
                guard case .integer(let number) = value, number >= minimum, let narrow = Value(exactly: number)
                else { throw FrontendSettingError("must be an integer from \(minimum) to \(Value.max)") }
                settings[keyPath: path] = narrow
            },
            describe: { "\($0[keyPath: path])" })
    }

    /// A boolean setting at `path`.
    package static func boolean(
        _ key: String, _ path: any WritableKeyPath<Settings, Bool> & Sendable, help: String
    ) -> FrontendSetting {
        FrontendSetting(
            key, kind: .boolean, help: help,
            apply: { settings, value throws(FrontendSettingError) in
                guard case .boolean(let flag) = value else { throw FrontendSettingError("must be true or false") }
                settings[keyPath: path] = flag
            },
            describe: { "\($0[keyPath: path])" })
    }

    /// `websocket_compression`: whether a protocol's WebSocket endpoint accepts permessage-deflate
    /// (RFC 7692) offers — one key, one help text, for every byte-stream protocol over WebSocket.
    package static func webSocketCompression(_ path: any WritableKeyPath<Settings, Bool> & Sendable) -> FrontendSetting
    {
        boolean(
            "websocket_compression", path,
            help:
                "Accept permessage-deflate (RFC 7692) on the WebSocket endpoint, without context takeover; off: costs CPU per message."
        )
    }

    /// An optional string setting at `path`; an empty string clears it.
    package static func string(
        _ key: String, _ path: any WritableKeyPath<Settings, String?> & Sendable, help: String
    ) -> FrontendSetting {
        FrontendSetting(
            key, kind: .string, help: help,
            apply: { settings, value throws(FrontendSettingError) in
                guard case .string(let text) = value else { throw FrontendSettingError("must be a string") }
                settings[keyPath: path] = text.isEmpty ? nil : text
            },
            describe: { $0[keyPath: path] ?? "none" })
    }

    /// A string setting at `path` that must satisfy `check` (e.g. a path starting with `/`).
    package static func string(
        _ key: String, _ path: any WritableKeyPath<Settings, String> & Sendable, help: String,
        check: @escaping @Sendable (String) -> String? = { _ in nil }
    ) -> FrontendSetting {
        FrontendSetting(
            key, kind: .string, help: help,
            apply: { settings, value throws(FrontendSettingError) in
                guard case .string(let text) = value else { throw FrontendSettingError("must be a string") }
                if let refusal = check(text) { throw FrontendSettingError(refusal) }
                settings[keyPath: path] = text
            },
            describe: { $0[keyPath: path] })
    }

    /// An optional list of strings at `path` (nil: fall back to the server-wide value).
    package static func strings(
        _ key: String, _ path: any WritableKeyPath<Settings, [String]?> & Sendable, help: String
    ) -> FrontendSetting {
        FrontendSetting(
            key, kind: .strings, help: help,
            apply: { settings, value throws(FrontendSettingError) in
                guard case .strings(let list) = value else { throw FrontendSettingError("must be a list of strings") }
                settings[keyPath: path] = list
            },
            describe: { $0[keyPath: path].map { $0.joined(separator: ",") } ?? "server-wide" })
    }

    /// An extra listener's port at `path`: 0 to 65535 (0: any free port), or nil (`off`).
    package static func port(
        _ key: String, _ path: any WritableKeyPath<Settings, Int?> & Sendable, help: String
    ) -> FrontendSetting {
        FrontendSetting(
            key, kind: .port, help: help,
            apply: { settings, value throws(FrontendSettingError) in
                guard case .port(let port) = value else { throw FrontendSettingError("must be a port or off") }
                if let port, !(0...65535).contains(port) {
                    throw FrontendSettingError("port \(port) is out of range")
                }
                settings[keyPath: path] = port
            },
            describe: { $0[keyPath: path].map { "\($0)" } ?? "off" })
    }
}
