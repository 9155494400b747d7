import Foundation

/// Settings of the SSE, realtime and long-polling endpoints (config key `sse`, docs/operations.md).
package struct SSESettings: Sendable, Decodable {
    /// Seconds between keep-alive comments on a stream (15: inside the 30–60 s proxies allow).
    package var keepAliveSeconds = 15
    /// `retry:` sent on open: the browser's reconnection delay in milliseconds.
    package var retryMilliseconds = 2_000
    /// Hold of a poll that names no `timeout`.
    package var pollDefaultTimeoutSeconds = 30
    /// Longest hold a poll may ask for (each held poll holds a connection and a subscription).
    package var pollMaxTimeoutSeconds = 60
    /// A realtime client with no event and no subscription change for this long is dropped.
    package var realtimeInactivitySeconds = 300
    /// Browser origins allowed on `/sse`, `/poll` and `/api/realtime` (CORS); nil: `allowed_origins`.
    package var allowedOrigins: [String]?

    package init() {}

    enum CodingKeys: String, CodingKey {
        case keepAliveSeconds = "keep_alive_seconds"
        case retryMilliseconds = "retry_ms"
        case pollDefaultTimeoutSeconds = "poll_default_timeout_seconds"
        case pollMaxTimeoutSeconds = "poll_max_timeout_seconds"
        case realtimeInactivitySeconds = "realtime_inactivity_seconds"
        case allowedOrigins = "allowed_origins"
    }

    package init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let defaults = SSESettings()
        keepAliveSeconds =
            try container.decodeIfPresent(Int.self, forKey: .keepAliveSeconds) ?? defaults.keepAliveSeconds
        retryMilliseconds =
            try container.decodeIfPresent(Int.self, forKey: .retryMilliseconds) ?? defaults.retryMilliseconds
        pollDefaultTimeoutSeconds =
            try container.decodeIfPresent(Int.self, forKey: .pollDefaultTimeoutSeconds)
            ?? defaults.pollDefaultTimeoutSeconds
        pollMaxTimeoutSeconds =
            try container.decodeIfPresent(Int.self, forKey: .pollMaxTimeoutSeconds) ?? defaults.pollMaxTimeoutSeconds
        realtimeInactivitySeconds =
            try container.decodeIfPresent(Int.self, forKey: .realtimeInactivitySeconds)
            ?? defaults.realtimeInactivitySeconds
        allowedOrigins = try container.decodeIfPresent([String].self, forKey: .allowedOrigins)
    }

    func validate() throws {
        guard keepAliveSeconds > 0, pollMaxTimeoutSeconds > 0, realtimeInactivitySeconds > 0 else {
            throw ConfigurationError(
                "sse.keep_alive_seconds, poll_max_timeout_seconds and realtime_inactivity_seconds must be positive")
        }
        guard retryMilliseconds >= 0, pollDefaultTimeoutSeconds >= 0 else {
            throw ConfigurationError("sse.retry_ms and sse.poll_default_timeout_seconds must not be negative")
        }
    }
}
