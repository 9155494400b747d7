/// One subscriber as presence reports it.
package struct PresenceInfo: Sendable, Hashable {
    package var clientID: String
    package var userID: String?
    package var name: String?
    /// The protocol the client speaks (`websocket`, `mqtt`, …).
    package var protocolName: String
    /// Seconds since the Unix epoch.
    package var connectedAt: Double
    package var remoteAddress: String?

    package init(
        clientID: String, userID: String?, name: String?, protocolName: String, connectedAt: Double,
        remoteAddress: String?
    ) {
        self.clientID = clientID
        self.userID = userID
        self.name = name
        self.protocolName = protocolName
        self.connectedAt = connectedAt
        self.remoteAddress = remoteAddress
    }
}
