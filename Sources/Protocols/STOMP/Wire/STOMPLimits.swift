/// The bounds every frame is checked against before anything is allocated for it (RabbitMQ's STOMP
/// plugin defaults: `stomp.max_headers`, `stomp.max_header_length`, `stomp.max_body_length`).
package struct STOMPLimits: Sendable, Equatable {
    /// Most headers in one frame.
    package var maxHeaders = 1_000
    /// Longest command line plus header lines of one frame, in bytes.
    package var maxHeaderBytes = 100 << 10
    /// Largest body, in bytes (with or without `content-length`).
    package var maxBodyBytes = 100 << 20
    /// Shortest heart-beat interval the server agrees to, in milliseconds, either way: its keep-alive
    /// sweep runs every 250 ms, so it cannot promise to send more often than about that.
    package var minHeartBeatMilliseconds = 500

    package init() {}
}
