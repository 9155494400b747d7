package import NIOCore

/// One operation a client sent, as the parser found it. Byte fields are slices of the read buffer.
package enum NATSClientOperation: Sendable, Equatable {
    /// `CONNECT {json}` (boxed: the options are large and rare, every operation's copy would carry them).
    indirect case connect(NATSConnectOptions)
    /// `PUB` or `HPUB`.
    case publish(NATSPublish)
    /// `SUB <subject> [queue] <sid>`.
    case subscribe(subject: String, queue: String?, sid: String)
    /// `UNSUB <sid> [max_msgs]`.
    case unsubscribe(sid: String, maxMessages: Int?)
    case ping
    case pong
    /// `INFO`, `+OK` or `-ERR` from a client: valid, and without effect on a client connection.
    case ignored
}

/// What `NATSParser.nextInPlace` found: a `PUB`/`HPUB` as where it lies in the buffer, anything else as is.
package enum NATSParsedOperation {
    case publish(NATSPublishLayout)
    case other(NATSClientOperation)
}

/// Where a `PUB` or `HPUB`'s parts lie in the buffer it was parsed from, as offsets from its reader index
/// (`NATSParser.nextInPlace` leaves the operation there): read without a slice per operation. 32 bits each
/// (an operation is bounded by max_payload + max_control_line). No reply / no headers: an empty range.
package struct NATSPublishLayout: Sendable {
    // Usable from inline code: the handler's publish path reads them per operation.
    @usableFromInline let subjectStart: UInt32
    @usableFromInline let subjectEnd: UInt32
    @usableFromInline let replyStart: UInt32
    @usableFromInline let replyEnd: UInt32
    /// The header block (`HPUB` only) runs from `headersStart` to `payloadStart`.
    @usableFromInline let headersStart: UInt32
    @usableFromInline let payloadStart: UInt32
    @usableFromInline let payloadEnd: UInt32
    /// The whole operation, up to and including the CRLF after the payload.
    package let length: Int

    init(subject: Range<Int>, replyTo: Range<Int>?, headers: Range<Int>?, payload: Range<Int>, length: Int) {
        self.subjectStart = UInt32(subject.lowerBound)
        self.subjectEnd = UInt32(subject.upperBound)
        self.replyStart = UInt32(replyTo?.lowerBound ?? 0)
        self.replyEnd = UInt32(replyTo?.upperBound ?? 0)
        self.headersStart = UInt32(headers?.lowerBound ?? payload.lowerBound)
        self.payloadStart = UInt32(payload.lowerBound)
        self.payloadEnd = UInt32(payload.upperBound)
        self.length = length
    }

    @inlinable package var hasHeaders: Bool { payloadStart > headersStart }
    @inlinable package var hasReply: Bool { replyEnd > replyStart }
    @inlinable package var payloadSize: Int { Int(payloadEnd &- payloadStart) }

    /// The operation as a value of its own (one slice of `buffer`), for everything but the common case.
    package func publish(in buffer: ByteBuffer) -> NATSPublish {
        NATSPublish(
            frame: buffer.getSlice(at: buffer.readerIndex, length: length)!,
            subject: Int(subjectStart)..<Int(subjectEnd),
            replyTo: hasReply ? Int(replyStart)..<Int(replyEnd) : nil,
            headers: hasHeaders ? Int(headersStart)..<Int(payloadStart) : nil,
            payload: Int(payloadStart)..<Int(payloadEnd))
    }

    /// Where the payload starts in `buffer` (read there without a slice).
    @inlinable
    package func payloadIndex(in buffer: ByteBuffer) -> Int { buffer.readerIndex + Int(payloadStart) }

    /// The payload, as a slice of `buffer`.
    @inlinable
    package func payload(in buffer: ByteBuffer) -> ByteBuffer {
        buffer.getSlice(at: buffer.readerIndex + Int(payloadStart), length: payloadSize)!
    }

    /// Whether the subject is exactly `bytes`, without slicing it. (A byte loop: subjects are short, and
    /// inlined into the handler it costs no call.)
    @inlinable
    package func subjectEquals(_ bytes: ByteBuffer, in buffer: ByteBuffer) -> Bool {
        let count = Int(subjectEnd &- subjectStart)
        guard bytes.readableBytes == count else { return false }
        let start = Int(subjectStart)
        return buffer.withUnsafeReadableBytes { frame in
            bytes.withUnsafeReadableBytes { other in
                var index = 0
                while index < count {
                    if frame[start &+ index] != other[index] { return false }
                    index &+= 1
                }
                return true
            }
        }
    }
}

/// A `PUB` or `HPUB`: one slice of the read buffer holding the whole operation, and where its parts
/// are. Copying it retains one buffer, not four; the parts are sliced only when asked for.
package struct NATSPublish: Sendable, Equatable {
    /// The bytes the parts are located in (for a parsed operation: the operation as read).
    package let frame: ByteBuffer
    // Offsets into `frame`, 32 bits each (an operation is bounded by max_payload + max_control_line), so
    // the operation is small to copy. No reply / no headers: an empty range at 0.
    private let subjectStart: UInt32
    private let subjectEnd: UInt32
    private let replyStart: UInt32
    private let replyEnd: UInt32
    /// The header block (`HPUB` only) runs from `headersStart` to `payloadStart`.
    private let headersStart: UInt32
    private let payloadStart: UInt32
    private let payloadEnd: UInt32

    init(frame: ByteBuffer, subject: Range<Int>, replyTo: Range<Int>?, headers: Range<Int>?, payload: Range<Int>) {
        self.frame = frame
        self.subjectStart = UInt32(subject.lowerBound)
        self.subjectEnd = UInt32(subject.upperBound)
        self.replyStart = UInt32(replyTo?.lowerBound ?? 0)
        self.replyEnd = UInt32(replyTo?.upperBound ?? 0)
        self.headersStart = UInt32(headers?.lowerBound ?? payload.lowerBound)
        self.payloadStart = UInt32(payload.lowerBound)
        self.payloadEnd = UInt32(payload.upperBound)
    }

    private var subjectRange: Range<Int> { Int(subjectStart)..<Int(subjectEnd) }
    private var replyRange: Range<Int>? { replyEnd > replyStart ? Int(replyStart)..<Int(replyEnd) : nil }
    private var headersRange: Range<Int>? { payloadStart > headersStart ? Int(headersStart)..<Int(payloadStart) : nil }
    private var payloadRange: Range<Int> { Int(payloadStart)..<Int(payloadEnd) }

    /// Builds one from its parts (tests, tools).
    package init(subject: ByteBuffer, replyTo: ByteBuffer? = nil, headers: ByteBuffer? = nil, payload: ByteBuffer) {
        var frame = ByteBuffer()
        func append(_ part: ByteBuffer) -> Range<Int> {
            let start = frame.writerIndex
            frame.writeImmutableBuffer(part)
            return start..<frame.writerIndex
        }
        let subjectRange = append(subject)
        let replyRange = replyTo.map(append)
        let headersRange = headers.map(append)
        let payloadRange = append(payload)
        self.init(
            frame: frame, subject: subjectRange, replyTo: replyRange, headers: headersRange, payload: payloadRange)
    }

    package var subject: ByteBuffer { slice(subjectRange) }
    package var replyTo: ByteBuffer? { replyRange.map(slice) }
    /// The header block (`NATS/1.0\r\n…\r\n\r\n`) of an `HPUB`.
    package var headers: ByteBuffer? { headersRange.map(slice) }
    package var payload: ByteBuffer { slice(payloadRange) }
    package var hasHeaders: Bool { payloadStart > headersStart }
    package var hasReply: Bool { replyEnd > replyStart }
    package var payloadSize: Int { Int(payloadEnd - payloadStart) }

    /// Whether the subject is exactly `bytes`, without slicing it.
    @inline(__always)
    package func subjectEquals(_ bytes: ByteBuffer) -> Bool {
        guard bytes.readableBytes == Int(subjectEnd - subjectStart) else { return false }
        return frame.withUnsafeReadableBytes { frame in
            bytes.withUnsafeReadableBytes { other in
                other.count == 0
                    || memcmp(frame.baseAddress! + Int(subjectStart), other.baseAddress!, other.count) == 0
            }
        }
    }

    @inline(__always)
    private func slice(_ range: Range<Int>) -> ByteBuffer {
        frame.getSlice(at: frame.readerIndex + range.lowerBound, length: range.count)!
    }

    package static func == (lhs: NATSPublish, rhs: NATSPublish) -> Bool {
        lhs.subject == rhs.subject && lhs.replyTo == rhs.replyTo && lhs.headers == rhs.headers
            && lhs.payload == rhs.payload
    }
}

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif
