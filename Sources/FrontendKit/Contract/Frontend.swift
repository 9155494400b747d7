package import ServiceLifecycle
package import Storage

/// One protocol's server side as the server sees it. A frontend is its own folder
/// (`Protocols/<P>/Wire`, `Protocols/<P>/Frontend`), one block in Package.swift and one entry in
/// ServerApp's frontend list; everything else — config section, environment variables, flags, ports,
/// TLS listeners, enable/disable, help text, restore at startup, shutdown — is generic and comes from
/// what it declares here (docs/architecture.md, "Adding a protocol").
package protocol Frontend: Sendable {
    /// Its own settings: one type, set from the config section named `name`, `SWITCHBOARD_<NAME>_*`
    /// variables and `--set name.key=value` flags.
    associatedtype Settings: FrontendSettings

    /// Lower-case and unique: the config section, the `--port name=…`/`--disable name` spelling, the
    /// environment prefix and the metrics label.
    static var name: String { get }
    /// One line for `serve --help` and docs/operations.md: what it serves, where.
    static var summary: String { get }
    /// Its standard TCP port (MQTT 1883, NATS 4222); nil when it has no listener of its own and lives on
    /// the HTTP port only (WebSocket endpoints, routes).
    static var defaultPort: Int? { get }
    /// Whether a `tls_port` listener is offered (a TLS copy of its plain listener).
    static var offersTLSPort: Bool { get }

    /// Builds the frontend at startup, before the store is restored and anything listens.
    init(settings: Settings, context: FrontendContext) throws

    /// Takes back what the store kept (after every frontend is built, before listening): one line for
    /// the startup log, or nil when there is nothing to say.
    func restore(_ state: StoredState) throws -> String?

    /// Long-running work — its TCP listeners (`context.listeners`), sweepers, periodic publishers — run
    /// inside the server's one `ServiceGroup`, so start-up and shutdown are ordered and nothing is
    /// scheduled on a loop that has stopped.
    func makeServices() -> [any Service]

    /// Its WebSocket endpoints on the HTTP (and HTTPS) port.
    var webSocketEndpoints: [any WebSocketEndpoint] { get }

    /// Its HTTP routes on the HTTP (and HTTPS) port.
    func registerRoutes(into router: inout HTTPRouter.Builder)
}

extension Frontend {
    package static var defaultPort: Int? { nil }
    package static var offersTLSPort: Bool { defaultPort != nil }
    package func restore(_ state: StoredState) throws -> String? { nil }
    package func makeServices() -> [any Service] { [] }
    package var webSocketEndpoints: [any WebSocketEndpoint] { [] }
    package func registerRoutes(into router: inout HTTPRouter.Builder) {}
}

/// A frontend's settings type: defaults from `init()`, every key declared once in `settings`.
package protocol FrontendSettings: Sendable {
    init()
    /// Every key of the config section, in the order the docs list them.
    static var settings: [FrontendSetting<Self>] { get }
    /// Checks that involve several keys, after all sources are applied; throws the reason.
    func validate() throws(FrontendSettingError)
}

extension FrontendSettings {
    package func validate() throws(FrontendSettingError) {}
}

/// The settings every frontend has, applied by the server rather than the frontend: whether it runs and
/// where its TCP listeners are (`port`, `tls_port` in its section; `--port name=…`; `--disable name`).
package struct FrontendListenerSettings: Sendable, Equatable {
    /// false: the frontend is not built at all (no listener, no WebSocket endpoint, no routes).
    package var enabled = true
    /// The plain TCP port; nil: no TCP listener (its WebSocket endpoints and routes stay). 0 picks a free one.
    package var port: Int?
    /// A TLS listener's port (needs the `tls` section's certificate); nil: none.
    package var tlsPort: Int?

    package init(enabled: Bool = true, port: Int? = nil, tlsPort: Int? = nil) {
        self.enabled = enabled
        self.port = port
        self.tlsPort = tlsPort
    }
}

/// One key of some frontend's section, its type erased: what help, docs, the environment and flags need.
package struct FrontendSettingInfo: Sendable, Equatable {
    package var key: String
    package var kind: FrontendSettingKind
    package var help: String
    /// The default, as the docs print it.
    package var defaultValue: String

    package init(key: String, kind: FrontendSettingKind, help: String, defaultValue: String) {
        self.key = key
        self.kind = kind
        self.help = help
        self.defaultValue = defaultValue
    }
}

// The typed halves of the server's type-erased frontend configuration: called on `any Frontend.Type`.
extension Frontend {
    /// `Settings()`, erased.
    package static func defaultSettings() -> any FrontendSettings { Settings() }

    /// The frontend's own keys with their defaults.
    package static func settingInfos() -> [FrontendSettingInfo] {
        let defaults = Settings()
        return Settings.settings.map {
            FrontendSettingInfo(key: $0.key, kind: $0.kind, help: $0.help, defaultValue: $0.describe(defaults))
        }
    }

    /// `settings` (a `Settings`) with `key` set to `value`.
    package static func applying(
        _ key: String, _ value: FrontendSettingValue, to settings: any FrontendSettings
    ) throws(FrontendSettingError) -> any FrontendSettings {
        guard var typed = settings as? Settings, let setting = Settings.settings.first(where: { $0.key == key }) else {
            throw FrontendSettingError("unknown key")
        }
        try setting.apply(&typed, value)
        return typed
    }

    /// Builds the frontend from `settings` (a `Settings`).
    package static func make(settings: any FrontendSettings, context: FrontendContext) throws -> any Frontend {
        guard let typed = settings as? Settings else { preconditionFailure("settings of another frontend") }
        return try Self(settings: typed, context: context)
    }
}
