package import NIOCore

extension SocketAddress {
    /// `ip:port` (`[ip]:port` for IPv6), as the admin API and presence show a client's address.
    package var clientDescription: String {
        if let ip = ipAddress, let port {
            return self.protocol == .inet6 ? "[\(ip)]:\(port)" : "\(ip):\(port)"
        }
        return "\(self)"
    }
}
