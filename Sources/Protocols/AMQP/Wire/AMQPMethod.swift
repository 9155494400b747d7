package import NIOCore

/// Every method of AMQP 0-9-1 and RabbitMQ's extensions, by class (§1.3-1.9 of the reference, and
/// RabbitMQ's amqp-0-9-1-rabbit.xml). A method frame's payload is class id, method id, then the
/// arguments (§4.2.4); `decode` and `write` are symmetric: what one writes the other reads back equal.
package enum AMQPMethod: Sendable, Hashable {
    case connection(AMQPConnectionMethod)
    case channel(AMQPChannelMethod)
    case exchange(AMQPExchangeMethod)
    case queue(AMQPQueueMethod)
    case basic(AMQPBasicMethod)
    case confirm(AMQPConfirmMethod)
    case tx(AMQPTxMethod)

    package var classID: UInt16 {
        switch self {
        case .connection: AMQPConnectionMethod.classID
        case .channel: AMQPChannelMethod.classID
        case .exchange: AMQPExchangeMethod.classID
        case .queue: AMQPQueueMethod.classID
        case .basic: AMQPBasicMethod.classID
        case .confirm: AMQPConfirmMethod.classID
        case .tx: AMQPTxMethod.classID
        }
    }

    package var methodID: UInt16 {
        switch self {
        case .connection(let method): method.methodID
        case .channel(let method): method.methodID
        case .exchange(let method): method.methodID
        case .queue(let method): method.methodID
        case .basic(let method): method.methodID
        case .confirm(let method): method.methodID
        case .tx(let method): method.methodID
        }
    }

    /// Whether a content header and body frames follow the method (§4.2.6): basic.publish, return,
    /// deliver and get-ok.
    package var hasContent: Bool {
        guard case .basic(let method) = self else { return false }
        switch method {
        case .publish, .return, .deliver, .getOk: return true
        default: return false
        }
    }

    /// The method a method frame's payload holds. Arguments must fill the payload exactly; a payload
    /// that does not decode is a frame error naming the method (RabbitMQ: "cannot decode", 501).
    package static func decode(_ payload: ByteBuffer, limits: AMQPLimits) throws(AMQPError) -> AMQPMethod {
        var payload = payload
        guard let classID = payload.readInteger(as: UInt16.self), let methodID = payload.readInteger(as: UInt16.self)
        else { throw .malformed("method frame shorter than its class and method ids") }
        let maxDepth = limits.maxFieldTableDepth
        let method: AMQPMethod
        do throws(AMQPError) {
            switch classID {
            case AMQPConnectionMethod.classID:
                method = .connection(try .read(methodID: methodID, from: &payload, maxDepth: maxDepth))
            case AMQPChannelMethod.classID:
                method = .channel(try .read(methodID: methodID, from: &payload, maxDepth: maxDepth))
            case AMQPExchangeMethod.classID:
                method = .exchange(try .read(methodID: methodID, from: &payload, maxDepth: maxDepth))
            case AMQPQueueMethod.classID:
                method = .queue(try .read(methodID: methodID, from: &payload, maxDepth: maxDepth))
            case AMQPBasicMethod.classID:
                method = .basic(try .read(methodID: methodID, from: &payload, maxDepth: maxDepth))
            case AMQPConfirmMethod.classID:
                method = .confirm(try .read(methodID: methodID, from: &payload, maxDepth: maxDepth))
            case AMQPTxMethod.classID:
                method = .tx(try .read(methodID: methodID, from: &payload))
            default:
                throw .unknownMethod(classID: classID, methodID: methodID)
            }
        } catch {
            // The field readers do not know which method they are in; name it here.
            if case .malformed(let text, 0, 0) = error {
                throw .malformed(text, classID: classID, methodID: methodID)
            }
            throw error
        }
        guard payload.readableBytes == 0 else {
            throw .malformed("\(payload.readableBytes) bytes after the arguments", classID: classID, methodID: methodID)
        }
        return method
    }

    /// Writes class id, method id and arguments: a method frame's payload.
    package func write(to buffer: inout ByteBuffer) {
        buffer.writeInteger(classID)
        buffer.writeInteger(methodID)
        switch self {
        case .connection(let method): method.writeArguments(to: &buffer)
        case .channel(let method): method.writeArguments(to: &buffer)
        case .exchange(let method): method.writeArguments(to: &buffer)
        case .queue(let method): method.writeArguments(to: &buffer)
        case .basic(let method): method.writeArguments(to: &buffer)
        case .confirm(let method): method.writeArguments(to: &buffer)
        case .tx: break
        }
    }

    /// Writes the whole method frame on `channel` (§4.2.4), the size patched in after the payload: no
    /// intermediate buffer.
    package func writeFrame(channel: UInt16, to buffer: inout ByteBuffer) {
        buffer.writeInteger(AMQPFrameType.method.rawValue)
        buffer.writeInteger(channel)
        let sizeIndex = buffer.writerIndex
        buffer.writeInteger(UInt32(0))
        write(to: &buffer)
        buffer.setInteger(UInt32(buffer.writerIndex - sizeIndex - 4), at: sizeIndex)
        buffer.writeInteger(AMQPFrame.frameEnd)
    }

    /// The method frame on `channel` as a buffer of its own (tests, replies off the hot path).
    package func frame(channel: UInt16) -> ByteBuffer {
        var buffer = ByteBuffer()
        writeFrame(channel: channel, to: &buffer)
        return buffer
    }
}
