import NIOCore

/// The wire protocols the load generator can speak. Each one supplies a channel handler that
/// implements ``BenchLink`` (what a scenario can ask of a connection) and reports to a
/// ``BenchRole`` (what a connection tells the scenario). Adding a protocol means one new handler
/// file (plus its frames file) and one case here.
enum BenchProtocolKind: String, CaseIterable, Sendable {
    /// Switchboard's native WebSocket protocol (`/ws`, JSON text frames, `switchboard.v1`).
    case ws
    /// The NATS client protocol (text control lines), for calibrating against nats-server.
    case nats
    /// MQTT 3.1.1 over TCP (Switchboard's MQTT frontend, mosquitto); `--qos 0|1`.
    case mqtt
    /// Server-Sent Events: subscribers are `/sse` streams; publishers use the native WebSocket on
    /// the same port (`--path`), since an SSE stream cannot publish.
    case sse
    /// AMQP 0-9-1 (Switchboard's AMQP frontend, RabbitMQ): the channel is a queue; publishers send to it
    /// through the default exchange and every subscriber consumes from it, so each message reaches
    /// one subscriber (a work queue), not all of them.
    case amqp
    /// STOMP 1.2 (Switchboard's STOMP frontend, RabbitMQ's STOMP plugin): the channel is the destination
    /// `/topic/<channel>` (every subscriber gets every message) or, with `--stomp-destination queue`,
    /// `/queue/<channel>` (subscribers share the queue, as with AMQP).
    case stomp
    /// Socket.IO v5 over Engine.IO v4's WebSocket transport (WebSocket-only, `/socket.io/`), with the
    /// hub's event vocabulary: `subscribe` (acked), `publish` (fire-and-forget, or acked to pace).
    case socketio
    /// Socket.IO subscribers on Engine.IO's HTTP long-polling transport; publishers use the WebSocket
    /// transport (`socketio`), as `sse` publishers use the native WebSocket.
    case socketioPolling = "socketio-polling"
    /// SignalR (ASP.NET Core hub protocol) with the JSON hub protocol over WebSocket text frames, negotiation
    /// skipped (`/hubs/switchboard`), with the hub's methods: `Subscribe` (completed), `Publish`
    /// (fire-and-forget, or with an invocation id to pace).
    case signalr
    /// SignalR with the MessagePack hub protocol over WebSocket binary frames; otherwise as `signalr`.
    case signalrMsgpack = "signalr-msgpack"

    /// The port a server of this protocol listens on by default.
    var defaultPort: Int {
        switch self {
        case .ws, .sse, .socketio, .socketioPolling, .signalr, .signalrMsgpack: return 8080
        case .nats: return 4222
        case .mqtt: return 1883
        case .amqp: return 5672
        case .stomp: return 61613
        }
    }

    /// The HTTP path of the endpoint when `--path` names none.
    var defaultPath: String {
        switch self {
        case .socketio, .socketioPolling: return "/socket.io/"
        case .signalr, .signalrMsgpack: return "/hubs/switchboard"
        default: return "/ws"
        }
    }

    /// Whether subscribers compete for the messages (one queue, each message delivered once) rather than
    /// each receiving every message: AMQP always, STOMP on a `/queue/` destination.
    func subscribersShareMessages(_ target: BenchTarget) -> Bool {
        self == .amqp || (self == .stomp && target.stompDestination == .queue)
    }

    /// Whether the payload travels as raw bytes, so the compact 16-byte form of the timestamp fits.
    var carriesRawPayload: Bool { self == .nats || self == .amqp || self == .stomp }

    /// Makes the handler that speaks this protocol on a freshly connected channel.
    func makeHandler(target: BenchTarget, role: any BenchRole) -> any ChannelHandler {
        switch self {
        case .ws: return WebSocketClientHandler(target: target, role: role)
        case .nats: return NATSClientHandler(target: target, role: role)
        case .mqtt: return MQTTClientHandler(target: target, role: role)
        case .amqp: return AMQPClientHandler(target: target, role: role)
        case .stomp: return STOMPClientHandler(target: target, role: role)
        case .sse:
            if role is PublisherRole { return WebSocketClientHandler(target: target, role: role) }
            return SSEClientHandler(target: target, role: role)
        case .socketio: return SocketIOClientHandler(target: target, role: role)
        case .socketioPolling:
            if role is PublisherRole { return SocketIOClientHandler(target: target, role: role) }
            return SocketIOPollingClientHandler(target: target, role: role)
        case .signalr: return SignalRClientHandler(target: target, role: role, encoding: .json)
        case .signalrMsgpack: return SignalRClientHandler(target: target, role: role, encoding: .messagePack)
        }
    }
}

/// Where the server under test is: loopback host, port and (for WebSocket) path.
struct BenchTarget: Sendable {
    /// The server's host; always a loopback address.
    var host: String
    /// The server's port.
    var port: Int
    /// The HTTP path of the WebSocket (or Engine.IO) endpoint.
    var path: String
    /// The channel (topic / subject) the scenario publishes to.
    var channel: String
    /// Quality of service for protocols that have one (MQTT 0 or 1).
    var qos: Int = 0
    /// MQTT: connect with Clean Session 0 (a persistent session the broker keeps — and, for Switchboard,
    /// stores: QoS 1 messages are then written before they are acknowledged). AMQP: a durable queue and
    /// persistent messages (delivery-mode 2).
    var persistent = false
    /// AMQP: the prefetch count (`basic.qos`) of each consumer's channel; STOMP: the SUBSCRIBE
    /// `prefetch-count` header (RabbitMQ's and Switchboard's extension). 0 = unlimited (not sent).
    var prefetch = 0
    /// AMQP: consumers take messages with no-ack (auto-ack) instead of acknowledging them.
    var autoAck = false
    /// AMQP: publishers use publisher confirms (`confirm.select`); a batch's reply is the confirm of its last
    /// message. Without them a batch ends with a `basic.qos` round trip.
    var confirms = false
    /// STOMP: whether the channel names a `/topic/` or a `/queue/` destination.
    var stompDestination = STOMPDestinationKind.topic
    /// STOMP: the subscription's ack mode.
    var stompAck = STOMPAckMode.auto
}

/// What a scenario can ask of one connection. Implemented by each protocol's channel handler;
/// every method must be called on the connection's event loop.
protocol BenchLink: AnyObject {
    /// Subscribes to `channel`; the server's confirmation arrives as ``BenchRole/replyReceived(_:)``.
    func sendSubscribe(channel: String)
    /// Writes `count` publishes of `payloadSize`-byte timestamped payloads (stamped `now`, in
    /// monotonic nanoseconds) without flushing. When `acknowledged` is true the last one asks the
    /// server for a reply (WebSocket `id` → `published`; NATS `PING` → `PONG`).
    func writePublishes(count: Int, payloadSize: Int, now: UInt64, acknowledged: Bool)
    /// Flushes everything written so far.
    func flush()
    /// Starts a graceful close (WebSocket close handshake, NATS socket close).
    func close()
}

/// What a connection tells the scenario. Called on the connection's event loop, synchronously
/// from the handler's `channelRead`, so implementations must be cheap.
protocol BenchRole: AnyObject {
    /// The protocol handshake finished; the link can be used.
    func linkReady(_ link: any BenchLink)
    /// The server answered a request the link asked a reply for (WebSocket: a reply carrying an
    /// `id`; NATS: a `PONG`). Unsolicited replies (a server that acknowledges id-less publishes) are
    /// not reported, so they cannot open a publisher's window.
    func replyReceived(_ link: any BenchLink)
    /// The server reported an error; `answersRequest` when it answers a request that asked for a
    /// reply (so it takes that reply's place).
    func errorReceived(_ link: any BenchLink, message: String, answersRequest: Bool)
    /// A published message arrived; `sentAt` is the timestamp the publisher embedded in it.
    func deliveryReceived(sentAt: UInt64, receivedAt: UInt64)
    /// The connection is gone (closed by either side or failed).
    func linkClosed()
}

/// A link that can make a native WebSocket `rpc` request (docs/protocols/websocket.md §3).
protocol BenchRPCLink: BenchLink {
    /// Writes and flushes `{"id":N,"type":"rpc","channel":C,"data":D,"timeout":T}` (`data` is JSON text)
    /// and returns N, the id its `reply` (or `error`) will carry.
    func sendRPC(channel: String, data: String, timeoutMilliseconds: Int) -> Int
}

/// A role that reads every text frame that carries no benchmark payload itself — replies, errors and
/// pushes whose content it needs (collab-vote's tallies) — instead of the link classifying them.
protocol BenchTextRole: BenchRole {
    /// A whole text message arrived at `receivedAt` (monotonic ns, taken once per read).
    func textReceived(_ link: any BenchLink, message: ByteBuffer, receivedAt: UInt64)
}
