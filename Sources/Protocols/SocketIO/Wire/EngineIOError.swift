/// Why Engine.IO input was refused. Each case maps to the spec's reaction: a bad packet closes the
/// session; a bad request gets HTTP 400 with the Engine.IO error JSON (`EngineIOHTTPError`).
package enum EngineIOError: Error, Sendable, Equatable {
    /// A packet that is not Engine.IO v4 (unknown type, bad base64, empty).
    case invalidPacket(String)
    /// A payload over `maxPayload`, or with more packets than allowed.
    case payloadTooLarge
}

/// The errors of the HTTP layer, with the codes and messages of the reference server
/// (engine.io `Server.errorMessages`): `{"code":N,"message":"…"}` with status 400 (403 for a refused
/// origin or handshake).
package enum EngineIOHTTPError: Int, Sendable, Equatable {
    case unknownTransport = 0
    case unknownSessionID = 1
    case badHandshakeMethod = 2
    case badRequest = 3
    case forbidden = 4
    case unsupportedProtocolVersion = 5

    /// The reference server's message for the code.
    package var message: String {
        switch self {
        case .unknownTransport: "Transport unknown"
        case .unknownSessionID: "Session ID unknown"
        case .badHandshakeMethod: "Bad handshake method"
        case .badRequest: "Bad request"
        case .forbidden: "Forbidden"
        case .unsupportedProtocolVersion: "Unsupported protocol version"
        }
    }

    /// The HTTP status it is answered with.
    package var status: Int { self == .forbidden ? 403 : 400 }
}
