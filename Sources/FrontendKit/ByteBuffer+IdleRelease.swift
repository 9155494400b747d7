package import NIOCore

extension ByteBuffer {
    /// Gives an empty outbound buffer's storage back: a connection's handler calls it from its keep-alive
    /// tick, so an idle connection holds no outbound storage (it held 256–512 B, issue 25) and a busy one
    /// pays at most one allocation per sweep (`KeepAliveSweeper.tick`). The next write allocates afresh.
    package mutating func releaseStorageIfEmpty() {
        if readableBytes == 0 && capacity > 0 { self = ByteBuffer() }
    }
}
