package import NIOCore

/// One channel's frames → commands (§4.2.6): a method, or a content-carrying method (basic.publish,
/// and return/deliver/get-ok for a client's side) followed by exactly one content header and body frames
/// until the header's body size is reached. Content frames of one channel are strictly sequential, but
/// may be interleaved with other channels' frames, so the frontend keeps one assembler per channel.
/// Errors follow RabbitMQ's rabbit_command_assembler: wording, codes (505, or 501 for a body past the
/// declared size) and failing method. Heartbeats are the connection's, not a channel's: the frontend
/// handles them before frames reach an assembler.
package struct AMQPContentAssembler: Sendable {
    /// A content-carrying method with its properties and whole body.
    package struct Content: Sendable, Hashable {
        package var method: AMQPMethod
        package var properties: AMQPBasicProperties
        /// One frame's slice when the body came in one frame; else the frames joined in one buffer.
        package var body: ByteBuffer

        package init(method: AMQPMethod, properties: AMQPBasicProperties, body: ByteBuffer) {
            self.method = method
            self.properties = properties
            self.body = body
        }
    }

    /// What a frame completed.
    package enum Output: Sendable, Hashable {
        /// A method without content.
        case method(AMQPMethod)
        /// A content-carrying method whose body is complete.
        case content(Content)
        /// A content-carrying method, its header or part of its body: more frames to come.
        case incomplete
    }

    private enum State: Sendable {
        /// Waiting for a method frame.
        case idle
        /// A content-carrying method arrived; its header is next.
        case awaitingHeader(AMQPMethod)
        /// The header arrived; `remaining` body bytes are to come. `body` holds what came so far: the
        /// first frame's slice, then (from the second frame on) one buffer sized for the whole body.
        case awaitingBody(AMQPMethod, AMQPBasicProperties, remaining: UInt64, body: ByteBuffer?, joined: Bool)
    }

    private var state: State = .idle
    package var limits: AMQPLimits

    package init(limits: AMQPLimits) {
        self.limits = limits
    }

    /// Whether no content is half-received (a channel may close cleanly only then).
    package var isIdle: Bool {
        if case .idle = state { return true }
        return false
    }

    /// Forgets any half-received content (the channel closed).
    package mutating func reset() {
        state = .idle
    }

    /// Takes the channel's next frame. On an error the assembler is idle again: the channel (or the
    /// connection) closes, and a reopened channel starts afresh.
    package mutating func frameReceived(_ frame: AMQPFrame) throws(AMQPError) -> Output {
        do throws(AMQPError) {
            return try step(frame)
        } catch {
            state = .idle
            throw error
        }
    }

    private mutating func step(_ frame: AMQPFrame) throws(AMQPError) -> Output {
        switch state {
        case .idle:
            guard frame.type == .method else {
                throw .unexpectedFrame("expected method frame, got non method frame instead")
            }
            let method = try AMQPMethod.decode(frame.payload, limits: limits)
            guard method.hasContent else { return .method(method) }
            state = .awaitingHeader(method)
            return .incomplete

        case .awaitingHeader(let method):
            let classID = method.classID
            // Built only for an error: a message's header frame is on the hot path.
            var expected: String { "expected content header for class \(classID)" }
            guard frame.type == .header else {
                throw .unexpectedFrame(
                    "\(expected), got non content header frame instead", classID: classID, methodID: method.methodID)
            }
            guard let headerClass = frame.payload.getInteger(at: frame.payload.readerIndex, as: UInt16.self),
                let weight = frame.payload.getInteger(at: frame.payload.readerIndex + 2, as: UInt16.self),
                frame.payload.readableBytes >= AMQPContentHeader.fixedSize
            else { throw .malformedFrame("content header frame shorter than its fixed fields") }
            guard weight == 0 else {
                throw .unexpectedFrame(
                    "\(expected), got non content header frame instead", classID: classID, methodID: method.methodID)
            }
            guard headerClass == classID else {
                throw .unexpectedFrame(
                    "\(expected), got one for class \(headerClass) instead", classID: classID,
                    methodID: method.methodID)
            }
            let bodySize = frame.payload.getInteger(at: frame.payload.readerIndex + 4, as: UInt64.self)!
            // Checked before any body is buffered (RabbitMQ checks max_message_size once the body is in:
            // the same reply, earlier).
            guard bodySize <= limits.maxMessageSize else {
                throw .messageTooLarge(size: bodySize, maxSize: limits.maxMessageSize)
            }
            let header: AMQPContentHeader
            do throws(AMQPError) {
                header = try AMQPContentHeader.decode(frame.payload, limits: limits)
            } catch {
                if case .malformed(let text, 0, 0) = error {
                    throw .malformed(text, classID: classID, methodID: method.methodID)
                }
                throw error
            }
            guard bodySize > 0 else {
                state = .idle
                return .content(Content(method: method, properties: header.properties, body: ByteBuffer()))
            }
            state = .awaitingBody(method, header.properties, remaining: bodySize, body: nil, joined: false)
            return .incomplete

        case .awaitingBody(let method, let properties, let remaining, var body, let joined):
            guard frame.type == .body else {
                throw .unexpectedFrame(
                    "expected content body, got non content body frame instead", classID: method.classID,
                    methodID: method.methodID)
            }
            let count = UInt64(frame.payload.readableBytes)
            guard count <= remaining else {
                throw .bodyExceedsDeclaredSize(classID: method.classID, methodID: method.methodID)
            }
            var joinedNow = joined
            if var sofar = body {
                if !joined {
                    // A second frame: one buffer for the whole body, the first frame copied in once.
                    var whole = ByteBuffer()
                    whole.reserveCapacity(sofar.readableBytes + Int(remaining))
                    whole.writeBuffer(&sofar)
                    sofar = whole
                    joinedNow = true
                }
                var payload = frame.payload
                sofar.writeBuffer(&payload)
                body = sofar
            } else {
                body = frame.payload
            }
            let left = remaining - count
            guard left == 0 else {
                // Clear the state's copy first so the joined buffer stays uniquely referenced.
                state = .idle
                state = .awaitingBody(method, properties, remaining: left, body: body, joined: joinedNow)
                return .incomplete
            }
            state = .idle
            return .content(Content(method: method, properties: properties, body: body ?? ByteBuffer()))
        }
    }
}
