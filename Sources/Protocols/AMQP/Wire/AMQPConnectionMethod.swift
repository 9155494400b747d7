package import NIOCore

/// Class connection (10): negotiation, authentication, tuning, close, and RabbitMQ's blocked /
/// unblocked and update-secret extensions.
package enum AMQPConnectionMethod: Sendable, Hashable {
    /// 10, server → client: versions, server properties, mechanisms, locales.
    case start(AMQPConnectionStart)
    /// 11: client properties, chosen mechanism, SASL response, locale.
    case startOk(AMQPConnectionStartOk)
    /// 20, server → client: a SASL challenge.
    case secure(challenge: ByteBuffer)
    /// 21: the SASL response to a challenge.
    case secureOk(response: ByteBuffer)
    /// 30, server → client: proposed channel-max, frame-max, heartbeat.
    case tune(AMQPConnectionTune)
    /// 31: the values the client accepts.
    case tuneOk(AMQPConnectionTune)
    /// 40: the virtual host (reserved-1 and reserved-2 are written empty and false).
    case open(virtualHost: String)
    /// 41.
    case openOk
    /// 50: either peer closes the connection.
    case close(AMQPClose)
    /// 51.
    case closeOk
    /// 60, server → client (RabbitMQ): publishing is blocked, with why.
    case blocked(reason: String)
    /// 61, server → client (RabbitMQ).
    case unblocked
    /// 70, client → server (RabbitMQ): a new secret (e.g. a refreshed token) and why.
    case updateSecret(newSecret: ByteBuffer, reason: String)
    /// 71.
    case updateSecretOk

    package static let classID: UInt16 = 10

    package var methodID: UInt16 {
        switch self {
        case .start: 10
        case .startOk: 11
        case .secure: 20
        case .secureOk: 21
        case .tune: 30
        case .tuneOk: 31
        case .open: 40
        case .openOk: 41
        case .close: 50
        case .closeOk: 51
        case .blocked: 60
        case .unblocked: 61
        case .updateSecret: 70
        case .updateSecretOk: 71
        }
    }

    package static func read(methodID: UInt16, from buffer: inout ByteBuffer, maxDepth: Int) throws(AMQPError) -> Self {
        switch methodID {
        case 10: return .start(try AMQPConnectionStart(from: &buffer, maxDepth: maxDepth))
        case 11: return .startOk(try AMQPConnectionStartOk(from: &buffer, maxDepth: maxDepth))
        case 20: return .secure(challenge: try buffer.readAMQPLongString())
        case 21: return .secureOk(response: try buffer.readAMQPLongString())
        case 30: return .tune(try AMQPConnectionTune(from: &buffer))
        case 31: return .tuneOk(try AMQPConnectionTune(from: &buffer))
        case 40:
            let virtualHost = try buffer.readAMQPShortString()
            _ = try buffer.readAMQPShortString()  // reserved-1 (capabilities)
            _ = try buffer.readAMQPOctet()  // reserved-2 (insist)
            return .open(virtualHost: virtualHost)
        case 41:
            _ = try buffer.readAMQPShortString()  // reserved-1 (known-hosts)
            return .openOk
        case 50: return .close(try AMQPClose(from: &buffer))
        case 51: return .closeOk
        case 60: return .blocked(reason: try buffer.readAMQPShortString())
        case 61: return .unblocked
        case 70:
            let secret = try buffer.readAMQPLongString()
            return .updateSecret(newSecret: secret, reason: try buffer.readAMQPShortString())
        case 71: return .updateSecretOk
        default: throw .unknownMethod(classID: Self.classID, methodID: methodID)
        }
    }

    package func writeArguments(to buffer: inout ByteBuffer) {
        switch self {
        case .start(let start): start.write(to: &buffer)
        case .startOk(let startOk): startOk.write(to: &buffer)
        case .secure(let bytes), .secureOk(let bytes): buffer.writeAMQPLongString(bytes)
        case .tune(let tune), .tuneOk(let tune): tune.write(to: &buffer)
        case .open(let virtualHost):
            buffer.writeAMQPShortString(virtualHost)
            buffer.writeAMQPShortString("")
            buffer.writeInteger(UInt8(0))
        case .openOk: buffer.writeAMQPShortString("")
        case .close(let close): close.write(to: &buffer)
        case .blocked(let reason): buffer.writeAMQPShortString(reason)
        case .updateSecret(let secret, let reason):
            buffer.writeAMQPLongString(secret)
            buffer.writeAMQPShortString(reason)
        case .closeOk, .unblocked, .updateSecretOk: break
        }
    }
}
