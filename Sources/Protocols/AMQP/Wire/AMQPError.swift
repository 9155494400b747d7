/// Everything the AMQP layers refuse, each mapped by `closeReason(channel:)` to the reply code, text and
/// failing method of a connection.close or channel.close (the one map, STYLE.md habit 12). The texts are
/// RabbitMQ's where it has one, so clients that match on them behave as they do against RabbitMQ.
package enum AMQPError: Error, Sendable, Hashable {
    // MARK: Frames (connection exceptions, 501 / 505)

    /// A frame larger than the negotiated frame-max (§4.2.3): 501, read before its payload is buffered.
    case frameTooLarge(size: Int, frameMax: Int)
    /// A frame whose last octet is not frame-end 0xCE (§4.2.3): 501.
    case badFrameEnd(UInt8)
    /// A frame type other than method, header, body or heartbeat (§4.2.3): 501.
    case unknownFrameType(UInt8)
    /// A frame that breaks a framing rule, e.g. a heartbeat off channel 0 (§4.2.7): 501.
    case malformedFrame(String)
    /// A method or content header whose fields cannot be decoded: 501, "cannot decode" in RabbitMQ.
    /// `classID`/`methodID` name the method when it is known (0 otherwise).
    case malformed(String, classID: UInt16 = 0, methodID: UInt16 = 0)
    /// A class and method id pair the protocol does not define: 540.
    case unknownMethod(classID: UInt16, methodID: UInt16)
    /// A frame of the wrong kind for the channel's state, e.g. a method frame where a body frame belongs
    /// (§4.2.6): 505, with RabbitMQ's wording (rabbit_command_assembler).
    case unexpectedFrame(String, classID: UInt16 = 0, methodID: UInt16 = 0)
    /// A content body frame that goes past the header's body size: 501 (rabbit_command_assembler).
    case bodyExceedsDeclaredSize(classID: UInt16, methodID: UInt16)

    // MARK: Content (channel exceptions)

    /// A content header declaring a body larger than `AMQPLimits.maxMessageSize`: 406 on the channel,
    /// RabbitMQ's wording; raised at the header, before any of the body is buffered.
    case messageTooLarge(size: UInt64, maxSize: UInt64)

    // MARK: Connection negotiation

    /// connection.start-ok named a mechanism the server did not offer: 503 (rabbit_reader).
    case unknownAuthenticationMechanism(String)
    /// The credentials were malformed or refused: 403 on the connection (RabbitMQ closes with
    /// connection.close when the client has `authentication_failure_close`).
    case authenticationFailed(mechanism: String)

    // MARK: Raised by the state machines

    /// Any other exception, with its code, explanation (without the "NAME - " prefix) and failing method.
    case exception(AMQPReplyCode, String, classID: UInt16 = 0, methodID: UInt16 = 0)
}

extension AMQPError {
    /// The reply code, RabbitMQ-style reply text, failing class and method, and whether the connection
    /// (rather than only `channel`) closes: hard errors, and any error on channel 0 (RabbitMQ's
    /// `rabbit_binary_generator:map_exception`).
    package func closeReason(channel: UInt16) -> AMQPCloseReason {
        let (code, explanation, classID, methodID) = parts
        let close = AMQPClose(
            replyCode: code.rawValue, replyText: code.replyText(explanation), classID: classID, methodID: methodID)
        return AMQPCloseReason(closesConnection: channel == 0 || closesConnection(code), close: close)
    }

    private func closesConnection(_ code: AMQPReplyCode) -> Bool {
        switch self {
        // ACCESS_REFUSED is a channel exception, but a refused login has no channel to close.
        case .authenticationFailed: true
        default: code.isConnectionException
        }
    }

    private var parts: (AMQPReplyCode, String, UInt16, UInt16) {
        switch self {
        case .frameTooLarge(let size, let frameMax):
            (.frameError, "frame size \(size) larger than negotiated maximum \(frameMax)", 0, 0)
        case .badFrameEnd(let octet):
            (.frameError, "invalid frame end marker \(octet)", 0, 0)
        case .unknownFrameType(let type):
            (.frameError, "unknown frame type \(type)", 0, 0)
        case .malformedFrame(let text):
            (.frameError, text, 0, 0)
        case .malformed(let text, let classID, let methodID):
            // RabbitMQ: "cannot decode" and the method, when the failure is inside one.
            (
                .frameError,
                classID == 0 ? text : "cannot decode \(AMQPMethod.name(classID: classID, methodID: methodID)): \(text)",
                classID, methodID
            )
        case .unknownMethod(let classID, let methodID):
            (.notImplemented, "unknown method {\(classID), \(methodID)}", classID, methodID)
        case .unexpectedFrame(let text, let classID, let methodID):
            (.unexpectedFrame, text, classID, methodID)
        case .bodyExceedsDeclaredSize(let classID, let methodID):
            (.frameError, "content body frame exceeds remaining content size", classID, methodID)
        case .messageTooLarge(let size, let maxSize):
            (.preconditionFailed, "message size \(size) is larger than configured max size \(maxSize)", 60, 40)
        case .unknownAuthenticationMechanism(let mechanism):
            (.commandInvalid, "unknown authentication mechanism '\(mechanism)'", 10, 11)
        case .authenticationFailed(let mechanism):
            (
                .accessRefused,
                "Login was refused using authentication mechanism \(mechanism). For details see the broker logfile.",
                10, 11
            )
        case .exception(let code, let text, let classID, let methodID):
            (code, text, classID, methodID)
        }
    }
}
