/// Bounds on what one SSE or long-poll request may ask for; each is checked before anything is built.
package struct SSELimits: Sendable {
    /// Channels in one request. Each concrete channel adds an entry to the stream's position, which
    /// browsers resend in `Last-Event-ID`; 64 keeps that header well under common 8 KiB header limits.
    package var maxChannels = 64
    /// Longest `Last-Event-ID`, `lastEventId` or cursor accepted (64 entries of ≤ 30 bytes fit).
    package var maxCursorBytes = 2_048
    /// `event=` and `match=` parameters per request: filters are checked per delivery, so keep them few.
    package var maxFilters = 16

    package init() {}
}
