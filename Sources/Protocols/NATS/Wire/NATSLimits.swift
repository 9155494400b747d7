/// Every bound of the NATS client protocol, named as the reference server names them (nats-server
/// `const.go`), with the same defaults unless a reason is given.
package struct NATSLimits: Sendable, Hashable {
    /// Longest control line (`PUB …\r\n`, `SUB …\r\n`, `CONNECT {…}\r\n`), in bytes. `max_control_line`.
    package var maxControlLine: Int = 4096
    /// Largest message payload (headers included for `HPUB`), in bytes. Advertised in INFO. `max_payload`.
    package var maxPayload: Int = 1 << 20
    /// Outbound bytes queued for one connection: past 3/4 of it the connection is behind and its publishers
    /// pause, given the last quarter (at least 4 MiB) more while behind it is a slow consumer and is closed
    /// (NATS frontend, `CongestedSubscriber`). `max_pending`.
    package var maxPending: Int = 64 << 20
    /// Subscriptions per connection; 0 is unlimited, as in the reference server. `max_subscriptions`.
    package var maxSubscriptions: Int = 0
    /// Seconds between server PINGs on a connection that sent nothing in between. `ping_interval` (2 min).
    package var pingIntervalSeconds: Int = 120
    /// Unanswered server PINGs before the connection is stale and closed. `ping_max`.
    package var maxPingsOut: Int = 2
    /// Seconds a client has to send CONNECT when authentication is required. `auth_timeout`.
    package var authTimeoutSeconds: Int = 2

    package init() {}
}
