package import NIOCore

/// Class tx (90): standard transactions. No method has arguments.
package enum AMQPTxMethod: UInt16, Sendable, Hashable {
    case select = 10
    case selectOk = 11
    case commit = 20
    case commitOk = 21
    case rollback = 30
    case rollbackOk = 31

    package static let classID: UInt16 = 90

    package var methodID: UInt16 { rawValue }

    package static func read(methodID: UInt16, from buffer: inout ByteBuffer) throws(AMQPError) -> Self {
        guard let method = Self(rawValue: methodID) else {
            throw .unknownMethod(classID: classID, methodID: methodID)
        }
        return method
    }
}
