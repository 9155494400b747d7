/// One held long-poll request: it is answered exactly once — with messages, with 204 at its timeout or
/// when the server closes it — or given up when the client leaves. Pure.
package struct SSEPollStateMachine {
    private enum State {
        case waiting
        case answered
    }

    /// What to do.
    package enum Action: Equatable {
        case none
        /// Answer 200 with what arrived, then let go of the bus.
        case answerWithMessages
        /// Answer 204 No Content with the unchanged cursor, then let go of the bus.
        case answerNoContent
        /// The client is gone: let go of the bus without answering.
        case abandon
    }

    private var state = State.waiting

    package init() {}

    package var isWaiting: Bool {
        if case .waiting = state { return true }
        return false
    }

    /// Admitted messages arrived (answered at the end of the delivery batch, so one answer carries every
    /// message of the batch).
    package mutating func messagesArrived() -> Action { answer(.answerWithMessages) }

    package mutating func timeoutFired() -> Action { answer(.answerNoContent) }

    /// Admin drop or shutdown.
    package mutating func closeRequested() -> Action { answer(.answerNoContent) }

    package mutating func clientLeft() -> Action { answer(.abandon) }

    private mutating func answer(_ action: Action) -> Action {
        guard case .waiting = state else { return .none }
        state = .answered
        return action
    }
}
