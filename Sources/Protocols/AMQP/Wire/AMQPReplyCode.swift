/// The reply codes of AMQP 0-9-1 (§1.2 constants, "reply-code" domain) as RabbitMQ uses them in
/// connection.close, channel.close and basic.return.
package enum AMQPReplyCode: UInt16, Sendable, Hashable, CaseIterable {
    /// The method completed successfully (a normal close).
    case replySuccess = 200
    /// The content was larger than the server could accept at this time.
    case contentTooLarge = 311
    /// A mandatory message could not be routed to any queue (basic.return).
    case noRoute = 312
    /// An immediate message had no consumer to go to (basic.return).
    case noConsumers = 313
    /// An operator or the server itself closed the connection.
    case connectionForced = 320
    /// The virtual host does not exist.
    case invalidPath = 402
    /// The client may not use the entity, or its credentials were refused.
    case accessRefused = 403
    /// The entity does not exist.
    case notFound = 404
    /// The entity is used exclusively by another connection.
    case resourceLocked = 405
    /// A precondition failed: mismatched declaration, unknown delivery tag, oversized message, ….
    case preconditionFailed = 406
    /// A frame that could not be decoded.
    case frameError = 501
    /// A field holding an illegal value.
    case syntaxError = 502
    /// A method that is not valid at this point.
    case commandInvalid = 503
    /// A channel used wrongly (not open, already open, ...).
    case channelError = 504
    /// A frame of the wrong type at this point (e.g. a method frame in the middle of a message's content).
    case unexpectedFrame = 505
    /// The server ran out of a resource (e.g. channels).
    case resourceError = 506
    /// A request the server does not allow (e.g. a frame-max below the minimum).
    case notAllowed = 530
    /// Functionality the server does not implement.
    case notImplemented = 540
    /// The server failed internally.
    case internalError = 541

    /// Whether the code is a connection exception ("hard error": connection.close) rather than a channel
    /// exception ("soft error": channel.close). The spec's classification (§1.2, reply codes). A soft
    /// error on channel 0 still closes the connection (`AMQPError.closeReason(channel:)`).
    package var isConnectionException: Bool {
        switch self {
        case .contentTooLarge, .noRoute, .noConsumers, .accessRefused, .notFound, .resourceLocked,
            .preconditionFailed, .replySuccess:
            false
        case .connectionForced, .invalidPath, .frameError, .syntaxError, .commandInvalid, .channelError,
            .unexpectedFrame, .resourceError, .notAllowed, .notImplemented, .internalError:
            true
        }
    }

    /// The constant's name as RabbitMQ prints it at the start of a reply text ("NOT_FOUND - …").
    package var name: String {
        switch self {
        case .replySuccess: "REPLY_SUCCESS"
        case .contentTooLarge: "CONTENT_TOO_LARGE"
        case .noRoute: "NO_ROUTE"
        case .noConsumers: "NO_CONSUMERS"
        case .connectionForced: "CONNECTION_FORCED"
        case .invalidPath: "INVALID_PATH"
        case .accessRefused: "ACCESS_REFUSED"
        case .notFound: "NOT_FOUND"
        case .resourceLocked: "RESOURCE_LOCKED"
        case .preconditionFailed: "PRECONDITION_FAILED"
        case .frameError: "FRAME_ERROR"
        case .syntaxError: "SYNTAX_ERROR"
        case .commandInvalid: "COMMAND_INVALID"
        case .channelError: "CHANNEL_ERROR"
        case .unexpectedFrame: "UNEXPECTED_FRAME"
        case .resourceError: "RESOURCE_ERROR"
        case .notAllowed: "NOT_ALLOWED"
        case .notImplemented: "NOT_IMPLEMENTED"
        case .internalError: "INTERNAL_ERROR"
        }
    }

    /// The reply text RabbitMQ sends: `"<NAME> - <explanation>"`, cut to 252 bytes plus "..." when longer
    /// than a short string holds (rabbit_binary_generator's `amqp_exception_explanation`). The cut falls
    /// on a character boundary so the text stays valid UTF-8.
    package func replyText(_ explanation: String) -> String {
        let text = "\(name) - \(explanation)"
        guard text.utf8.count > AMQPLimits.maxShortStringBytes else { return text }
        var cut = ""
        var bytes = 0
        for scalar in text.unicodeScalars {
            let width = String(scalar).utf8.count
            if bytes + width > AMQPLimits.maxShortStringBytes - 3 { break }
            cut.unicodeScalars.append(scalar)
            bytes += width
        }
        return cut + "..."
    }
}
