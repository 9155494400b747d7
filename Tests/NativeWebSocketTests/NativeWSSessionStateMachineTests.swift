import BusCore
import NIOCore
import NativeWebSocketWire
import Testing

@Suite struct NativeWSSessionStateMachineTests {
    static func request(_ command: NativeWSCommand) -> NativeWSRequest {
        NativeWSRequest(id: nil, command: command)
    }

    @Test func anonymousClientsNeedNoConnect() {
        var machine = NativeWSSessionStateMachine(anonymousAllowed: true)
        guard case .handle = machine.requestReceived(Self.request(.presence(channel: "a"))) else {
            Issue.record("refused"); return
        }
    }

    @Test func closedServerRequiresConnectFirst() {
        var machine = NativeWSSessionStateMachine(anonymousAllowed: false)
        guard case .refuse(_, .unauthorized, _) = machine.requestReceived(Self.request(.presence(channel: "a"))) else {
            Issue.record("expected unauthorized"); return
        }
        guard case .handle = machine.requestReceived(Self.request(.ping)) else { Issue.record("ping refused"); return }
        guard
            case .handle = machine.requestReceived(
                Self.request(.connect(token: "bad", name: nil, user: nil, password: nil)))
        else {
            Issue.record("connect refused"); return
        }
        guard case .hold = machine.requestReceived(Self.request(.presence(channel: "a"))) else {
            Issue.record("requests during authentication must wait"); return
        }
        for _ in 1..<NativeWSSessionStateMachine.maxHeld {
            guard case .hold = machine.requestReceived(Self.request(.presence(channel: "a"))) else {
                Issue.record("fewer than maxHeld requests held"); return
            }
        }
        guard case .refuse(_, .badRequest, _) = machine.requestReceived(Self.request(.presence(channel: "a"))) else {
            Issue.record("more than maxHeld requests held"); return
        }
        machine.authenticated(false)
        guard case .refuse(_, .unauthorized, _) = machine.requestReceived(Self.request(.presence(channel: "a"))) else {
            Issue.record("expected unauthorized after a refused connect"); return
        }
        guard
            case .handle = machine.requestReceived(
                Self.request(.connect(token: "good", name: nil, user: nil, password: nil)))
        else {
            Issue.record("retry refused"); return
        }
        machine.authenticated(true)
        guard case .handle = machine.requestReceived(Self.request(.presence(channel: "a"))) else {
            Issue.record("refused after connect"); return
        }
        guard
            case .refuse(_, .badRequest, _) = machine.requestReceived(
                Self.request(.connect(token: "good", name: nil, user: nil, password: nil)))
        else {
            Issue.record("second connect accepted"); return
        }
    }

    @Test func requestsCarryTheirIdIntoRefusals() {
        var machine = NativeWSSessionStateMachine(anonymousAllowed: false)
        let id = ByteBuffer(string: "7")
        let action = machine.requestReceived(NativeWSRequest(id: id, command: .presence(channel: "a")))
        guard case .refuse(id: id, .unauthorized, _) = action else { Issue.record("\(action)"); return }
        let ping = NativeWSRequest(id: id, command: .ping)
        #expect(machine.requestReceived(ping) == .handle(ping))
    }

    @Test func closingHandshake() {
        var machine = NativeWSSessionStateMachine(anonymousAllowed: true)
        #expect(machine.closeReceived(code: 1000) == .sendCloseAndClose(code: 1000, reason: ""))
        #expect(machine.closeRequested(code: 1001, reason: "x") == .closeConnection)
        #expect(machine.requestReceived(Self.request(.ping)) == .none)  // closing drops requests
    }
}

/// Deadlines live in the machine: each tick brings the time, the machine answers with what to do.
@Suite struct NativeWSSessionTimerTests {
    let start = NIODeadline.uptimeNanoseconds(1_000_000_000)
    let timers = NativeWSSessionStateMachine.Timers(
        pingInterval: .seconds(25), pongTimeout: .seconds(10), connectTimeout: .seconds(5))

    @Test func pingsEveryIntervalAndClosesWhenThePongWindowPassesInSilence() {
        var machine = NativeWSSessionStateMachine(anonymousAllowed: true, timers: timers)
        machine.started(now: start)
        #expect(machine.tick(now: start + .seconds(24)) == .none)
        #expect(machine.tick(now: start + .seconds(25)) == .sendPing)
        machine.frameReceived()  // the pong
        #expect(machine.tick(now: start + .seconds(35)) == .none)
        #expect(machine.tick(now: start + .seconds(50)) == .sendPing)
        #expect(machine.tick(now: start + .seconds(60)) == .close(.keepAliveTimeout))
        #expect(machine.isClosing)
        #expect(machine.tick(now: start + .seconds(75)) == .none)  // no ping while closing
    }

    @Test func withoutAnonymousAccessAConnectMustSucceedInTime() {
        var waiting = NativeWSSessionStateMachine(anonymousAllowed: false, timers: timers)
        waiting.started(now: start)
        #expect(waiting.tick(now: start + .seconds(4)) == .none)
        #expect(waiting.tick(now: start + .seconds(5)) == .close(.connectTimeout))

        var connected = NativeWSSessionStateMachine(anonymousAllowed: false, timers: timers)
        connected.started(now: start)
        _ = connected.requestReceived(
            NativeWSSessionStateMachineTests.request(.connect(token: "t", name: nil, user: nil, password: nil)))
        connected.authenticated(true)
        #expect(connected.tick(now: start + .seconds(5)) == .none)
        #expect(!connected.isClosing)

        var upgraded = NativeWSSessionStateMachine(anonymousAllowed: false, timers: timers)
        upgraded.connectedByUpgrade()
        upgraded.started(now: start)
        #expect(upgraded.tick(now: start + .seconds(6)) == .none)
    }
}

/// The rules of `subscribe`, decided before the bus is touched (docs/protocols/websocket.md).
@Suite struct NativeWSSubscribeRuleTests {
    let machine = NativeWSSessionStateMachine(anonymousAllowed: true)

    func decide(
        _ channel: String, history: Int? = nil, recover: LogPosition? = nil,
        permissions: TopicPermissions = .unrestricted, subscribed: Bool = false, count: Int = 0
    ) -> NativeWSSessionStateMachine.Action {
        machine.subscribeReceived(
            id: nil, channel: channel, history: history, recover: recover, topicLimits: TopicLimits(),
            permissions: permissions, alreadySubscribed: subscribed, subscriptionCount: count, maxSubscriptions: 2)
    }

    func refusal(_ action: NativeWSSessionStateMachine.Action) -> NativeWSErrorCode? {
        if case .refuse(_, let code, _) = action { return code }
        return nil
    }

    @Test func aConcreteChannelWithHistoryOrRecovery() throws {
        let filter = try TopicFilter("chat/a")
        #expect(decide("chat/a") == .subscribe(id: nil, channel: "chat/a", filter, history: nil))
        #expect(decide("chat/a", history: 5) == .subscribe(id: nil, channel: "chat/a", filter, history: .last(5)))
        let position = LogPosition(offset: 3, epoch: "e")
        #expect(
            decide("chat/a", history: 5, recover: position)
                == .subscribe(id: nil, channel: "chat/a", filter, history: .recover(position, fallback: 5)))
        #expect(
            decide("chat/a", recover: position)
                == .subscribe(id: nil, channel: "chat/a", filter, history: .recover(position, fallback: 0)))
    }

    @Test func refusalsNameTheRule() throws {
        #expect(refusal(decide("chat/#/x")) == .badRequest)  // not a filter
        #expect(refusal(decide("chat/a", subscribed: true)) == .badRequest)  // already subscribed
        #expect(refusal(decide("chat/a", count: 2)) == .tooLarge)  // subscription limit
        let readOnly = TopicPermissions(publish: .all, subscribe: .only([try TopicFilter("news/#")]))
        #expect(refusal(decide("chat/a", permissions: readOnly)) == .permissionDenied)
        #expect(refusal(decide("chat/+", history: 1)) == .badRequest)  // history needs a concrete channel
        #expect(refusal(decide("$share/g/chat/a", recover: LogPosition(offset: 1, epoch: "e"))) == .badRequest)
        #expect(decide("chat/+") == .subscribe(id: nil, channel: "chat/+", try TopicFilter("chat/+"), history: nil))
    }
}
