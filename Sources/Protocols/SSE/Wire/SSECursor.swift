package import BusCore

/// A stream's or poll's place in its channels' logs: one entry per concrete channel of the request, in
/// request order, nil where the channel keeps no history. Written as the SSE `id:` and the poll cursor.
///
/// Text form (compact, URL- and header-safe): entries joined by `.`; an entry is empty (no history) or
/// `<epoch>-<offset>`, the epoch as the bus makes it (base-36) and the offset in base 36. One channel at
/// offset 1234 of epoch `k3v9q2` is `k3v9q2-ya`; two channels, the second without history: `k3v9q2-ya.`.
package struct SSECursor: Equatable, Sendable {
    package var entries: [LogPosition?]

    package init(_ entries: [LogPosition?]) { self.entries = entries }

    /// Longest epoch accepted (the bus makes ≤ 10 characters).
    static let maxEpochLength = 16

    package var text: String {
        var out = ""
        for (index, entry) in entries.enumerated() {
            if index > 0 { out.append(".") }
            if let entry { out.append(SSECursor.entryText(entry)) }
        }
        return out
    }

    /// One entry's text: what a single-channel stream writes as its `id:`.
    package static func entryText(_ position: LogPosition) -> String {
        position.epoch + "-" + String(position.offset, radix: 36)
    }

    /// Parses a cursor for a request with `channels` concrete channels. Throws on anything malformed —
    /// wrong entry count, characters outside base 36, an offset that overflows — so a bad
    /// `Last-Event-ID` or cursor is a 400, never a silent restart.
    package static func parse(_ text: String, channels: Int, limits: SSELimits = SSELimits()) throws(SSERequestError)
        -> SSECursor
    {
        guard text.utf8.count <= limits.maxCursorBytes else {
            throw SSERequestError("cursor is longer than \(limits.maxCursorBytes) bytes")
        }
        if channels == 0 && text.isEmpty { return SSECursor([]) }
        let parts = text.utf8.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
        guard parts.count == channels else {
            throw SSERequestError(
                "cursor \"\(text)\" has \(parts.count) entries for \(channels) concrete channels")
        }
        var entries: [LogPosition?] = []
        entries.reserveCapacity(parts.count)
        for part in parts {
            if part.isEmpty {
                entries.append(nil)
                continue
            }
            guard let dash = part.lastIndex(of: UInt8(ascii: "-")) else {
                throw SSERequestError("cursor entry \"\(String(decoding: part, as: UTF8.self))\" is not EPOCH-OFFSET")
            }
            let epoch = part[part.startIndex..<dash]
            let offset = part[part.index(after: dash)...]
            guard !epoch.isEmpty, epoch.count <= maxEpochLength, epoch.allSatisfy(isBase36),
                !offset.isEmpty, offset.count <= 13, offset.allSatisfy(isBase36),
                let value = UInt64(String(decoding: offset, as: UTF8.self), radix: 36)
            else {
                throw SSERequestError("cursor entry \"\(String(decoding: part, as: UTF8.self))\" is not EPOCH-OFFSET")
            }
            entries.append(LogPosition(offset: value, epoch: String(decoding: epoch, as: UTF8.self)))
        }
        return SSECursor(entries)
    }

    private static func isBase36(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte)
    }
}
