/// The bounds of an Engine.IO session, every one checked before anything is allocated for it.
package struct EngineIOLimits: Sendable, Equatable {
    /// Largest polling payload (POST body) and largest WebSocket message, in bytes: the handshake's
    /// `maxPayload`. 1,000,000 as the reference server's default.
    package var maxPayload = 1_000_000
    /// Most packets in one polling payload: a hostile body of separators cannot make a million packets.
    package var maxPacketsPerPayload = 4_096

    package init() {}

    /// No bounds: for payloads the server made itself.
    package static var unbounded: EngineIOLimits {
        var limits = EngineIOLimits()
        limits.maxPayload = .max
        limits.maxPacketsPerPayload = .max
        return limits
    }
}
