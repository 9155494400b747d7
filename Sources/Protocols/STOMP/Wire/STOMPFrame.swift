package import NIOCore

/// One STOMP frame: a command, headers and a body (a slice of the read buffer when decoded).
package struct STOMPFrame: Sendable, Equatable {
    package var command: STOMPCommand
    package var headers: STOMPHeaders
    package var body: ByteBuffer

    package init(_ command: STOMPCommand, headers: STOMPHeaders = STOMPHeaders(), body: ByteBuffer = ByteBuffer()) {
        self.command = command
        self.headers = headers
        self.body = body
    }

    package init(_ command: STOMPCommand, headers: STOMPHeaders = STOMPHeaders(), body: String) {
        self.init(command, headers: headers, body: ByteBuffer(string: body))
    }

    /// The value of a header the command needs; an error naming it when it is missing.
    package func required(_ name: String) throws(STOMPError) -> String {
        guard let value = headers[name] else { throw .missingHeader(name, command: command) }
        return value
    }

    /// The frame's `receipt` header.
    package var receipt: String? { headers["receipt"] }
}
