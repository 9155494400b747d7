/// Why Socket.IO input was refused. A malformed packet closes the Engine.IO session (the reference
/// server's `parse error`); a refused CONNECT is answered with CONNECT_ERROR instead.
package enum SocketIOError: Error, Sendable, Equatable {
    case invalidPacket(String)
}
