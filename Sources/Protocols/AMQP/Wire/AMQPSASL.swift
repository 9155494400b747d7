package import NIOCore

/// A user name and password read from connection.start-ok's SASL response.
package struct AMQPSASLCredentials: Sendable, Hashable {
    package var username: String
    package var password: String

    package init(username: String, password: String) {
        self.username = username
        self.password = password
    }
}

/// The SASL mechanisms the server offers in connection.start, and their responses (RabbitMQ's
/// rabbit_auth_mechanism_plain and rabbit_auth_mechanism_amqplain).
package enum AMQPSASL {
    /// connection.start's `mechanisms`: what RabbitMQ offers by default.
    package static let mechanisms = "PLAIN AMQPLAIN"
    /// connection.start's `locales`.
    package static let locales = "en_US"

    /// The credentials in a start-ok `response` for `mechanism`. An unknown mechanism is 503 (RabbitMQ:
    /// "unknown authentication mechanism"); a response that does not hold a user name and password is a
    /// refused login (403), as in RabbitMQ.
    package static func credentials(
        mechanism: String, response: ByteBuffer, limits: AMQPLimits = AMQPLimits()
    ) throws(AMQPError) -> AMQPSASLCredentials {
        let credentials: AMQPSASLCredentials?
        switch mechanism {
        case "PLAIN": credentials = plain(response)
        case "AMQPLAIN": credentials = amqplain(response, limits: limits)
        default: throw .unknownAuthenticationMechanism(mechanism)
        }
        guard let credentials else { throw .authenticationFailed(mechanism: mechanism) }
        return credentials
    }

    /// RFC 4616: `[authzid] NUL authcid NUL passwd`. RabbitMQ splits on NUL and wants exactly three parts;
    /// the authorization identity is ignored.
    static func plain(_ response: ByteBuffer) -> AMQPSASLCredentials? {
        let parts = response.readableBytesView.split(separator: 0, omittingEmptySubsequences: false)
        guard parts.count == 3 else { return nil }
        guard let username = parts[1].withUnsafeBytes({ ByteBuffer.validatedUTF8($0) }),
            let password = parts[2].withUnsafeBytes({ ByteBuffer.validatedUTF8($0) })
        else { return nil }
        return AMQPSASLCredentials(username: username, password: password)
    }

    /// AMQPLAIN: a field table's body without its 32-bit length (what py-amqp and the Java client send,
    /// and rabbit_auth_mechanism_amqplain parses), holding long strings LOGIN and PASSWORD.
    static func amqplain(_ response: ByteBuffer, limits: AMQPLimits) -> AMQPSASLCredentials? {
        var response = response
        guard let table = try? response.readAMQPFieldTableFields(maxDepth: limits.maxFieldTableDepth),
            let username = table["LOGIN"]?.stringValue, let password = table["PASSWORD"]?.stringValue
        else { return nil }
        return AMQPSASLCredentials(username: username, password: password)
    }

    /// A PLAIN response (what a client sends): NUL, user name, NUL, password.
    package static func plainResponse(username: String, password: String) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeInteger(UInt8(0))
        buffer.writeString(username)
        buffer.writeInteger(UInt8(0))
        buffer.writeString(password)
        return buffer
    }

    /// An AMQPLAIN response (what a client sends).
    package static func amqplainResponse(username: String, password: String) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeAMQPFieldTableFields(["LOGIN": .string(username), "PASSWORD": .string(password)])
        return buffer
    }
}
