package import NIOCore

/// The MessagePack encoding (HubProtocol.md §MessagePack (MsgPack) encoding): each message one array
/// led by its type, each preceded by its VarInt length on the wire. Arrays longer than the layout are
/// accepted and their extra items ignored, so later protocol versions can append items (as
/// `streamIds` and `allowReconnect` were appended); the encoder writes the full layouts of today.
extension SignalRHubMessage {
    /// MessagePack Completion result kinds (§Completion Message Encoding).
    private enum ResultKind: Int64 {
        case error = 1
        case void = 2
        case nonVoid = 3
    }

    /// Decodes one message (the bytes after its length prefix).
    package static func decodeMessagePack(
        _ message: ByteBuffer, limits: SignalRLimits = SignalRLimits()
    ) throws(SignalRWireError) -> SignalRHubMessage {
        let value = try MessagePackDecoder.decodeWhole(message, limits: limits.messagePack)
        guard case .array(let items) = value, let first = items.first else {
            throw .invalidMessage("A MessagePack message is an array led by its type.")
        }
        guard case .int(let type) = first else { throw .invalidMessage("Reading 'messageType' as Int32 failed.") }
        switch type {
        case 1:
            // [1, Headers, InvocationId, Target, [Arguments], [StreamIds]]; clients before upload
            // streaming send 5 items.
            try require(items, 5, "Invocation")
            let invocationID = try string(items[2], "invocationId").flatMap { $0.isEmpty ? nil : $0 }
            if let invocationID { try checkID(invocationID, limits: limits) }
            return .invocation(
                SignalRInvocation(
                    headers: try headers(items[1]), invocationID: invocationID, target: try target(items[3]),
                    arguments: try arguments(items[4]), streamIDs: try streamIDs(items, limits: limits)))
        case 2:
            // [2, Headers, InvocationId, Item]
            try require(items, 4, "StreamItem")
            return .streamItem(
                SignalRStreamItem(
                    headers: try headers(items[1]), invocationID: try invocationID(items[2], limits: limits),
                    item: .messagePack(items[3])))
        case 3:
            // [3, Headers, InvocationId, ResultKind, Result?]
            try require(items, 4, "Completion")
            let outcome: SignalRCompletion.Outcome
            switch items[3].int64Value.flatMap(ResultKind.init(rawValue:)) {
            case .error?:
                try require(items, 5, "Completion")
                guard let error = items[4].stringValue else {
                    throw .invalidMessage("Reading 'error' as String failed.")
                }
                outcome = .error(error)
            case .void?:
                outcome = .void
            case .nonVoid?:
                try require(items, 5, "Completion")
                outcome = .result(.messagePack(items[4]))
            case nil:
                throw .invalidMessage("Invalid invocation result kind.")
            }
            return .completion(
                SignalRCompletion(
                    headers: try headers(items[1]), invocationID: try invocationID(items[2], limits: limits),
                    outcome: outcome))
        case 4:
            // [4, Headers, InvocationId, Target, [Arguments], [StreamIds]]
            try require(items, 5, "StreamInvocation")
            return .streamInvocation(
                SignalRStreamInvocation(
                    headers: try headers(items[1]), invocationID: try invocationID(items[2], limits: limits),
                    target: try target(items[3]), arguments: try arguments(items[4]),
                    streamIDs: try streamIDs(items, limits: limits)))
        case 5:
            // [5, Headers, InvocationId]
            try require(items, 3, "CancelInvocation")
            return .cancelInvocation(
                SignalRCancelInvocation(
                    headers: try headers(items[1]), invocationID: try invocationID(items[2], limits: limits)))
        case 6:
            // [6]: "Headers are not valid in a Ping message".
            return .ping
        case 7:
            // [7, Error, AllowReconnect?]
            try require(items, 2, "Close")
            var close = SignalRClose(error: try string(items[1], "error"))
            if items.count > 2 {
                guard case .bool(let allowReconnect) = items[2] else {
                    throw .invalidMessage("Reading 'allowReconnect' as Boolean failed.")
                }
                close.allowReconnect = allowReconnect
            }
            return .close(close)
        case 8, 9:
            // [8, SequenceId], [9, SequenceId]
            try require(items, 2, type == 8 ? "Ack" : "Sequence")
            guard let sequenceID = items[1].int64Value else {
                throw .invalidMessage("Reading 'sequenceId' as Int64 failed.")
            }
            return type == 8 ? .ack(sequenceID: sequenceID) : .sequence(sequenceID: sequenceID)
        default:
            return .unknown(type: type)
        }
    }

    /// Writes the message with its length prefix.
    package func writeMessagePack(into buffer: inout ByteBuffer) {
        buffer.writeSignalRBinaryMessage { body in writeMessagePackArray(into: &body) }
    }

    /// Writes the message's array alone (what the spec's examples show).
    package func writeMessagePackArray(into buffer: inout ByteBuffer) {
        switch self {
        case .invocation(let invocation):
            buffer.writeMessagePackArrayHeader(6)
            buffer.writeMessagePackInteger(type)
            Self.writeMessagePackHeaders(invocation.headers, into: &buffer)
            if let invocationID = invocation.invocationID {
                buffer.writeMessagePackString(invocationID)
            } else {
                buffer.writeMessagePackNil()
            }
            Self.writeMessagePackCall(
                target: invocation.target, arguments: invocation.arguments, streamIDs: invocation.streamIDs,
                into: &buffer)
        case .streamInvocation(let invocation):
            buffer.writeMessagePackArrayHeader(6)
            buffer.writeMessagePackInteger(type)
            Self.writeMessagePackHeaders(invocation.headers, into: &buffer)
            buffer.writeMessagePackString(invocation.invocationID)
            Self.writeMessagePackCall(
                target: invocation.target, arguments: invocation.arguments, streamIDs: invocation.streamIDs,
                into: &buffer)
        case .streamItem(let item):
            buffer.writeMessagePackArrayHeader(4)
            buffer.writeMessagePackInteger(type)
            Self.writeMessagePackHeaders(item.headers, into: &buffer)
            buffer.writeMessagePackString(item.invocationID)
            item.item.writeMessagePack(into: &buffer)
        case .completion(let completion):
            buffer.writeMessagePackArrayHeader(completion.outcome == .void ? 4 : 5)
            buffer.writeMessagePackInteger(type)
            Self.writeMessagePackHeaders(completion.headers, into: &buffer)
            buffer.writeMessagePackString(completion.invocationID)
            switch completion.outcome {
            case .error(let error):
                buffer.writeMessagePackInteger(ResultKind.error.rawValue)
                buffer.writeMessagePackString(error)
            case .void:
                buffer.writeMessagePackInteger(ResultKind.void.rawValue)
            case .result(let result):
                buffer.writeMessagePackInteger(ResultKind.nonVoid.rawValue)
                result.writeMessagePack(into: &buffer)
            }
        case .cancelInvocation(let cancel):
            buffer.writeMessagePackArrayHeader(3)
            buffer.writeMessagePackInteger(type)
            Self.writeMessagePackHeaders(cancel.headers, into: &buffer)
            buffer.writeMessagePackString(cancel.invocationID)
        case .close(let close):
            // The spec's layouts: [7, Error] and, when reconnecting is allowed, [7, Error, true].
            buffer.writeMessagePackArrayHeader(close.allowReconnect ? 3 : 2)
            buffer.writeMessagePackInteger(type)
            if let error = close.error {
                buffer.writeMessagePackString(error)
            } else {
                buffer.writeMessagePackNil()
            }
            if close.allowReconnect { buffer.writeMessagePackBool(true) }
        case .ack(let sequenceID), .sequence(let sequenceID):
            buffer.writeMessagePackArrayHeader(2)
            buffer.writeMessagePackInteger(type)
            buffer.writeMessagePackInteger(sequenceID)
        case .ping, .unknown:
            // "The Ping message is always exactly encoded as 0x91 0x06".
            buffer.writeMessagePackArrayHeader(1)
            buffer.writeMessagePackInteger(type)
        }
    }

    // MARK: - Reading items

    private static func require(_ items: [MessagePackValue], _ count: Int, _ name: String) throws(SignalRWireError) {
        guard items.count >= count else {
            throw .invalidMessage("A MessagePack \(name) message has \(items.count) items, fewer than \(count).")
        }
    }

    /// A str or nil.
    private static func string(_ value: MessagePackValue, _ field: String) throws(SignalRWireError) -> String? {
        switch value {
        case .nil: return nil
        case .string(let text): return text
        default: throw .invalidMessage("Reading '\(field)' as String failed.")
        }
    }

    private static func invocationID(
        _ value: MessagePackValue, limits: SignalRLimits
    ) throws(SignalRWireError) -> String {
        guard let invocationID = try string(value, "invocationId"), !invocationID.isEmpty else {
            throw .invalidMessage("Null or empty invocation ID.")
        }
        try checkID(invocationID, limits: limits)
        return invocationID
    }

    private static func target(_ value: MessagePackValue) throws(SignalRWireError) -> String {
        guard let target = try string(value, "target"), !target.isEmpty else {
            throw .invalidMessage("Null or empty target.")
        }
        return target
    }

    private static func arguments(_ value: MessagePackValue) throws(SignalRWireError) -> [SignalRPayload] {
        guard case .array(let elements) = value else {
            throw .invalidMessage("Reading array length for 'arguments' failed.")
        }
        return elements.map { .messagePack($0) }
    }

    /// The optional sixth item of an invocation.
    private static func streamIDs(
        _ items: [MessagePackValue], limits: SignalRLimits
    ) throws(SignalRWireError) -> [String] {
        // Absent (5 items) or nil (what a JavaScript client's encoder makes of an undefined array): none.
        guard items.count > 5, !items[5].isNil else { return [] }
        guard case .array(let elements) = items[5] else {
            throw .invalidMessage("Reading array length for 'streamIds' failed.")
        }
        var streamIDs: [String] = []
        for element in elements {
            guard case .string(let streamID) = element else {
                throw .invalidMessage("Reading 'streamIds' as String failed.")
            }
            streamIDs.append(streamID)
        }
        try checkStreamIDs(streamIDs, limits: limits)
        return streamIDs
    }

    /// §MessagePack Headers Encoding: a map of str keys and str values (`0x80` when empty).
    private static func headers(_ value: MessagePackValue) throws(SignalRWireError) -> [SignalRHeader] {
        guard case .map(let pairs) = value else { throw .invalidMessage("Reading map length for 'headers' failed.") }
        var headers: [SignalRHeader] = []
        for pair in pairs {
            guard case .string(let name) = pair.key, case .string(let value) = pair.value else {
                throw .invalidMessage("Reading 'headers' as String failed.")
            }
            headers.append(SignalRHeader(name: name, value: value))
        }
        return headers
    }

    // MARK: - Writing items

    private static func writeMessagePackHeaders(_ headers: [SignalRHeader], into buffer: inout ByteBuffer) {
        buffer.writeMessagePackMapHeader(headers.count)
        for header in headers {
            buffer.writeMessagePackString(header.name)
            buffer.writeMessagePackString(header.value)
        }
    }

    private static func writeMessagePackCall(
        target: String, arguments: [SignalRPayload], streamIDs: [String], into buffer: inout ByteBuffer
    ) {
        buffer.writeMessagePackString(target)
        buffer.writeMessagePackArrayHeader(arguments.count)
        for argument in arguments { argument.writeMessagePack(into: &buffer) }
        buffer.writeMessagePackArrayHeader(streamIDs.count)
        for streamID in streamIDs { buffer.writeMessagePackString(streamID) }
    }
}
