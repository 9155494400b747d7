import BusCore
package import NIOCore

/// The hub protocols a connection can speak, named as in the handshake request's `protocol`.
package enum SignalRHubProtocol: String, Sendable, CaseIterable {
    /// JSON messages, each ended by the record separator (a text transfer format).
    case json
    /// MessagePack messages, each preceded by its VarInt length (a binary transfer format).
    case messagePack = "messagepack"

    /// The one version of either protocol (§Overview: "the value must always be 1").
    package static let version = 1

    /// Whether the protocol needs a transport that carries binary data (not Server-Sent Events).
    package var isBinary: Bool { self == .messagePack }
}

/// The first message of every connection, always JSON and ended by the record separator, whatever
/// protocol it asks for (§Overview): `{"protocol":"json"|"messagepack","version":1}`.
package struct SignalRHandshakeRequest: Sendable, Equatable {
    /// The protocol's name as the client spelled it.
    package var protocolName: String
    package var version: Int

    package init(protocolName: String, version: Int) {
        self.protocolName = protocolName
        self.version = version
    }

    /// Decodes the request's JSON (the bytes before its separator). Members other than `protocol` and
    /// `version` are ignored, as ASP.NET Core's `HandshakeProtocol` ignores them.
    package static func decode(_ message: ByteBuffer) throws(SignalRWireError) -> SignalRHandshakeRequest {
        let object: SignalRJSONObject
        do throws(SignalRWireError) {
            object = try SignalRJSONObject(message)
        } catch {
            throw .invalidHandshake("The handshake request is not a JSON object: \(error.message)")
        }
        guard case .string(let name)? = object.value("protocol") else {
            throw .invalidHandshake("Missing required property 'protocol'.")
        }
        guard case .number(let text)? = object.value("version"), let version = Int(text) else {
            throw .invalidHandshake("Missing required property 'version'.")
        }
        return SignalRHandshakeRequest(protocolName: name, version: version)
    }

    /// The protocol to speak, or the refusal (whose `message` is the handshake response's `error`, in
    /// ASP.NET Core's words): an unknown protocol name (compared case-insensitively, as its protocol
    /// resolver does), a version other than 1, or a binary protocol on a text-only transport.
    package func selectProtocol(transportIsBinary: Bool = true) throws(SignalRWireError) -> SignalRHubProtocol {
        guard let selected = SignalRHubProtocol(rawValue: protocolName.lowercased()) else {
            throw .unsupportedProtocol("The protocol '\(protocolName)' is not supported.")
        }
        // ASP.NET Core accepts any version up to its own (`IsVersionSupported`: signalrcore asks for 0).
        guard (0...SignalRHubProtocol.version).contains(version) else {
            throw .unsupportedProtocol(
                "The server does not support version \(version) of the '\(protocolName)' protocol.")
        }
        guard transportIsBinary || !selected.isBinary else {
            throw .unsupportedProtocol(
                "Cannot use the '\(protocolName)' protocol on the current transport. The transport does not support 'Binary' transfer format."
            )
        }
        return selected
    }
}

/// The server's answer to the handshake, JSON and ended by the record separator in both protocols:
/// `{}` when accepted, `{"error":"…"}` when refused (after which the server closes the connection).
package enum SignalRHandshakeResponse {
    /// Writes the response with its separator.
    package static func write(error: String? = nil, into buffer: inout ByteBuffer) {
        if let error {
            buffer.writeStaticString("{\"error\":")
            buffer.writeJSONString(error)
            buffer.writeInteger(UInt8(ascii: "}"))
        } else {
            buffer.writeStaticString("{}")
        }
        buffer.writeInteger(SignalRTextFrameDecoder.recordSeparator)
    }
}
