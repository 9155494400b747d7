package import NIOCore

/// Splits the bytes of a text connection into messages: each JSON message, and the handshake of every
/// connection, ends with the record separator `0x1E` (hub protocol §JSON Encoding, §Overview). `next`
/// returns a message's bytes without their separator (a slice, not a copy) and nil while the separator
/// has not arrived, leaving the reader index where it was; it throws when more than `maxMessageSize`
/// bytes are waiting without one, so an endless message is refused as it grows, not buffered.
///
/// The decoder remembers how far it has looked, so a message fed a byte at a time is scanned once: give
/// it the same buffer each time (with the new bytes appended), as NIO's `ByteToMessageHandler` does.
package struct SignalRTextFrameDecoder: NIOSingleStepByteToMessageDecoder {
    package typealias InboundOut = ByteBuffer

    /// The record separator.
    package static let recordSeparator: UInt8 = 0x1E

    /// Longest message accepted, separator not counted.
    package var maxMessageSize: Int
    /// How many bytes after the reader index are known to hold no separator.
    private var scanned = 0

    package init(maxMessageSize: Int = SignalRLimits().maxMessageSize) {
        self.maxMessageSize = maxMessageSize
    }

    package mutating func decode(buffer: inout ByteBuffer) throws -> ByteBuffer? {
        try next(&buffer)
    }

    package mutating func decodeLast(buffer: inout ByteBuffer, seenEOF: Bool) throws -> ByteBuffer? {
        try next(&buffer)
    }

    /// The next message, or nil until its separator is in `buffer`.
    package mutating func next(_ buffer: inout ByteBuffer) throws(SignalRWireError) -> ByteBuffer? {
        let view = buffer.readableBytesView
        let from = view.startIndex + min(scanned, view.count)
        guard let separator = view[from...].firstIndex(of: Self.recordSeparator) else {
            scanned = view.count
            guard view.count <= maxMessageSize else { throw .messageTooLarge(limit: maxMessageSize) }
            return nil
        }
        scanned = 0
        let length = separator - view.startIndex
        guard length <= maxMessageSize else { throw .messageTooLarge(limit: maxMessageSize) }
        let message = buffer.readSlice(length: length)!
        buffer.moveReaderIndex(forwardBy: 1)
        return message
    }
}
