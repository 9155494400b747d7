package import NIOCore

/// Decodes STOMP frames in place (1.2 §"Augmented BNF"):
///
///     frame = command EOL *(header EOL) EOL *OCTET NULL *(EOL)
///
/// The EOLs between frames are heart-beats and are skipped. A frame is decoded only once it is whole:
/// a first pass over the header lines allocates nothing and finds where the body ends (`content-length`,
/// else the first NUL), checking every `STOMPLimits` bound on the way; only a complete frame gets its
/// header strings. The body is a slice of the buffer, never a copy.
package enum STOMPFrameDecoder {
    /// The next frame of `buffer`, skipping the heart-beat EOLs before it; nil, with nothing consumed,
    /// when more bytes are needed. Throws for a malformed frame or one over a limit. `escaping` is the
    /// connection's (`.none` before CONNECT). A connection calls `skipHeartBeats` first, so that beats
    /// alone do not wait in its buffer.
    package static func decode(
        _ buffer: inout ByteBuffer, escaping: STOMPEscaping, limits: STOMPLimits
    ) throws(STOMPError) -> STOMPFrame? {
        var progress = Progress()
        return try decode(&buffer, escaping: escaping, limits: limits, progress: &progress)
    }

    /// `decode`, resuming the first pass where the last call on this buffer left it: `progress` is what
    /// that call learned of the partial frame at the front (its command, header lines, and how far a line
    /// end or the body's NUL was looked for), so bytes arriving a few at a time are each looked at once, not
    /// once per read. The caller keeps one `Progress` per buffer, and passes a new one for a new buffer;
    /// it is reset whenever a frame is decoded or an error thrown.
    package static func decode(
        _ buffer: inout ByteBuffer, escaping: STOMPEscaping, limits: STOMPLimits, progress: inout Progress
    ) throws(STOMPError) -> STOMPFrame? {
        let layout: Layout
        do {
            layout = try buffer.withUnsafeReadableBytes { bytes in try scan(bytes, limits: limits, &progress) }
        } catch let error as STOMPError {
            progress = Progress()
            throw error
        } catch {
            progress = Progress()
            throw .malformed("\(error)")
        }
        guard let frame = layout.frame else { return nil }
        progress = Progress()
        buffer.moveReaderIndex(forwardBy: layout.heartBeats)
        // Offsets in `frame` are from the first byte of the command line.
        let headers: STOMPHeaders
        do {
            headers = try buffer.withUnsafeReadableBytes { bytes in
                try makeHeaders(bytes, frame, escaping: frame.command.escapesHeaders ? escaping : .none)
            }
        } catch let error as STOMPError {
            throw error
        } catch {
            throw .malformed("\(error)")
        }
        let body = buffer.getSlice(at: buffer.readerIndex + frame.bodyStart, length: frame.bodyLength) ?? ByteBuffer()
        buffer.moveReaderIndex(forwardBy: frame.bodyStart + frame.bodyLength + 1)
        return STOMPFrame(frame.command, headers: headers, body: body)
    }

    /// Consumes the EOLs (heart-beats) at the front of `buffer`; how many bytes they were.
    @discardableResult
    package static func skipHeartBeats(_ buffer: inout ByteBuffer) -> Int {
        let view = buffer.readableBytesView
        var index = view.startIndex
        while index < view.endIndex {
            if view[index] == newline {
                index += 1
            } else if view[index] == carriageReturn, index + 1 < view.endIndex, view[index + 1] == newline {
                index += 2
            } else {
                break
            }
        }
        let count = index - view.startIndex
        buffer.moveReaderIndex(forwardBy: count)
        return count
    }

    // MARK: - First pass: where things are

    /// How far the first pass got through a partial frame (offsets from its command line's first byte).
    package struct Progress: Sendable {
        /// EOL bytes before the frame (the frame's offsets count from after them).
        var heartBeats = 0
        /// How many bytes the last pass saw; fewer now means another buffer, and the pass starts over.
        var seen = 0
        var command: STOMPCommand?
        /// Where the next header line starts (past the command line once `command` is read).
        var position = 0
        var lines: [(start: Int, end: Int)] = []
        var declaredLength: Int?
        /// Where the body starts, once the blank line ending the headers is read.
        var bodyStart: Int?
        /// Bytes before this hold no line end after `position` (headers) or no NUL (a body without
        /// `content-length`): the search goes on from here.
        var searched = 0

        package init() {}
    }

    struct Layout {
        /// EOL bytes before the frame.
        var heartBeats: Int
        var frame: FrameLayout?
    }

    struct FrameLayout {
        var command: STOMPCommand
        /// Header lines: start and end (before the EOL) of each, relative to the command line.
        var lines: [(start: Int, end: Int)]
        var bodyStart: Int
        var bodyLength: Int
    }

    private static let newline = UInt8(ascii: "\n")
    private static let carriageReturn = UInt8(ascii: "\r")
    private static let colon = UInt8(ascii: ":")
    private static let contentLength = Array("content-length".utf8)

    private static func scan(_ all: UnsafeRawBufferPointer, limits: STOMPLimits, _ progress: inout Progress)
        throws(STOMPError) -> Layout
    {
        var index = 0
        while index < all.count {
            if all[index] == newline {
                index += 1
            } else if all[index] == carriageReturn {
                guard index + 1 < all.count else { break }
                guard all[index + 1] == newline else {
                    throw .malformed("a carriage return not followed by a line feed")
                }
                index += 2
            } else {
                break
            }
        }
        let heartBeats = index
        guard index < all.count, all[index] != carriageReturn else { return Layout(heartBeats: heartBeats, frame: nil) }
        let bytes = UnsafeRawBufferPointer(rebasing: all[index...])
        if progress.heartBeats != heartBeats || progress.seen > bytes.count { progress = Progress() }
        progress.heartBeats = heartBeats
        progress.seen = bytes.count
        guard let frame = try scanFrame(bytes, limits: limits, &progress) else {
            return Layout(heartBeats: heartBeats, frame: nil)
        }
        return Layout(heartBeats: heartBeats, frame: frame)
    }

    /// The raw value of the first `receipt:` line among `lines` (an ERROR for a malformed frame names it,
    /// 1.2 §"ERROR", whenever it can be read).
    private static func receipt(in bytes: UnsafeRawBufferPointer, lines: [(start: Int, end: Int)]) -> String? {
        let prefix = Array("receipt:".utf8)
        for (start, end) in lines where end - start >= prefix.count {
            if prefix.indices.allSatisfy({ bytes[start + $0] == prefix[$0] }) {
                return String(
                    decoding: UnsafeRawBufferPointer(rebasing: bytes[(start + prefix.count)..<end]), as: UTF8.self)
            }
        }
        return nil
    }

    private static func scanFrame(_ bytes: UnsafeRawBufferPointer, limits: STOMPLimits, _ progress: inout Progress)
        throws(STOMPError) -> FrameLayout?
    {
        do {
            return try scanFrameResuming(bytes, limits: limits, &progress)
        } catch {
            var error = error
            error.receiptID = receipt(in: bytes, lines: progress.lines)
            throw error
        }
    }

    private static func scanFrameResuming(
        _ bytes: UnsafeRawBufferPointer, limits: STOMPLimits, _ progress: inout Progress
    ) throws(STOMPError) -> FrameLayout? {
        /// The end of the line starting at `progress.position` (before CR LF or LF), and where the next
        /// starts; nil (having searched to the end) when it has not all arrived.
        func nextLine() throws(STOMPError) -> (end: Int, next: Int)? {
            let position = progress.position
            var cursor = max(position, progress.searched)
            while cursor < bytes.count, bytes[cursor] != newline { cursor += 1 }
            guard cursor < bytes.count else {
                progress.searched = bytes.count
                if bytes.count > limits.maxHeaderBytes {
                    throw .tooLarge("the headers are longer than \(limits.maxHeaderBytes) bytes")
                }
                return nil
            }
            if cursor + 1 > limits.maxHeaderBytes {
                throw .tooLarge("the headers are longer than \(limits.maxHeaderBytes) bytes")
            }
            let end = cursor > position && bytes[cursor - 1] == carriageReturn ? cursor - 1 : cursor
            return (end, cursor + 1)
        }
        if progress.command == nil {
            guard let commandLine = try nextLine() else { return nil }
            let commandBytes = UnsafeRawBufferPointer(rebasing: bytes[0..<commandLine.end])
            guard let command = STOMPCommand(rawValue: String(decoding: commandBytes, as: UTF8.self)) else {
                let shown = String(decoding: commandBytes.prefix(32), as: UTF8.self)
                throw .malformed("unknown command '\(shown)'")
            }
            progress.command = command
            progress.position = commandLine.next
        }
        while progress.bodyStart == nil {
            guard let line = try nextLine() else { return nil }
            let position = progress.position
            progress.position = line.next
            if line.end == position {
                progress.bodyStart = line.next
                break
            }
            guard progress.lines.count < limits.maxHeaders else {
                throw .tooLarge("more than \(limits.maxHeaders) headers")
            }
            progress.lines.append((position, line.end))
            if progress.declaredLength == nil, line.end - position > contentLength.count,
                bytes[position + contentLength.count] == colon,
                contentLength.indices.allSatisfy({ bytes[position + $0] == contentLength[$0] })
            {
                progress.declaredLength = try parseLength(
                    UnsafeRawBufferPointer(rebasing: bytes[(position + contentLength.count + 1)..<line.end]),
                    limits: limits)
            }
        }
        guard let command = progress.command, let bodyStart = progress.bodyStart else { return nil }
        let lines = progress.lines
        if let declaredLength = progress.declaredLength {
            guard bytes.count > bodyStart + declaredLength else { return nil }
            guard bytes[bodyStart + declaredLength] == 0 else {
                throw .malformed("the body is not followed by NUL after content-length bytes")
            }
            return FrameLayout(command: command, lines: lines, bodyStart: bodyStart, bodyLength: declaredLength)
        }
        var cursor = max(bodyStart, progress.searched)
        while cursor < bytes.count, bytes[cursor] != 0 { cursor += 1 }
        guard cursor < bytes.count else {
            progress.searched = bytes.count
            if bytes.count - bodyStart > limits.maxBodyBytes {
                throw .tooLarge("the body is longer than \(limits.maxBodyBytes) bytes")
            }
            return nil
        }
        if cursor - bodyStart > limits.maxBodyBytes {
            throw .tooLarge("the body is longer than \(limits.maxBodyBytes) bytes")
        }
        return FrameLayout(command: command, lines: lines, bodyStart: bodyStart, bodyLength: cursor - bodyStart)
    }

    private static func parseLength(_ digits: UnsafeRawBufferPointer, limits: STOMPLimits) throws(STOMPError) -> Int {
        guard !digits.isEmpty, digits.count <= 19 else { throw .malformed("invalid content-length") }
        var value = 0
        for digit in digits {
            guard digit >= UInt8(ascii: "0"), digit <= UInt8(ascii: "9") else {
                throw .malformed("invalid content-length")
            }
            value = value * 10 + Int(digit - UInt8(ascii: "0"))
        }
        guard value <= limits.maxBodyBytes else {
            throw .tooLarge("content-length \(value) is over the limit of \(limits.maxBodyBytes) bytes")
        }
        return value
    }

    // MARK: - Second pass: the header strings of a whole frame

    private static func makeHeaders(
        _ all: UnsafeRawBufferPointer, _ frame: FrameLayout, escaping: STOMPEscaping
    ) throws(STOMPError) -> STOMPHeaders {
        var headers = STOMPHeaders()
        for (start, end) in frame.lines {
            let line = UnsafeRawBufferPointer(rebasing: all[start..<end])
            guard let colonIndex = line.firstIndex(of: colon) else {
                var error = STOMPError.malformed("a header line without ':'")
                error.receiptID = receipt(in: all, lines: frame.lines)
                throw error
            }
            guard let name = escaping.decode(UnsafeRawBufferPointer(rebasing: line[..<colonIndex])),
                let value = escaping.decode(UnsafeRawBufferPointer(rebasing: line[(colonIndex + 1)...]))
            else {
                var error = STOMPError.malformed("an undefined escape sequence in a header")
                error.receiptID = receipt(in: all, lines: frame.lines)
                throw error
            }
            headers.append(name, value)
        }
        return headers
    }
}
