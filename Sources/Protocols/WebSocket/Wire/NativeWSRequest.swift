package import BusCore
package import NIOCore

/// One client request of the native protocol (docs/protocols/websocket.md).
package struct NativeWSRequest: Equatable {
    /// The request's `id` as the client wrote it (a JSON number or string), echoed in the reply.
    package var id: ByteBuffer?
    package var command: NativeWSCommand

    package init(id: ByteBuffer?, command: NativeWSCommand) {
        self.id = id
        self.command = command
    }
}

/// What a request asks for. Payloads stay slices of the received frame: never re-encoded.
package enum NativeWSCommand: Equatable {
    /// `user` and `password`: a static user's (docs/security.md), for clients that sign in with a password.
    case connect(token: String?, name: String?, user: String?, password: String?)
    /// A new token for a connected client before the old one expires (same user).
    case refresh(token: String)
    /// `filter`: an expression in the records' filter language the messages must match (parsed by the
    /// handler: the Wire only carries the text).
    case subscribe(channel: String, history: Int?, recover: LogPosition?, filter: String?)
    case unsubscribe(channel: String)
    /// `event`: the publisher's event type (SSE `event:`), nil for the default `message`.
    case publish(channel: String, data: ByteBuffer, event: String?)
    case rpc(channel: String, data: ByteBuffer, timeoutMilliseconds: Int?)
    case respond(reply: String, data: ByteBuffer)
    case presence(channel: String)
    case history(channel: String, limit: Int?, since: LogPosition?)
    case ping
}

/// A request the server refuses, with the code the client sees.
package struct NativeWSRequestError: Error {
    package var id: ByteBuffer?
    package var code: NativeWSErrorCode
    package var message: String

    package init(id: ByteBuffer?, code: NativeWSErrorCode, message: String) {
        self.id = id
        self.code = code
        self.message = message
    }
}

/// The error codes of the native protocol.
package enum NativeWSErrorCode: String, Sendable {
    case badRequest = "bad_request"
    case unauthorized
    case permissionDenied = "permission_denied"
    /// A publish a `payload_schemas` rule refuses (docs/topics.md, "Payload schemas").
    case invalidPayload = "invalid_payload"
    case notFound = "not_found"
    case tooLarge = "too_large"
    case rateLimited = "rate_limited"
    case unavailable
    case timeout
}

/// Parses text frames into requests. Pure: bytes in, request or error out.
package enum NativeWSRequestDecoder {
    package static func decode(_ frame: ByteBuffer) throws(NativeWSRequestError) -> NativeWSRequest {
        let parsed: Result<JSONDocument, JSONError> = frame.withUnsafeReadableBytes { bytes in
            do throws(JSONError) { return .success(try JSONParser.parseDocument(bytes)) } catch {
                return .failure(error)
            }
        }
        let document: JSONDocument
        switch parsed {
        case .success(let value): document = value
        case .failure(let error): throw NativeWSRequestError(id: nil, code: .badRequest, message: error.description)
        }
        func slice(_ key: String) -> ByteBuffer? {
            guard let member = document.members[key] else { return nil }
            return frame.getSlice(at: frame.readerIndex + member.range.lowerBound, length: member.range.count)
        }
        var id: ByteBuffer?
        if let value = document["id"] {
            switch value {
            case .number, .string: id = slice("id")
            default:
                throw NativeWSRequestError(id: nil, code: .badRequest, message: "\"id\" must be a number or a string")
            }
        }
        func fail(_ message: String) -> NativeWSRequestError {
            NativeWSRequestError(id: id, code: .badRequest, message: message)
        }
        func string(_ key: String) throws(NativeWSRequestError) -> String {
            guard let value = document[key]?.stringValue else { throw fail("\"\(key)\" must be a string") }
            return value
        }
        func optionalString(_ key: String) throws(NativeWSRequestError) -> String? {
            guard let value = document[key], value != .null else { return nil }
            guard let text = value.stringValue else { throw fail("\"\(key)\" must be a string") }
            return text
        }
        func optionalCount(_ key: String) throws(NativeWSRequestError) -> Int? {
            guard let value = document[key], value != .null else { return nil }
            guard let count = value.intValue, count >= 0 else {
                throw fail("\"\(key)\" must be a non-negative integer")
            }
            return count
        }
        func position(_ key: String) throws(NativeWSRequestError) -> LogPosition? {
            guard let value = document[key], value != .null else { return nil }
            guard let offset = value["offset"]?.uint64Value, let epoch = value["epoch"]?.stringValue else {
                throw fail("\"\(key)\" must be {\"offset\":<integer>,\"epoch\":<string>}")
            }
            return LogPosition(offset: offset, epoch: epoch)
        }
        func data() throws(NativeWSRequestError) -> ByteBuffer {
            guard let data = slice("data") else { throw fail("\"data\" is required") }
            return data
        }

        guard let type = document["type"]?.stringValue else { throw fail("\"type\" must be a string") }
        let command: NativeWSCommand
        switch type {
        case "connect":
            command = .connect(
                token: try optionalString("token"), name: try optionalString("name"), user: try optionalString("user"),
                password: try optionalString("password"))
        case "refresh":
            command = .refresh(token: try string("token"))
        case "subscribe":
            command = .subscribe(
                channel: try string("channel"), history: try optionalCount("history"), recover: try position("recover"),
                filter: try optionalString("filter"))
        case "unsubscribe":
            command = .unsubscribe(channel: try string("channel"))
        case "publish":
            let event = try optionalString("event")
            if let event, let problem = MessageHeaders.validateEventType(event) { throw fail("\"event\": \(problem)") }
            command = .publish(channel: try string("channel"), data: try data(), event: event)
        case "rpc":
            command = .rpc(
                channel: try string("channel"), data: try data(), timeoutMilliseconds: try optionalCount("timeout"))
        case "respond":
            command = .respond(reply: try string("reply"), data: try data())
        case "presence":
            command = .presence(channel: try string("channel"))
        case "history":
            command = .history(
                channel: try string("channel"), limit: try optionalCount("limit"), since: try position("since"))
        case "ping":
            command = .ping
        default:
            throw fail("unknown request type \"\(type)\"")
        }
        return NativeWSRequest(id: id, command: command)
    }
}
