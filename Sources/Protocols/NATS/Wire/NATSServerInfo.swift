import BusCore
package import NIOCore

/// The `INFO` a server sends first on every connection (fields as the reference server names them).
package struct NATSServerInfo: Sendable {
    package var serverID: String
    package var serverName: String
    /// The NATS server version whose client protocol this server speaks (clients gate features on it).
    package var version: String
    package var host: String
    package var port: Int
    package var maxPayload: Int
    package var clientID: UInt64
    package var clientIP: String?
    package var authRequired: Bool
    /// The client must start TLS after this INFO (the NATS way: INFO travels in plain text first).
    package var tlsRequired = false
    /// The client must present a certificate (mTLS).
    package var tlsVerify = false
    /// The server is in lame-duck mode (`"ldm":true`): it will close this connection soon.
    package var lameDuckMode = false
    /// A challenge the client signs with its NKey (`nkey`/`sig`, or a user JWT's key), sent when the
    /// server accepts such credentials (nats-server sends it with NKey users or trusted operators).
    package var nonce: String?

    package init(
        serverID: String, serverName: String, version: String, host: String, port: Int, maxPayload: Int,
        clientID: UInt64, clientIP: String?, authRequired: Bool, tlsRequired: Bool = false, tlsVerify: Bool = false
    ) {
        self.tlsRequired = tlsRequired
        self.tlsVerify = tlsVerify
        self.serverID = serverID
        self.serverName = serverName
        self.version = version
        self.host = host
        self.port = port
        self.maxPayload = maxPayload
        self.clientID = clientID
        self.clientIP = clientIP
        self.authRequired = authRequired
    }

    /// `INFO {…}\r\n`.
    package func write(to buffer: inout ByteBuffer) {
        buffer.writeStaticString("INFO {\"server_id\":")
        buffer.writeJSONString(serverID)
        buffer.writeStaticString(",\"server_name\":")
        buffer.writeJSONString(serverName)
        buffer.writeStaticString(",\"version\":")
        buffer.writeJSONString(version)
        buffer.writeStaticString(",\"proto\":1,\"go\":\"switchboard\",\"host\":")
        buffer.writeJSONString(host)
        buffer.writeStaticString(",\"port\":")
        NATSEncoder.writeDecimal(&buffer, port)
        buffer.writeStaticString(",\"headers\":true,\"max_payload\":")
        NATSEncoder.writeDecimal(&buffer, maxPayload)
        buffer.writeStaticString(",\"client_id\":")
        NATSEncoder.writeDecimal(&buffer, Int(truncatingIfNeeded: clientID))
        if let clientIP {
            buffer.writeStaticString(",\"client_ip\":")
            buffer.writeJSONString(clientIP)
        }
        if authRequired { buffer.writeStaticString(",\"auth_required\":true") }
        if tlsRequired { buffer.writeStaticString(",\"tls_required\":true") }
        if tlsVerify { buffer.writeStaticString(",\"tls_verify\":true") }
        if lameDuckMode { buffer.writeStaticString(",\"ldm\":true") }
        if let nonce {
            buffer.writeStaticString(",\"nonce\":")
            buffer.writeJSONString(nonce)
        }
        buffer.writeStaticString("}\r\n")
    }
}
