/// What the server offers every connection (told to 5.0 clients in CONNACK), with reasoned defaults.
package struct MQTTServerSettings: Sendable, Hashable {
    /// QoS 1/2 publications a client may have unacknowledged towards us (CONNACK Receive Maximum).
    /// 64 keeps a publisher busy across a loopback round trip while bounding per-connection state.
    package var receiveMaximum: UInt16 = 64
    /// Topic aliases a client may use towards us (CONNACK Topic Alias Maximum).
    package var topicAliasMaximum: UInt16 = 32
    /// Longest keep-alive accepted; a longer (or zero) one is replaced by this via Server Keep Alive
    /// (5.0). Nil: accept what the client asks for, including 0 (no keep-alive).
    package var maxKeepAliveSeconds: UInt16? = nil
    /// Longest session expiry interval granted, in seconds (a longer one is lowered in CONNACK).
    package var maxSessionExpirySeconds: UInt32 = 7 * 24 * 3600
    /// Outbound QoS 1/2 messages kept per session while its window is full or it is offline.
    package var maxQueuedMessages: Int = 1_000
    /// Most sessions kept at once (live and offline); a new persistent session past it is refused
    /// with CONNACK 0x97 (3.1.1: 0x03), so abandoned client ids cannot grow memory without bound.
    package var maxSessions: Int = 100_000
    /// Most subscriptions per session.
    package var maxSubscriptions: Int = 1_000
    /// The SUBACK reason code for a filter the client may not subscribe with, in 5.0: 0x87 Not
    /// Authorized (the precise code), or 0x80 Unspecified Error for clients that accept only 0x80 as a
    /// failure (Paho's Python test client asserts it). 3.1.1 always says 0x80.
    package var subscribeRefusalReason: UInt8 = 0x87
    /// A 5.0 client that sets Request Response Information gets this plus its client identifier as
    /// CONNACK Response Information (§4.10.1), the base for its response topics. Under `$rpc/`, like the
    /// bus's own reply topics, so `#` and `+/…` subscribers never see the responses. Nil: never sent.
    package var responseInformationPrefix: String? = "$rpc/mqtt/"
    /// Another server for 5.0 clients to use when this one shuts down (§4.11, e.g. the next instance in
    /// a rolling restart): DISCONNECT 0x9C (Use another server) carries it as Server Reference. Nil: the
    /// shutdown DISCONNECT is 0x8B (Server shutting down) without one.
    package var serverReference: String? = nil

    package init() {}
}
