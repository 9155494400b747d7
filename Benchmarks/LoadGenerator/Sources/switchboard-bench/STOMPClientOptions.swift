// The two STOMP choices a scenario makes (BenchTarget.stompAck, BenchTarget.stompDestination).

import Foundation

/// How a STOMP subscriber acknowledges (the SUBSCRIBE `ack` header, STOMP 1.2 "SUBSCRIBE ack Header").
enum STOMPAckMode: String, CaseIterable, Sendable {
    /// The server considers a message acknowledged once it sent it.
    case auto
    /// An ACK covers its message and every earlier one of the subscription (cumulative).
    case client
    /// An ACK covers its message only.
    case clientIndividual = "client-individual"
}

/// Which kind of STOMP destination the scenario's channel names.
enum STOMPDestinationKind: String, CaseIterable, Sendable {
    /// `/topic/<channel>` (`/` in the channel becomes `.`): every subscriber gets every message.
    case topic
    /// `/queue/<channel>`: subscribers share one queue, each message reaches one of them.
    case queue

    /// The destination header value for `channel`.
    func destination(for channel: String) -> String {
        switch self {
        case .topic: return "/topic/" + channel.replacingOccurrences(of: "/", with: ".")
        case .queue: return "/queue/" + channel
        }
    }
}
