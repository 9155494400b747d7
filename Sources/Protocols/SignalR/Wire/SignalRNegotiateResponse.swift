import BusCore
package import NIOCore

/// The answer to `POST [endpoint-base]/negotiate` (TransportProtocols.md §negotiate): the connection's
/// id (and, from negotiate version 1, the secret token the other requests carry as `id`), the version
/// agreed and the transports offered with their transfer formats.
package struct SignalRNegotiateResponse: Sendable, Equatable {
    /// The transports of an ASP.NET Core endpoint.
    package enum Transport: String, Sendable, CaseIterable {
        case webSockets = "WebSockets"
        case serverSentEvents = "ServerSentEvents"
        case longPolling = "LongPolling"

        /// Server-Sent Events carry text only (§Transfer Formats); the others text and binary.
        package var supportsBinary: Bool { self != .serverSentEvents }
    }

    /// The highest negotiate version this server speaks.
    package static let latestVersion = 1

    /// The id other clients may know the connection by.
    package var connectionID: String
    /// The secret the transports' requests carry as `id` (version 1); version 0 uses `connectionID`.
    package var connectionToken: String
    package var negotiateVersion: Int
    package var transports: [Transport]
    /// Whether stateful reconnect (Ack and Sequence messages) is on for the connection: answered `true`
    /// only to a client that asked for it.
    package var useStatefulReconnect: Bool

    package init(
        connectionID: String, connectionToken: String, negotiateVersion: Int,
        transports: [Transport] = Transport.allCases, useStatefulReconnect: Bool = false
    ) {
        self.connectionID = connectionID
        self.connectionToken = connectionToken
        self.negotiateVersion = negotiateVersion
        self.transports = transports
        self.useStatefulReconnect = useStatefulReconnect
    }

    /// The version to use for the request's `negotiateVersion` query value (§negotiate: none is 0; one
    /// above the server's is answered with the server's). A value that is not a version is refused, with
    /// ASP.NET Core's texts for the negotiate response's `error`.
    package static func version(requested: String?) throws(SignalRWireError) -> Int {
        guard let requested else { return 0 }
        guard let version = Int(requested) else {
            throw .invalidHandshake("The client requested an invalid protocol version '\(requested)'")
        }
        guard version >= 0 else {
            throw .invalidHandshake(
                "The client requested version '\(version)', but the server does not support this version.")
        }
        return min(version, latestVersion)
    }

    /// Writes the response JSON, members in the spec's order.
    package func write(into buffer: inout ByteBuffer) {
        if negotiateVersion >= 1 {
            buffer.writeStaticString("{\"connectionToken\":")
            buffer.writeJSONString(connectionToken)
            buffer.writeStaticString(",\"connectionId\":")
        } else {
            buffer.writeStaticString("{\"connectionId\":")
        }
        buffer.writeJSONString(connectionID)
        buffer.writeStaticString(",\"negotiateVersion\":")
        buffer.writeDecimal(negotiateVersion)
        if useStatefulReconnect { buffer.writeStaticString(",\"useStatefulReconnect\":true") }
        buffer.writeStaticString(",\"availableTransports\":[")
        for (index, transport) in transports.enumerated() {
            if index > 0 { buffer.writeInteger(UInt8(ascii: ",")) }
            buffer.writeStaticString("{\"transport\":")
            buffer.writeJSONString(transport.rawValue)
            buffer.writeStaticString(
                transport.supportsBinary
                    ? ",\"transferFormats\":[\"Text\",\"Binary\"]}" : ",\"transferFormats\":[\"Text\"]}")
        }
        buffer.writeStaticString("]}")
    }

    /// Writes the response that stops a connection attempt (§All versions): `{"error":"…"}`.
    package static func writeError(_ message: String, into buffer: inout ByteBuffer) {
        buffer.writeStaticString("{\"error\":")
        buffer.writeJSONString(message)
        buffer.writeInteger(UInt8(ascii: "}"))
    }
}
