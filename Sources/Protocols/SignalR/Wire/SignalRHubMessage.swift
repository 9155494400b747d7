/// The messages of the hub protocol (HubProtocol.md §Overview), after the handshake, in either
/// encoding: `decodeJSON`/`writeJSON` (SignalRHubMessage+JSON.swift) and
/// `decodeMessagePack`/`writeMessagePack` (SignalRHubMessage+MessagePack.swift).
package enum SignalRHubMessage: Sendable, Equatable {
    /// Type 1: call a method on the other side; without an invocation id nothing is answered.
    case invocation(SignalRInvocation)
    /// Type 2: one item of a stream (server → client results, or client → server uploads).
    case streamItem(SignalRStreamItem)
    /// Type 3: the end of an invocation or of a stream, with its result, its error or neither.
    case completion(SignalRCompletion)
    /// Type 4: call a method whose results come back as stream items.
    case streamInvocation(SignalRStreamInvocation)
    /// Type 5: stop an invocation or a stream.
    case cancelInvocation(SignalRCancelInvocation)
    /// Type 6: keep-alive; carries nothing, not even headers.
    case ping
    /// Type 7: the connection closes, with the reason when it is an error.
    case close(SignalRClose)
    /// Type 8: stateful reconnect; trackable messages up to `sequenceID` were received.
    case ack(sequenceID: Int64)
    /// Type 9: stateful reconnect; the sender's next trackable message has id `sequenceID`.
    case sequence(sequenceID: Int64)
    /// A type this version does not know: "Future protocol changes can add message types, old clients
    /// can ignore them" (ASP.NET Core's readers); the caller skips it.
    case unknown(type: Int64)

    /// The message's type number.
    package var type: Int64 {
        switch self {
        case .invocation: 1
        case .streamItem: 2
        case .completion: 3
        case .streamInvocation: 4
        case .cancelInvocation: 5
        case .ping: 6
        case .close: 7
        case .ack: 8
        case .sequence: 9
        case .unknown(let type): type
        }
    }

    /// Whether stateful reconnect numbers and replays it (§Stateful Reconnect, "Trackable messages"):
    /// invocations, stream invocations, stream items, completions and cancellations.
    package var isTrackable: Bool {
        switch self {
        case .invocation, .streamItem, .completion, .streamInvocation, .cancelInvocation: true
        case .ping, .close, .ack, .sequence, .unknown: false
        }
    }
}

/// One message header (§Message Headers: string keys and string values, which neither side needs to
/// understand). Kept in wire order.
package struct SignalRHeader: Sendable, Hashable {
    package var name: String
    package var value: String

    package init(name: String, value: String) {
        self.name = name
        self.value = value
    }
}

/// Type 1, Invocation.
package struct SignalRInvocation: Sendable, Equatable {
    package var headers: [SignalRHeader]
    /// nil for a non-blocking invocation, which must not be answered (an empty id counts as none, as
    /// ASP.NET Core normalizes it).
    package var invocationID: String?
    /// The method, case-sensitive.
    package var target: String
    package var arguments: [SignalRPayload]
    /// The client → server streams whose items feed this invocation (§Upload streaming); empty when none.
    package var streamIDs: [String]

    package init(
        headers: [SignalRHeader] = [], invocationID: String?, target: String, arguments: [SignalRPayload],
        streamIDs: [String] = []
    ) {
        self.headers = headers
        self.invocationID = invocationID
        self.target = target
        self.arguments = arguments
        self.streamIDs = streamIDs
    }
}

/// Type 4, StreamInvocation: as an invocation, but the id is required.
package struct SignalRStreamInvocation: Sendable, Equatable {
    package var headers: [SignalRHeader]
    package var invocationID: String
    package var target: String
    package var arguments: [SignalRPayload]
    package var streamIDs: [String]

    package init(
        headers: [SignalRHeader] = [], invocationID: String, target: String, arguments: [SignalRPayload],
        streamIDs: [String] = []
    ) {
        self.headers = headers
        self.invocationID = invocationID
        self.target = target
        self.arguments = arguments
        self.streamIDs = streamIDs
    }
}

/// Type 2, StreamItem.
package struct SignalRStreamItem: Sendable, Equatable {
    package var headers: [SignalRHeader]
    /// The stream invocation it answers, or the upload stream it belongs to.
    package var invocationID: String
    package var item: SignalRPayload

    package init(headers: [SignalRHeader] = [], invocationID: String, item: SignalRPayload) {
        self.headers = headers
        self.invocationID = invocationID
        self.item = item
    }
}

/// Type 3, Completion.
package struct SignalRCompletion: Sendable, Equatable {
    /// How the invocation ended: MessagePack's result kinds 1 (error), 2 (void) and 3 (non-void); in
    /// JSON an `error`, no member, or a `result` (both at once is a protocol error).
    package enum Outcome: Sendable, Equatable {
        case error(String)
        case void
        case result(SignalRPayload)
    }

    package var headers: [SignalRHeader]
    package var invocationID: String
    package var outcome: Outcome

    package init(headers: [SignalRHeader] = [], invocationID: String, outcome: Outcome) {
        self.headers = headers
        self.invocationID = invocationID
        self.outcome = outcome
    }
}

/// Type 5, CancelInvocation.
package struct SignalRCancelInvocation: Sendable, Equatable {
    package var headers: [SignalRHeader]
    package var invocationID: String

    package init(headers: [SignalRHeader] = [], invocationID: String) {
        self.headers = headers
        self.invocationID = invocationID
    }
}

/// Type 7, Close.
package struct SignalRClose: Sendable, Equatable {
    /// Why, when the connection closes because of an error.
    package var error: String?
    /// Whether a client with automatic reconnects should reconnect.
    package var allowReconnect: Bool

    package init(error: String? = nil, allowReconnect: Bool = false) {
        self.error = error
        self.allowReconnect = allowReconnect
    }
}
