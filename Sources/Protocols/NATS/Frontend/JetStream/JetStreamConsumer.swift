import BusCore
import NIOConcurrencyHelpers

/// One consumer of one stream: its state behind its own lock (pull requests and acknowledgements come
/// from any connection's loop).
final class JetStreamConsumer: Sendable {
    let stream: String
    let name: String
    /// When it was made (ns): `created` in its info.
    let created: UInt64
    private let state: NIOLockedValueBox<JetStreamConsumerState>
    /// Pull requests waiting for messages now (`num_waiting`).
    private let waitingRequests = NIOLockedValueBox(0)
    /// A push consumer's deliver subject had a subscriber at its last push round (`push_bound`); set
    /// from the loop that pushes, since only that loop may look at its routes.
    private let boundToSubscriber = NIOLockedValueBox(false)

    init(stream: String, state: JetStreamConsumerState, created: UInt64) {
        self.stream = stream
        self.name = state.config.name
        self.created = created
        self.state = NIOLockedValueBox(state)
    }

    func withState<Result>(_ body: (inout JetStreamConsumerState) -> Result) -> Result {
        state.withLockedValue { body(&$0) }
    }

    var config: JetStreamConsumerConfig { state.withLockedValue { $0.config } }

    var waiting: Int { waitingRequests.withLockedValue { $0 } }

    func changeWaiting(by delta: Int) { waitingRequests.withLockedValue { $0 += delta } }

    var isPushBound: Bool {
        get { boundToSubscriber.withLockedValue { $0 } }
        set { boundToSubscriber.withLockedValue { $0 = newValue } }
    }
}
