/// Every bound of the NATS client protocol, named as the reference server names them (nats-server
/// `const.go`), with the same defaults unless a reason is given.
public struct NATSLimits: Sendable, Hashable {
    /// Longest control line (`PUB …\r\n`, `SUB …\r\n`, `CONNECT {…}\r\n`), in bytes. `max_control_line`.
    public var maxControlLine: Int = 4096
    /// Largest message payload (headers included for `HPUB`), in bytes. Advertised in INFO. `max_payload`.
    public var maxPayload: Int = 1 << 20
    /// Outbound bytes queued for one connection before it is a slow consumer and is closed. `max_pending`.
    public var maxPending: Int = 64 << 20
    /// Subscriptions per connection; 0 is unlimited, as in the reference server. `max_subscriptions`.
    public var maxSubscriptions: Int = 0
    /// Seconds between server PINGs on a connection that sent nothing in between. `ping_interval` (2 min).
    public var pingIntervalSeconds: Int = 120
    /// Unanswered server PINGs before the connection is stale and closed. `ping_max`.
    public var maxPingsOut: Int = 2
    /// Seconds a client has to send CONNECT when authentication is required. `auth_timeout`.
    public var authTimeoutSeconds: Int = 2

    public init() {}
}
