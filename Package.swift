// swift-tools-version:6.2
import PackageDescription

let upcoming: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
    .enableUpcomingFeature("InternalImportsByDefault"),
]

/// The delivery path's state is confined to one event loop by construction (docs/concurrency.md), so
/// the modules on it skip dynamic exclusivity checks, which cost ~3% of fan-out CPU in profiles.
let hotPath: [SwiftSetting] = upcoming + [.unsafeFlags(["-enforce-exclusivity=unchecked"])]

// MARK: - Protocols
// One block per protocol (docs/architecture.md, "Adding a protocol"): its Wire module (codec and state
// machines, no IO), its Frontend module (handlers and the `Frontend` conformance) and its tests. ServerApp
// depends on every module in `frontendModules`; the frontend is then one line of ServerApp's
// FrontendList. scripts/check-boundaries reads these blocks: no protocol imports another, no Wire module
// imports IO, bus or store.
var frontendModules: [Target.Dependency] = []
var protocolTargets: [Target] = []

// Native WebSocket (`/ws`, docs/protocols/websocket.md)
frontendModules.append("NativeWebSocketFrontend")
protocolTargets += [
    // Native WebSocket protocol: codec + session state machine (no IO) ...
    .target(
        name: "NativeWebSocketWire",
        dependencies: ["BusCore", .product(name: "NIOCore", package: "swift-nio")],
        path: "Sources/Protocols/WebSocket/Wire",
        swiftSettings: upcoming
    ),
    // ... and the NIO handler that runs its actions.
    .target(
        name: "NativeWebSocketFrontend",
        dependencies: [
            "BusCore", "BusRuntime", "FrontendKit", "NativeWebSocketWire",
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "NIOWebSocket", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
        ],
        path: "Sources/Protocols/WebSocket/Frontend",
        swiftSettings: hotPath
    ),
    .testTarget(
        name: "NativeWebSocketTests",
        dependencies: [
            "SwitchboardTestSupport", "BusCore", "BusRuntime", "FrontendKit", "NativeWebSocketWire",
            "NativeWebSocketFrontend",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOEmbedded", package: "swift-nio"),
            .product(name: "NIOWebSocket", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
        ],
        swiftSettings: upcoming
    ),
]

// Server-Sent Events and long polling (`/sse`, `/poll`, `/api/realtime`, docs/protocols/sse.md)
frontendModules.append("SSEFrontend")
protocolTargets += [
    // Server-Sent Events and long polling: event encoding, positions, requests, state machines (no IO) ...
    .target(
        name: "SSEWire",
        dependencies: ["BusCore", .product(name: "NIOCore", package: "swift-nio")],
        path: "Sources/Protocols/SSE/Wire",
        swiftSettings: upcoming
    ),
    // ... and the NIO handlers: `/sse` streams, `/api/realtime`, `/poll`.
    .target(
        name: "SSEFrontend",
        dependencies: [
            "BusCore", "BusRuntime", "FrontendKit", "SSEWire",
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
        ],
        path: "Sources/Protocols/SSE/Frontend",
        swiftSettings: hotPath
    ),
    .testTarget(
        name: "SSETests",
        dependencies: [
            "SwitchboardTestSupport", "BusCore", "BusRuntime", "FrontendKit", "SSEWire", "SSEFrontend",
            .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOEmbedded", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
        ],
        swiftSettings: upcoming
    ),
]

// MQTT 3.1.1 and 5.0 (1883, `/mqtt`, docs/protocols/mqtt.md)
frontendModules.append("MQTTFrontend")
protocolTargets += [
    // MQTT 3.1.1 and 5.0: one codec for both versions + the session state machine (no IO) ...
    .target(
        name: "MQTTWire",
        dependencies: ["BusCore", .product(name: "NIOCore", package: "swift-nio")],
        path: "Sources/Protocols/MQTT/Wire",
        swiftSettings: hotPath
    ),
    // ... and the TCP listener and connection handler that run its actions against the bus.
    .target(
        name: "MQTTFrontend",
        dependencies: [
            "BusCore", "BusRuntime", "FrontendKit", "MQTTWire", "Storage",
            .product(name: "DequeModule", package: "swift-collections"),
            .product(name: "Atomics", package: "swift-atomics"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "NIOWebSocket", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ],
        path: "Sources/Protocols/MQTT/Frontend",
        swiftSettings: hotPath
    ),
    .testTarget(
        name: "MQTTTests",
        dependencies: [
            "SwitchboardTestSupport", "BusCore", "BusRuntime", "FrontendKit", "MQTTWire", "MQTTFrontend",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOEmbedded", package: "swift-nio"),
        ],
        swiftSettings: upcoming
    ),
]

// NATS client protocol (4222, `/nats`, docs/protocols/nats.md)
frontendModules.append("NATSFrontend")
protocolTargets += [
    // NATS client protocol: parser, encoder, subject mapping, session state machine (no IO) ...
    .target(
        name: "NATSWire",
        dependencies: ["BusCore", .product(name: "NIOCore", package: "swift-nio")],
        path: "Sources/Protocols/NATS/Wire",
        swiftSettings: hotPath
    ),
    // ... and the connection handler and listener on 4222.
    .target(
        name: "NATSFrontend",
        dependencies: [
            "BusCore", "BusRuntime", "FrontendKit", "NATSWire", "Storage",
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            // SIGUSR2: lame-duck mode, as nats-server.
            .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Atomics", package: "swift-atomics"),
        ],
        path: "Sources/Protocols/NATS/Frontend",
        swiftSettings: hotPath
    ),
    .testTarget(
        name: "NATSTests",
        dependencies: [
            "SwitchboardTestSupport", "BusCore", "BusRuntime", "FrontendKit", "NATSWire", "NATSFrontend", "Storage",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOEmbedded", package: "swift-nio"),
        ],
        swiftSettings: upcoming
    ),
]

// AMQP 0-9-1 (5672, docs/protocols/amqp.md)
frontendModules.append("AMQPFrontend")
protocolTargets += [
    // AMQP 0-9-1 with RabbitMQ's extensions: frames, methods, field tables, content assembly, the
    // connection state machine (no IO) ...
    .target(
        name: "AMQPWire",
        dependencies: ["BusCore", .product(name: "NIOCore", package: "swift-nio")],
        path: "Sources/Protocols/AMQP/Wire",
        swiftSettings: hotPath
    ),
    // ... and the connection handler that runs channels against the broker (BusRuntime's QueueBroker).
    .target(
        name: "AMQPFrontend",
        dependencies: [
            "BusCore", "BusRuntime", "FrontendKit", "AMQPWire", "Storage",
            .product(name: "DequeModule", package: "swift-collections"),
            .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            .product(name: "Atomics", package: "swift-atomics"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
        ],
        path: "Sources/Protocols/AMQP/Frontend",
        swiftSettings: hotPath
    ),
    .testTarget(
        name: "AMQPTests",
        dependencies: [
            "SwitchboardTestSupport", "AMQPWire", "AMQPFrontend", "BusCore", "BusRuntime", "FrontendKit",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "Atomics", package: "swift-atomics"),
            .product(name: "NIOEmbedded", package: "swift-nio"),
        ],
        swiftSettings: upcoming
    ),
]

// STOMP 1.0-1.2 (61613, `/stomp`, docs/protocols/stomp.md)
frontendModules.append("STOMPFrontend")
protocolTargets += [
    // STOMP frames, header escaping, versions, heart-beats, destinations, the session state machine
    // (no IO) ...
    .target(
        name: "STOMPWire",
        dependencies: [.product(name: "NIOCore", package: "swift-nio")],
        path: "Sources/Protocols/STOMP/Wire",
        swiftSettings: hotPath
    ),
    // ... and the connection handler that runs sessions against the bus and the queue broker.
    .target(
        name: "STOMPFrontend",
        dependencies: [
            "BusCore", "BusRuntime", "FrontendKit", "STOMPWire",
            .product(name: "Atomics", package: "swift-atomics"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
        ],
        path: "Sources/Protocols/STOMP/Frontend",
        swiftSettings: hotPath
    ),
    .testTarget(
        name: "STOMPTests",
        dependencies: [
            "SwitchboardTestSupport", "STOMPWire", "STOMPFrontend", "BusCore", "BusRuntime", "FrontendKit",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOEmbedded", package: "swift-nio"),
        ],
        swiftSettings: upcoming
    ),
]

// Socket.IO v4: Engine.IO v4 + Socket.IO protocol v5 (`/socket.io/`, docs/protocols/socketio.md)
frontendModules.append("SocketIOFrontend")
protocolTargets += [
    // Engine.IO packets and polling payloads, Socket.IO packets and binary attachments, the heartbeat.
    .target(
        name: "SocketIOWire",
        dependencies: ["BusCore", .product(name: "NIOCore", package: "swift-nio")],
        path: "Sources/Protocols/SocketIO/Wire",
        swiftSettings: hotPath
    ),
    // ... and the sessions (found by sid from any loop), polling routes, the WebSocket transport, the hub.
    .target(
        name: "SocketIOFrontend",
        dependencies: [
            "BusCore", "BusRuntime", "FrontendKit", "SocketIOWire",
            .product(name: "DequeModule", package: "swift-collections"),
            .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "NIOWebSocket", package: "swift-nio"),
        ],
        path: "Sources/Protocols/SocketIO/Frontend",
        swiftSettings: hotPath
    ),
    .testTarget(
        name: "SocketIOTests",
        dependencies: [
            "SwitchboardTestSupport", "SocketIOWire", "SocketIOFrontend", "BusCore", "BusRuntime", "FrontendKit",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOEmbedded", package: "swift-nio"),
        ],
        swiftSettings: upcoming
    ),
]

// SignalR, the ASP.NET Core hub protocol (`/hubs/<hub>`, docs/protocols/signalr.md)
frontendModules.append("SignalRFrontend")
protocolTargets += [
    // Handshake, hub messages in JSON and MessagePack (with our MessagePack codec), both framings, no IO.
    .target(
        name: "SignalRWire",
        dependencies: ["BusCore", .product(name: "NIOCore", package: "swift-nio")],
        path: "Sources/Protocols/SignalR/Wire",
        swiftSettings: hotPath
    ),
    // ... and negotiate, the transports and the hub's methods over the bus.
    .target(
        name: "SignalRFrontend",
        dependencies: [
            "BusCore", "BusRuntime", "FrontendKit", "SignalRWire",
            .product(name: "DequeModule", package: "swift-collections"),
            .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "NIOWebSocket", package: "swift-nio"),
        ],
        path: "Sources/Protocols/SignalR/Frontend",
        swiftSettings: hotPath
    ),
    .testTarget(
        name: "SignalRTests",
        dependencies: [
            "SwitchboardTestSupport", "SignalRWire", "SignalRFrontend", "BusCore", "BusRuntime", "FrontendKit",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOEmbedded", package: "swift-nio"),
        ],
        swiftSettings: upcoming
    ),
]

// Confluent's Schema Registry REST API (8081, docs/protocols/schema-registry.md): the registry itself is
// BusRuntime's (`bus.schemas`, on SchemaKit); this is its HTTP frontend. No Wire module: the codecs are
// SchemaKit's and the requests are JSON.
frontendModules.append("SchemaRegistryFrontend")
protocolTargets += [
    .target(
        name: "SchemaRegistryFrontend",
        dependencies: [
            "BusCore", "BusRuntime", "FrontendKit", "SchemaKit",
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
        ],
        path: "Sources/Protocols/SchemaRegistry/Frontend",
        swiftSettings: upcoming
    ),
    .testTarget(
        name: "SchemaRegistryTests",
        dependencies: [
            "SwitchboardTestSupport", "BusCore", "BusRuntime", "FrontendKit", "SchemaKit", "SchemaRegistryFrontend",
            "Storage",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
        ],
        swiftSettings: upcoming
    ),
]

// Confluent Kafka REST Proxy v2 (8082, docs/protocols/kafka-rest.md): a Kafka topic is a stream
frontendModules.append("KafkaRESTFrontend")
protocolTargets += [
    // Kafka REST v2: content negotiation, request and response JSON, error codes, consumer-group
    // assignment, schema formats over SchemaKit (no IO) ...
    .target(
        name: "KafkaRESTWire",
        dependencies: ["BusCore", "SchemaKit", .product(name: "NIOCore", package: "swift-nio")],
        path: "Sources/Protocols/KafkaREST/Wire",
        swiftSettings: upcoming
    ),
    // ... and its own HTTP listener: topics, produce into streams, consumer instances.
    .target(
        name: "KafkaRESTFrontend",
        dependencies: [
            "BusCore", "BusRuntime", "FrontendKit", "KafkaRESTWire", "SchemaKit",
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
        ],
        path: "Sources/Protocols/KafkaREST/Frontend",
        swiftSettings: upcoming
    ),
    .testTarget(
        name: "KafkaRESTTests",
        dependencies: [
            "SwitchboardTestSupport", "BusCore", "BusRuntime", "FrontendKit", "KafkaRESTWire", "KafkaRESTFrontend",
            "SchemaKit", "Storage",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOEmbedded", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
        ],
        swiftSettings: upcoming
    ),
]

// Schema codecs for the Schema Registry and the Kafka REST proxy (issue 18, docs/schema-registry.md):
// Avro, JSON Schema and Protobuf schemas, their binary/JSON codecs, compatibility rules and Confluent's wire
// format. Pure values over BusCore's JSON (no IO, no bus, no store), so the REST layer and the stream
// store call them synchronously.
protocolTargets += [
    .target(
        name: "SchemaKit",
        dependencies: ["BusCore", .product(name: "NIOCore", package: "swift-nio")],
        swiftSettings: upcoming
    ),
    .testTarget(
        name: "SchemaKitTests",
        dependencies: [
            "SchemaKit", "BusCore", "SwitchboardTestSupport", .product(name: "NIOCore", package: "swift-nio"),
        ],
        // Read through #filePath (generated by Fixtures/generate.py from fastavro and protobuf), not bundled.
        exclude: ["Fixtures"],
        swiftSettings: upcoming
    ),
    // libFuzzer target: random bytes decoded with random schemas (Tests/Fuzz/README.md).
    .executableTarget(
        name: "SchemaFuzz",
        dependencies: ["SchemaKit", "BusCore"],
        path: "Tests/Fuzz/SchemaFuzz",
        swiftSettings: upcoming
    ),
]

// MARK: - Engines
// Scale-out through Redis (issue 23, docs/redis.md): our own RESP3 client. Its Wire module is a pure codec
// (scripts/check-boundaries holds it to the protocol Wire rule: no IO, bus or store); the client runs it
// over SwiftNIO; RedisBus joins the bus of several instances through it.
let engineTargets: [Target] = [
    // RESP3/RESP2 values, the incremental decoder and the command encoder (no IO) ...
    .target(
        name: "RedisWire",
        dependencies: [.product(name: "NIOCore", package: "swift-nio")],
        path: "Sources/Engine/Redis/Wire",
        swiftSettings: upcoming
    ),
    // ... and the pipelined client: connect, HELLO/AUTH/SELECT, pub/sub, reconnect with backoff, TLS.
    .target(
        name: "RedisEngine",
        dependencies: [
            "RedisWire",
            .product(name: "DequeModule", package: "swift-collections"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
            .product(name: "Logging", package: "swift-log"),
        ],
        path: "Sources/Engine/Redis/Client",
        swiftSettings: upcoming
    ),
    // ... and the bus joined to other instances through it (routing; docs/redis.md).
    .target(
        name: "RedisBus",
        dependencies: [
            "RedisWire", "RedisEngine", "BusCore", "BusRuntime", "Storage",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
        ],
        path: "Sources/Engine/Redis/Bus",
        swiftSettings: upcoming
    ),
    // Codec round trips and limits, and the client against a real redis-server the tests start.
    .testTarget(
        name: "RedisTests",
        dependencies: [
            "RedisWire", "RedisEngine", "RedisBus", "BusCore", "BusRuntime", "Storage",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOEmbedded", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
            .product(name: "Logging", package: "swift-log"),
        ],
        swiftSettings: upcoming
    ),
    // libFuzzer target for the RESP decoder (Tests/Fuzz/README.md): its own product, as SchemaFuzz, so the
    // sanitizer build compiles only the codec.
    .executableTarget(
        name: "RedisFuzz",
        dependencies: ["RedisWire", .product(name: "NIOCore", package: "swift-nio")],
        path: "Tests/Fuzz/RedisFuzz",
        swiftSettings: upcoming
    ),
]

// The Model Context Protocol (`/mcp`, Streamable HTTP; docs/protocols/mcp.md): tools and resources over the
// records, the bus's history, presence and channels, on modelcontextprotocol/swift-sdk's server and its
// framework-agnostic HTTP transport. No Wire module: the protocol's types are the SDK's.
frontendModules.append("MCPFrontend")
protocolTargets += [
    .target(
        name: "MCPFrontend",
        dependencies: [
            "BusCore", "BusRuntime", "FrontendKit",
            .product(name: "MCP", package: "swift-sdk"),
            .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
        ],
        path: "Sources/Protocols/MCP/Frontend",
        swiftSettings: upcoming
    )
]

let package = Package(
    name: "switchboard",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "switchboard", targets: ["switchboard"]),
        .library(name: "SwitchboardClient", targets: ["SwitchboardClient"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        // Security (issue 8): TLS on every listener, JWT verification, password hashing.
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/vapor/jwt-kit.git", from: "5.8.0"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "4.5.2"),
        .package(url: "https://github.com/apple/swift-atomics.git", from: "1.3.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-collections.git", from: "1.6.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
        // The PostgreSQL store (issue 24).
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
        // permessage-deflate for every WebSocket endpoint (RFC 7692, issue 27): zlib's raw deflate streams.
        .package(url: "https://github.com/adam-fowler/compress-nio.git", from: "1.5.0"),
        // The MCP server (issue 20): the Model Context Protocol's types and server.
        .package(url: "https://github.com/modelcontextprotocol/swift-sdk", exact: "0.12.1"),
    ],
    targets: protocolTargets + engineTargets + [
        // Topics, filters, the subscription index, history logs, presence, the payload rule. Pure.
        .target(
            name: "BusCore",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "DequeModule", package: "swift-collections"),
            ],
            // Cross-module optimization: the queue model is generic over its payload, and the runtime's
            // `MessageQueue<BrokeredMessage>` is only fast when specialized in the module that uses it
            // (without it, generic metadata lookups were ~10% of an AMQP publish → deliver in profiles).
            swiftSettings: upcoming + [.unsafeFlags(["-cross-module-optimization"])]
        ),
        // The running bus: per-event-loop shards, batched fan-out, history, presence, RPC, metrics.
        .target(
            name: "BusRuntime",
            dependencies: [
                // SchemaKit: the Schema Registry (Sources/BusRuntime/Schemas) keeps parsed schemas.
                "BusCore", "Storage", "SchemaKit",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Atomics", package: "swift-atomics"),
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
            ],
            swiftSettings: hotPath
        ),
        // Durable state: the Store interface, its in-memory, SQLite (GRDB) and PostgreSQL (postgres-nio)
        // implementations.
        .target(
            name: "Storage",
            dependencies: [
                "BusCore",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "GRDBSQLite", package: "GRDB.swift"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
            ],
            // The writer's state is confined to the store's thread (docs/storage.md), as the loops' is to them.
            swiftSettings: hotPath
        ),
        // What every frontend shares: the HTTP server and router, WebSocket upgrade plumbing, auth.
        .target(
            name: "FrontendKit",
            dependencies: [
                "BusCore", "BusRuntime", "Storage",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                // SHA-1 for the WebSocket handshake's accept key (RFC 6455 §4.2.2): no primitive of our own.
                .product(name: "Crypto", package: "swift-crypto"),
                // zlib for permessage-deflate (RFC 7692): no compressor of our own either.
                .product(name: "CompressNIO", package: "compress-nio"),
            ],
            swiftSettings: upcoming
        ),
        // Identity and permissions (issue 8): static users with PBKDF2 hashes, JWT, permission rules.
        .target(
            name: "SecurityKit",
            dependencies: [
                "BusCore", "FrontendKit",
                .product(name: "JWTKit", package: "jwt-kit"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "CryptoExtras", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: upcoming
        ),
        // Configuration, the service group, the HTTP API, metrics endpoint.
        .target(
            name: "ServerApp",
            dependencies: [
                "BusCore", "BusRuntime", "FrontendKit", "SchemaKit", "SecurityKit", "Storage", "RedisBus",
                "RedisEngine",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ] + frontendModules,
            swiftSettings: upcoming
        ),
        // Swift client SDK (used by the CLI's publish/subscribe).
        .target(
            name: "SwitchboardClient",
            dependencies: [
                "BusCore",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
            ],
            swiftSettings: upcoming
        ),
        .executableTarget(
            name: "switchboard",
            dependencies: [
                "ServerApp", "SwitchboardClient", "BusCore", "SecurityKit",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                // `switchboard mcp` reads the /mcp answers' headers and streams.
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ],
            swiftSettings: upcoming
        ),
        // Micro-benchmark of the subscription index (1M subscriptions).
        .executableTarget(
            name: "SubscriptionIndexBenchmark",
            dependencies: ["BusCore"],
            path: "Benchmarks/SubscriptionIndexBenchmark",
            swiftSettings: upcoming
        ),
        // The payload schema check on the publish path (issue 21): ≤ 2 µs per 256 B JSON message.
        .executableTarget(
            name: "PayloadSchemaBenchmark",
            dependencies: ["BusCore", "BusRuntime", "SchemaKit", .product(name: "NIOCore", package: "swift-nio")],
            path: "Benchmarks/PayloadSchemaBenchmark",
            swiftSettings: upcoming
        ),
        // Durable write throughput and commit latency of the SQLite store (group commit, fsync).
        .executableTarget(
            name: "StoreBenchmark",
            dependencies: ["BusCore", "Storage", .product(name: "NIOCore", package: "swift-nio")],
            path: "Benchmarks/StoreBenchmark",
            swiftSettings: upcoming
        ),
        // libFuzzer targets for our decoders (Tests/Fuzz/README.md); a corpus replay tool otherwise.
        .executableTarget(
            name: "DecoderFuzz",
            dependencies: [
                "BusCore", "FrontendKit", "NativeWebSocketWire", "MQTTWire", "NATSWire", "SSEWire", "AMQPWire",
                "STOMPWire", "SocketIOWire", "SignalRWire",
                "Storage", "SwitchboardTestSupport",
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            path: "Tests/Fuzz/DecoderFuzz",
            swiftSettings: upcoming
        ),
        // What the test targets share: seeded randomness, read splitting and decoder feeding, and the
        // embedded-loop bus harness the handler tests stand on. Tests only; no production module uses it.
        .target(
            name: "SwitchboardTestSupport",
            dependencies: [
                "BusCore", "BusRuntime", "FrontendKit", "SchemaKit", "Storage",
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
            ],
            path: "Tests/SwitchboardTestSupport",
            swiftSettings: upcoming
        ),
        .testTarget(
            name: "BusCoreTests",
            dependencies: ["BusCore", "SwitchboardTestSupport", .product(name: "NIOCore", package: "swift-nio")],
            swiftSettings: upcoming
        ),
        .testTarget(
            name: "StorageTests",
            dependencies: [
                "BusCore", "Storage",
                .product(name: "NIOCore", package: "swift-nio"),
                // Raw SQL against a store's file, for the tests that damage it on purpose; the SQLite C
                // API for the VFS that fails syncs (FailingSyncVFS).
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "GRDBSQLite", package: "GRDB.swift"),
                // The PostgreSQL server the tests start, and raw SQL against it.
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: upcoming
        ),
        .testTarget(
            name: "BusRuntimeTests",
            dependencies: [
                "BusCore", "BusRuntime", "SchemaKit", "Storage", "SwitchboardTestSupport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ],
            swiftSettings: upcoming
        ),
        .testTarget(
            name: "FrontendKitTests",
            dependencies: [
                "FrontendKit", "BusCore", "BusRuntime", "SwitchboardTestSupport",
                // A client's side of permessage-deflate (a window our server-side codec never uses).
                .product(name: "CompressNIO", package: "compress-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ],
            swiftSettings: upcoming
        ),
        .testTarget(
            name: "SecurityKitTests",
            dependencies: [
                "SecurityKit", "BusCore", "FrontendKit",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "JWTKit", package: "jwt-kit"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "CryptoExtras", package: "swift-crypto"),
            ],
            swiftSettings: upcoming
        ),
        .testTarget(
            name: "ServerAppTests",
            dependencies: [
                "ServerApp", "BusCore", "BusRuntime", "FrontendKit", "SwitchboardClient", "MQTTFrontend",
                "NATSFrontend", "SSEFrontend", "MQTTWire", "NATSWire", "RedisBus",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: upcoming
        ),
    ]
)
