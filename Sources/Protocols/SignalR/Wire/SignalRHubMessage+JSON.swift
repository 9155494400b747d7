import BusCore
package import NIOCore

/// The JSON encoding (HubProtocol.md §JSON Encoding): one object per message, ended by the record
/// separator; members in any order, unknown members ignored (as ASP.NET Core's `JsonHubProtocol` does).
/// Arguments, items and results stay the JSON text they arrived as.
extension SignalRHubMessage {
    /// Decodes one message (the bytes before its separator).
    package static func decodeJSON(
        _ message: ByteBuffer, limits: SignalRLimits = SignalRLimits()
    ) throws(SignalRWireError) -> SignalRHubMessage {
        let object = try SignalRJSONObject(message)
        guard let type = try object.integer("type") else { throw .invalidMessage("Missing required property 'type'.") }
        switch type {
        case 1:
            let invocationID = try object.string("invocationId").flatMap { $0.isEmpty ? nil : $0 }
            if let invocationID { try Self.checkID(invocationID, limits: limits) }
            return .invocation(
                SignalRInvocation(
                    headers: try object.headers("headers"), invocationID: invocationID,
                    target: try object.requiredString("target"), arguments: try jsonArguments(object),
                    streamIDs: try jsonStreamIDs(object, limits: limits)))
        case 2:
            let invocationID = try jsonInvocationID(object, limits: limits)
            guard let item = object.raw("item") else { throw .invalidMessage("Missing required property 'item'.") }
            return .streamItem(
                SignalRStreamItem(headers: try object.headers("headers"), invocationID: invocationID, item: .json(item))
            )
        case 3:
            let invocationID = try jsonInvocationID(object, limits: limits)
            let error = try object.string("error")
            let result = object.raw("result")
            let outcome: SignalRCompletion.Outcome
            switch (error, result) {
            case (let error?, nil): outcome = .error(error)
            case (nil, let result?): outcome = .result(.json(result))
            case (nil, nil): outcome = .void
            case (.some, .some):
                // §Completion Message Encoding: "It is a protocol error to include both".
                throw .invalidMessage("The 'error' and 'result' properties are mutually exclusive.")
            }
            return .completion(
                SignalRCompletion(headers: try object.headers("headers"), invocationID: invocationID, outcome: outcome))
        case 4:
            let invocationID = try jsonInvocationID(object, limits: limits)
            return .streamInvocation(
                SignalRStreamInvocation(
                    headers: try object.headers("headers"), invocationID: invocationID,
                    target: try object.requiredString("target"), arguments: try jsonArguments(object),
                    streamIDs: try jsonStreamIDs(object, limits: limits)))
        case 5:
            let invocationID = try jsonInvocationID(object, limits: limits)
            return .cancelInvocation(
                SignalRCancelInvocation(headers: try object.headers("headers"), invocationID: invocationID))
        case 6:
            return .ping
        case 7:
            return .close(
                SignalRClose(
                    error: try object.string("error"), allowReconnect: try object.bool("allowReconnect") ?? false))
        case 8, 9:
            guard let sequenceID = try object.integer("sequenceId") else {
                throw .invalidMessage("Missing required property 'sequenceId'.")
            }
            return type == 8 ? .ack(sequenceID: sequenceID) : .sequence(sequenceID: sequenceID)
        default:
            return .unknown(type: type)
        }
    }

    /// Writes the message and its record separator.
    package func writeJSON(into buffer: inout ByteBuffer) {
        writeJSONObject(into: &buffer)
        buffer.writeInteger(SignalRTextFrameDecoder.recordSeparator)
    }

    /// Writes the message's object alone, members in the order ASP.NET Core writes them (`type`,
    /// `headers` when there are any, `invocationId`, then the rest).
    package func writeJSONObject(into buffer: inout ByteBuffer) {
        buffer.writeStaticString("{\"type\":")
        buffer.writeDecimal(type)
        switch self {
        case .invocation(let invocation):
            Self.writeJSONHeaders(invocation.headers, into: &buffer)
            if let invocationID = invocation.invocationID { Self.writeJSONInvocationID(invocationID, into: &buffer) }
            Self.writeJSONCall(
                target: invocation.target, arguments: invocation.arguments, streamIDs: invocation.streamIDs,
                into: &buffer)
        case .streamInvocation(let invocation):
            Self.writeJSONHeaders(invocation.headers, into: &buffer)
            Self.writeJSONInvocationID(invocation.invocationID, into: &buffer)
            Self.writeJSONCall(
                target: invocation.target, arguments: invocation.arguments, streamIDs: invocation.streamIDs,
                into: &buffer)
        case .streamItem(let item):
            Self.writeJSONHeaders(item.headers, into: &buffer)
            Self.writeJSONInvocationID(item.invocationID, into: &buffer)
            buffer.writeStaticString(",\"item\":")
            item.item.writeJSON(into: &buffer)
        case .completion(let completion):
            Self.writeJSONHeaders(completion.headers, into: &buffer)
            Self.writeJSONInvocationID(completion.invocationID, into: &buffer)
            switch completion.outcome {
            case .error(let error):
                buffer.writeStaticString(",\"error\":")
                buffer.writeJSONString(error)
            case .result(let result):
                buffer.writeStaticString(",\"result\":")
                result.writeJSON(into: &buffer)
            case .void:
                break
            }
        case .cancelInvocation(let cancel):
            Self.writeJSONHeaders(cancel.headers, into: &buffer)
            Self.writeJSONInvocationID(cancel.invocationID, into: &buffer)
        case .close(let close):
            if let error = close.error {
                buffer.writeStaticString(",\"error\":")
                buffer.writeJSONString(error)
            }
            if close.allowReconnect { buffer.writeStaticString(",\"allowReconnect\":true") }
        case .ack(let sequenceID), .sequence(let sequenceID):
            buffer.writeStaticString(",\"sequenceId\":")
            buffer.writeDecimal(sequenceID)
        case .ping, .unknown:
            break
        }
        buffer.writeInteger(UInt8(ascii: "}"))
    }

    // MARK: - Reading members

    /// The `invocationId` every message but an invocation requires.
    private static func jsonInvocationID(
        _ object: SignalRJSONObject, limits: SignalRLimits
    ) throws(SignalRWireError) -> String {
        let invocationID = try object.requiredString("invocationId")
        try checkID(invocationID, limits: limits)
        return invocationID
    }

    private static func jsonArguments(_ object: SignalRJSONObject) throws(SignalRWireError) -> [SignalRPayload] {
        guard let arguments = try object.elements("arguments") else {
            throw .invalidMessage("Missing required property 'arguments'.")
        }
        return arguments.map { .json($0) }
    }

    private static func jsonStreamIDs(
        _ object: SignalRJSONObject, limits: SignalRLimits
    ) throws(SignalRWireError) -> [String] {
        let streamIDs = try object.strings("streamIds") ?? []
        try checkStreamIDs(streamIDs, limits: limits)
        return streamIDs
    }

    /// An invocation or stream id within `maxInvocationIDBytes` (§Invocations: "Callees may establish
    /// reasonable limits on Invocation ID lengths and terminate the connection").
    static func checkID(_ id: String, limits: SignalRLimits) throws(SignalRWireError) {
        guard id.utf8.count <= limits.maxInvocationIDBytes else {
            throw .invalidMessage("An invocation ID is longer than \(limits.maxInvocationIDBytes) bytes.")
        }
    }

    static func checkStreamIDs(_ streamIDs: [String], limits: SignalRLimits) throws(SignalRWireError) {
        guard streamIDs.count <= limits.maxStreamIDs else {
            throw .invalidMessage("An invocation announces more than \(limits.maxStreamIDs) streams.")
        }
        for streamID in streamIDs {
            guard !streamID.isEmpty else { throw .invalidMessage("Null or empty value in streamIds received.") }
            try checkID(streamID, limits: limits)
        }
    }

    // MARK: - Writing members

    private static func writeJSONHeaders(_ headers: [SignalRHeader], into buffer: inout ByteBuffer) {
        guard !headers.isEmpty else { return }
        buffer.writeStaticString(",\"headers\":{")
        for (index, header) in headers.enumerated() {
            if index > 0 { buffer.writeInteger(UInt8(ascii: ",")) }
            buffer.writeJSONString(header.name)
            buffer.writeInteger(UInt8(ascii: ":"))
            buffer.writeJSONString(header.value)
        }
        buffer.writeInteger(UInt8(ascii: "}"))
    }

    private static func writeJSONInvocationID(_ invocationID: String, into buffer: inout ByteBuffer) {
        buffer.writeStaticString(",\"invocationId\":")
        buffer.writeJSONString(invocationID)
    }

    private static func writeJSONCall(
        target: String, arguments: [SignalRPayload], streamIDs: [String], into buffer: inout ByteBuffer
    ) {
        buffer.writeStaticString(",\"target\":")
        buffer.writeJSONString(target)
        buffer.writeStaticString(",\"arguments\":[")
        for (index, argument) in arguments.enumerated() {
            if index > 0 { buffer.writeInteger(UInt8(ascii: ",")) }
            argument.writeJSON(into: &buffer)
        }
        buffer.writeInteger(UInt8(ascii: "]"))
        guard !streamIDs.isEmpty else { return }
        buffer.writeStaticString(",\"streamIds\":[")
        for (index, streamID) in streamIDs.enumerated() {
            if index > 0 { buffer.writeInteger(UInt8(ascii: ",")) }
            buffer.writeJSONString(streamID)
        }
        buffer.writeInteger(UInt8(ascii: "]"))
    }
}
