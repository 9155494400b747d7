package import NIOCore

#if canImport(Glibc)
    import Glibc
#endif

/// A subscriber's progress as its kernel sees it. The outbound buffer (`bufferedWritableBytes`) shrinks only
/// when the socket accepts more, and Linux wakes a writer only once a third of the send queue — autotuned to
/// megabytes — is free: a client reading at ~100 KB/s drains that third slower than the write deadline, and
/// looked like one that reads nothing (issue 26: signalrcore's polling reader at a tenth, cut after 10 s).
/// The bytes the peer acknowledged (`tcp_info.tcpi_bytes_acked`, RFC 4898's `tcpEStatsAppHCThruOctetsAcked`)
/// grow as soon as its kernel takes data, which, once its receive buffer is full, is as soon as the client
/// reads: the progress `observe` looks for, at each keep-alive tick.
extension CongestedSubscriber {
    /// Linux's `struct tcp_info` (linux/tcp.h) through `tcpi_bytes_acked`, at byte 120 (checked against the
    /// header with `offsetof`): the fixed-width fields before it, then it. The kernel fills what fits.
    struct TCPInfoThroughBytesAcked: Sendable {
        var fieldsBefore:
            (
                UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64,
                UInt64, UInt64, UInt64
            ) = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        var bytesAcked: UInt64 = 0
    }

    /// The bytes `channel`'s peer acknowledged so far, nil when the channel is no TCP socket (or not on its
    /// loop now). One `getsockopt`, completed at once on the channel's own loop.
    package static func bytesAcked(_ channel: (any Channel)?) -> UInt64? {
        #if os(Linux)
            guard let channel, channel.eventLoop.inEventLoop, let provider = channel as? any SocketOptionProvider
            else { return nil }
            let result = AckedReading()
            let reading: EventLoopFuture<TCPInfoThroughBytesAcked> = provider.unsafeGetSocketOption(
                level: .tcp, name: .tcp_info)
            // Completed already on the channel's loop, so the callback runs here and now.
            reading.whenSuccess { result.value = $0.bytesAcked }
            return result.value
        #else
            return nil
        #endif
    }
}

/// Where `bytesAcked`'s synchronously completed read lands (used on one loop only).
private final class AckedReading: @unchecked Sendable {
    var value: UInt64?
}
