package import BusCore
package import BusRuntime
package import FrontendKit
package import Logging
import NIOCore
import RedisBus
package import SecurityKit
package import Storage

/// Which `Store` implementation keeps durable state.
package enum StorageKind: Sendable, Equatable {
    case sqlite
    case memory
    /// A PostgreSQL database (`postgres://…`, docs/storage.md).
    case postgres(PostgresStoreConfiguration)
}

/// Everything `switchboard serve` can be told. Defaults are DESIGN.md §7's embedded defaults.
package struct ServerConfiguration: Sendable {
    package var host = "0.0.0.0"
    package var httpPort = 8080
    package var dataDirectory = "./data"
    /// Where durable state lives: `sqlite` (`<data dir>/switchboard.sqlite`, the default), `memory`
    /// (nothing survives the process; for tests and throwaway runs) or a `postgres://` URL.
    package var storage = StorageKind.sqlite
    /// Other instances joined through Redis (`--engine redis://…`, docs/redis.md); nil: one instance.
    package var engine: String?
    /// `HOST[:PORT]` the other instances reach this one's HTTP listener at, for the requests and
    /// connections of sessions held here (`--engine-advertise`, docs/operations.md "Scale-out"): set it
    /// behind NAT or in containers, where the bound address is not the one the others can reach. nil: the
    /// bound address, or the host name when bound to every interface. Without a port, the bound one.
    package var engineAdvertise: String?
    /// Most bytes of publications an instance keeps while Redis is unreachable, sent when it is back;
    /// beyond it the oldest go, counted in `switchboard_engine_frames_lost_total` (`--engine-max-backlog-bytes`,
    /// docs/redis.md "Redis unreachable"). 64 MiB: a few seconds of a busy instance's traffic, and memory
    /// a server has to spare; 0 keeps nothing.
    package var engineMaxBacklogBytes = RedisBusEngine.defaultMaxBacklogBytes
    /// Whether each group commit is fsynced (`fsync`, default) or not (`no-fsync`: survives kill -9, not
    /// power loss).
    package var durability = StoreDurability.fsync
    /// When set, `/api/*` requires `Authorization: Bearer <key>` or `X-API-Key: <key>`.
    package var apiKey: String?
    package var anonymous = true
    /// Static bearer tokens → user ids.
    package var tokens: [String: String] = [:]
    /// History rules, first match wins; nil: `defaultHistory` (recovery works out of the box, DESIGN.md §7).
    /// Rules given anywhere (flags, environment, file) replace the default; an empty list keeps no history.
    package var history: [HistoryPolicy.Rule]?
    /// Channels with presence, their joins and leaves announced; nil: `defaultPresence` (listed on every
    /// channel, nothing announced). Filters given anywhere replace the default; an empty list: no presence.
    package var presence: [TopicFilter]?
    /// Streams of the config file's `streams`: created at startup, or — when the store already has one
    /// of that name — given the file's filters and limits (its partitions and storage stay).
    package var streams: [StreamConfiguration] = []
    /// Record collections of the config file's `collections` (docs/records.md): created at startup, or —
    /// when the store has one of that name — given the file's schema and rules (its records stay).
    package var collections: [RecordCollectionDefinition] = []
    /// JSON Schemas publishes must satisfy, by topic filter (config file `payload_schemas`;
    /// docs/topics.md, "Payload schemas").
    package var payloadSchemas = PayloadSchemas.none
    package var allowedOrigins: [String] = ["*"]
    /// The queue broker's virtual hosts besides `/` (`virtual_hosts`; AMQP connection.open names one).
    package var virtualHosts: [VirtualHostDefinition] = []
    package var limits = ServerLimits()
    /// Every protocol's section (`mqtt`, `nats`, `sse`, `websocket` …), in `FrontendList` order.
    package var frontends: [FrontendConfiguration] = FrontendList.all.map(FrontendConfiguration.init)
    package var logLevel: Logger.Level = .info
    /// Path of the WebSocket echo endpoint used by conformance suites (Autobahn); nil (off) by default.
    package var webSocketEchoPath: String?
    /// Users, roles, permissions and JWT keys (config key `security`; docs/security.md).
    package var security = SecuritySettings()
    /// Certificates and the TLS listeners (config key `tls`; docs/security.md).
    package var tls: TLSSettings?
    /// Event loop threads; defaults to one per core.
    package var eventLoopThreads: Int = System.coreCount

    package init() {}

    /// What every topic keeps unless history is configured: its last 100 messages for 2 minutes (the
    /// window Socket.IO's connection-state recovery uses), at most 1 MiB of payload — enough for a client
    /// that drops off to resume (WebSocket `recover`, SSE `Last-Event-ID`, long-poll cursors, Socket.IO
    /// and SignalR recovery). `$`-topics (`$SYS/…`, reply inboxes) keep none: `#` does not match them.
    /// A log idle for its age is evicted; all logs together are bounded by `limits.max_history_bytes`.
    /// On demand: a topic gets its log once a client that can resume follows it or reads its history (a
    /// publish alone makes none), so NATS and MQTT traffic nobody could recover costs nothing.
    package static let defaultHistory = HistoryPolicy.Rule(
        filter: try! TopicFilter("#"), limits: HistoryLimits(count: 100, maxAgeSeconds: 120, onDemand: true))

    /// Presence unless configured: every channel lists who is subscribed (presence queries answer), and
    /// no join or leave is announced — an announcement goes to every subscriber of the channel, so
    /// filling a channel of n subscribers would cost n²/2 deliveries. `--presence FILTER` announces.
    package static let defaultPresence = PresencePolicy(listed: [try! TopicFilter("#")], announced: [])

    /// The bus's history policy: the configured rules (which win), collaboration's own rules, then — when
    /// none are configured — the default, last, so the sessions' channels keep their durable logs.
    package var historyPolicy: HistoryPolicy {
        HistoryPolicy(
            rules: (history ?? []) + CollaborationService.historyRules(durable: true)
                + (history == nil ? [Self.defaultHistory] : []))
    }

    /// The bus's presence policy: the configured filters (or the default) and collaboration's.
    package var presencePolicy: PresencePolicy {
        let configured = presence.map { PresencePolicy(filters: $0) } ?? Self.defaultPresence
        return PresencePolicy(
            listed: configured.filters, announced: configured.eventFilters + CollaborationService.presenceFilters)
    }

    /// A configuration for these frontends (`FrontendList.all` by default): an embedder's or a test's
    /// own protocol is served exactly like the built-in ones.
    package init(frontends types: [any Frontend.Type]) {
        let names = types.map { $0.name }
        precondition(Set(names).count == names.count, "two frontends share a name")
        frontends = types.map { FrontendConfiguration($0) }
    }

    /// The section of the frontend called `name`; nil when there is none.
    package subscript(frontend name: String) -> FrontendConfiguration? {
        get { frontends.first { $0.name == name } }
        set {
            guard let index = frontends.firstIndex(where: { $0.name == name }), let newValue else { return }
            frontends[index] = newValue
        }
    }

    /// The settings of frontend `F`.
    package func settings<F: Frontend>(of frontend: F.Type) -> F.Settings {
        guard let settings = self[frontend: F.name]?.settings(of: F.self) else {
            preconditionFailure("\(F.name) is not in FrontendList")
        }
        return settings
    }

    /// Changes the settings of frontend `F` (tests and embedders).
    package mutating func update<F: Frontend>(_ frontend: F.Type, _ change: (inout F.Settings) -> Void) {
        var settings = self.settings(of: F.self)
        change(&settings)
        self[frontend: F.name]?.setSettings(settings, of: F.self)
    }

    /// Sets the TCP port of every frontend that has one (0 in tests: the kernel picks free ports).
    package mutating func setAllPorts(_ port: Int?) {
        for index in frontends.indices where frontends[index].type.defaultPort != nil {
            frontends[index].listener.port = port
        }
    }
}
