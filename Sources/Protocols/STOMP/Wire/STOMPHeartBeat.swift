/// Heart-beat negotiation (1.2 §"Heart-beating"). The client's CONNECT says `cx,cy` (it can send every
/// cx ms, wants to receive every cy ms); the server's CONNECTED says `sx,sy`. Client → server beats flow
/// every max(cx, sy) ms unless either is 0; server → client every max(sx, cy) ms unless either is 0.
package struct STOMPHeartBeat: Sendable, Equatable {
    /// How often the client promised to send something, in ms (0: never).
    package var clientSends: Int
    /// How often the client wants to receive something, in ms (0: never).
    package var clientReceives: Int

    package init(clientSends: Int, clientReceives: Int) {
        self.clientSends = clientSends
        self.clientReceives = clientReceives
    }

    /// The CONNECT header's value; nil for a malformed one (an absent header is `0,0`).
    package init?(header: String?) {
        guard let header else {
            self.init(clientSends: 0, clientReceives: 0)
            return
        }
        let parts = header.split(separator: ",", omittingEmptySubsequences: false)
        guard parts.count == 2,
            let sends = Int(parts[0].filter { $0 != " " }), let receives = Int(parts[1].filter { $0 != " " }),
            sends >= 0, receives >= 0
        else { return nil }
        self.init(clientSends: sends, clientReceives: receives)
    }

    /// What the server answers, `sx,sy`: it beats as often as the client wants to hear (no more often
    /// than `minimum`) and expects the client's beats as often as the client offered (RabbitMQ's choice:
    /// the client sets the pace).
    package func serverOffer(minimum: Int) -> (sends: Int, receives: Int) {
        (
            clientReceives == 0 ? 0 : max(clientReceives, minimum),
            clientSends == 0 ? 0 : max(clientSends, minimum)
        )
    }

    /// The negotiated intervals in ms: how often the server writes when idle, and how often it expects
    /// to hear from the client (0: no heart-beats that way).
    package func negotiated(minimum: Int) -> (serverSends: Int, clientSends: Int) {
        let offer = serverOffer(minimum: minimum)
        let serverSends = offer.sends == 0 || clientReceives == 0 ? 0 : max(offer.sends, clientReceives)
        let clientSends = offer.receives == 0 || self.clientSends == 0 ? 0 : max(offer.receives, self.clientSends)
        return (serverSends, clientSends)
    }
}
