/// One subscriber as presence reports it.
public struct PresenceInfo: Sendable, Hashable {
    public var clientID: String
    public var userID: String?
    public var name: String?
    /// The protocol the client speaks (`websocket`, `mqtt`, …).
    public var protocolName: String
    /// Seconds since the Unix epoch.
    public var connectedAt: Double
    public var remoteAddress: String?

    public init(
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
