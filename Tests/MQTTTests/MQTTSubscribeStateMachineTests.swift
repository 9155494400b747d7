import MQTTWire
import NIOCore
import Testing

/// Event → action sequences of the subscribe sub-machine: SUBSCRIBE's per-filter reason codes, shared
/// subscriptions, subscription identifiers, the granted QoS, Retain Handling, replacement, and UNSUBSCRIBE.
@Suite struct MQTTSubscribeStateMachineTests {
    var machine = MQTTSubscribeStateMachine(maxSubscriptions: 3)
    var session = MQTTSessionState(maxQueued: 10)

    typealias Action = MQTTSubscribeStateMachine.Action
    typealias Retained = MQTTSubscribeStateMachine.RetainedRequest

    func subscription(
        _ filter: String, _ qos: MQTTQoS = .atLeastOnce, noLocal: Bool = false, retainHandling: UInt8 = 0
    ) -> MQTTSubscription {
        MQTTSubscription(filter: filter, maxQoS: qos, noLocal: noLocal, retainHandling: retainHandling)
    }

    mutating func subscribe(
        _ requests: [MQTTSubscription], verdicts: [MQTTSubscribeStateMachine.FilterVerdict]? = nil,
        identifier: Int? = nil, packetID: UInt16 = 1
    ) -> [Action] {
        var properties = MQTTProperties()
        if let identifier { properties.subscriptionIdentifiers = [identifier] }
        let packet = MQTTSubscribePacket(packetID: packetID, subscriptions: requests, properties: properties)
        return machine.subscribeReceived(
            packet, verdicts: verdicts ?? requests.map { _ in .permitted }, session: &session)
    }

    func subAck(_ codes: [MQTTReasonCode], retained: [Retained] = [], packetID: UInt16 = 1) -> Action {
        .sendSubAck(MQTTSubAckPacket(.subAck, packetID: packetID, reasonCodes: codes), retained: retained)
    }

    func record(_ request: MQTTSubscription, identifier: Int? = nil) -> MQTTSessionState.Subscription {
        MQTTSessionState.Subscription(options: request, identifier: identifier)
    }

    @Test mutating func grantedQoSIsTheRequestedOneAndTheSubAckKeepsThePacketIdentifier() {
        // [MQTT-3.8.4-1] SUBACK carries the packet identifier; [MQTT-3.8.4-7] QoS granted = requested.
        let requests = [
            subscription("a", .atMostOnce), subscription("b", .atLeastOnce), subscription("c", .exactlyOnce),
        ]
        let actions = subscribe(requests, packetID: 42)
        #expect(
            actions == requests.map { Action.subscribe(record($0)) }
                + [
                    subAck(
                        [.success, .grantedQoS1, .grantedQoS2],
                        retained: requests.map { Retained(filter: $0.filter, maxQoS: $0.maxQoS, identifier: nil) },
                        packetID: 42)
                ])
        #expect(Set(session.subscriptions.keys) == ["a", "b", "c"])
    }

    @Test mutating func anInvalidFilterFailsThatFilterOnly() {
        // [MQTT-3.8.4-6] one code per filter; §4.7: 0x8F (3.1.1 writes 0x80, [MQTT-3.9.3-2]).
        let requests = [subscription("a/#/b"), subscription("ok")]
        let actions = subscribe(requests, verdicts: [.invalid, .permitted])
        #expect(
            actions == [
                .subscribe(record(requests[1])),
                subAck(
                    [.topicFilterInvalid, .grantedQoS1],
                    retained: [Retained(filter: "ok", maxQoS: .atLeastOnce, identifier: nil)]),
            ])
        #expect(session.subscriptions["a/#/b"] == nil)
    }

    @Test mutating func aForbiddenFilterIsRefused0x87() {
        // docs/security.md: 5.0 SUBACK 0x87 (3.1.1: 0x80, [MQTT-3.9.3-2]); nothing is subscribed.
        let actions = subscribe([subscription("users/bob/#")], verdicts: [.forbidden])
        #expect(actions == [subAck([.notAuthorized])])
        #expect(session.subscriptions.isEmpty)
    }

    @Test mutating func theRefusalCodeIsConfigurable() {
        // mqtt.subscribe_refusal_reason: 0x80 for clients that accept no other failure (Paho's test client).
        machine = MQTTSubscribeStateMachine(maxSubscriptions: 3, refusal: .unspecifiedError)
        let actions = subscribe(
            [subscription("test/nosubscribe"), subscription("ok")], verdicts: [.forbidden, .permitted])
        guard case .sendSubAck(let packet, _)? = actions.last else {
            Issue.record("no SUBACK")
            return
        }
        #expect(packet.reasonCodes == [.unspecifiedError, MQTTReasonCode(1)])
    }

    @Test mutating func noLocalOnASharedSubscriptionIsAProtocolError() {
        // [MQTT-3.8.3-4]: the connection ends; filters before it were already handled, nothing after it is.
        let requests = [subscription("a"), subscription("$share/g/b", noLocal: true), subscription("c")]
        let actions = subscribe(requests)
        #expect(
            actions == [.subscribe(record(requests[0])), .fail(.protocolError("no local on a shared subscription"))])
        #expect(session.subscriptions["c"] == nil)
        // An invalid shared filter with No Local is only an invalid filter.
        #expect(
            subscribe([subscription("$share/g", noLocal: true)], verdicts: [.invalid])
                == [subAck([.topicFilterInvalid])])
    }

    @Test mutating func sharedSubscriptionsGetNoRetainedMessages() {
        // §4.8.2: retained messages are not sent for a shared subscription.
        let request = subscription("$share/g/t", retainHandling: 0)
        #expect(subscribe([request]) == [.subscribe(record(request)), subAck([.grantedQoS1])])
    }

    @Test mutating func theSubscriptionIdentifierGoesWithEverySubscriptionAndItsRetainedMessages() {
        // §3.8.2.1.2 the identifier belongs to every subscription the packet makes ([MQTT-3.3.4-3]).
        let requests = [subscription("a"), subscription("b")]
        let actions = subscribe(requests, identifier: 7)
        #expect(
            actions == requests.map { Action.subscribe(record($0, identifier: 7)) }
                + [
                    subAck(
                        [.grantedQoS1, .grantedQoS1],
                        retained: requests.map { Retained(filter: $0.filter, maxQoS: .atLeastOnce, identifier: 7) })
                ])
        #expect(session.subscriptions["a"]?.identifier == 7)
    }

    @Test mutating func retainHandling0SendsRetainedOnEverySubscribe() {
        // [MQTT-3.3.1-9]
        let request = subscription("t", retainHandling: 0)
        let retained = [Retained(filter: "t", maxQoS: .atLeastOnce, identifier: nil)]
        #expect(subscribe([request]) == [.subscribe(record(request)), subAck([.grantedQoS1], retained: retained)])
        #expect(subscribe([request]) == [.subscribe(record(request)), subAck([.grantedQoS1], retained: retained)])
    }

    @Test mutating func retainHandling1SendsRetainedOnlyForANewSubscription() {
        // [MQTT-3.3.1-10]
        let request = subscription("t", retainHandling: 1)
        let retained = [Retained(filter: "t", maxQoS: .atLeastOnce, identifier: nil)]
        #expect(subscribe([request]) == [.subscribe(record(request)), subAck([.grantedQoS1], retained: retained)])
        #expect(subscribe([request]) == [.subscribe(record(request)), subAck([.grantedQoS1])])
        // The same filter twice in one packet: the second is a replacement.
        var fresh = MQTTSubscribeStateMachineTests()
        #expect(
            fresh.subscribe([request, request])
                == [
                    .subscribe(record(request)), .subscribe(record(request)),
                    subAck([.grantedQoS1, .grantedQoS1], retained: retained),
                ])
    }

    @Test mutating func retainHandling2NeverSendsRetained() {
        // [MQTT-3.3.1-11]
        let request = subscription("t", retainHandling: 2)
        #expect(subscribe([request]) == [.subscribe(record(request)), subAck([.grantedQoS1])])
    }

    @Test mutating func aSubscriptionToTheSameFilterReplacesTheExistingOne() {
        // [MQTT-3.8.4-3] the new options replace the old; the session still has one subscription to it.
        _ = subscribe([subscription("t", .atMostOnce)])
        let replacement = subscription("t", .exactlyOnce, retainHandling: 2)
        #expect(subscribe([replacement]) == [.subscribe(record(replacement)), subAck([.grantedQoS2])])
        #expect(session.subscriptions.count == 1 && session.subscriptions["t"]?.options.maxQoS == .exactlyOnce)
    }

    @Test mutating func subscriptionsPastTheSessionLimitGet0x97ButReplacementsFit() {
        // `MQTTServerSettings.maxSubscriptions` (3 here).
        _ = subscribe(["a", "b", "c"].map { subscription($0, retainHandling: 2) })
        let actions = subscribe([subscription("d", retainHandling: 2), subscription("a", retainHandling: 2)])
        #expect(
            actions == [
                .subscribe(record(subscription("a", retainHandling: 2))), subAck([.quotaExceeded, .grantedQoS1]),
            ])
        #expect(session.subscriptions.count == 3)
    }

    @Test mutating func unsubscribeAnswersEachFilter() {
        // [MQTT-3.10.4-1] exactly this filter is deleted; [MQTT-3.11.3-1] 0x00, or 0x11 when none existed
        // (a filter named twice existed only the first time); [MQTT-3.10.4-4] same packet identifier.
        _ = subscribe([subscription("a"), subscription("b/+")])
        let actions = machine.unsubscribeReceived(
            MQTTUnsubscribePacket(packetID: 9, filters: ["a", "b/#", "a"]), session: &session)
        #expect(
            actions == [
                .unsubscribe("a"),
                .sendSubAck(
                    MQTTSubAckPacket(
                        .unsubAck, packetID: 9, reasonCodes: [.success, .noSubscriptionExisted, .noSubscriptionExisted]),
                    retained: []),
            ])
        #expect(Array(session.subscriptions.keys) == ["b/+"])
    }

    // MARK: - Through the connection machine

    @Test func theConnectionMachineEndsTheConnectionOnAViolation() {
        var connection = MQTTConnectionStateMachine(settings: MQTTServerSettings())
        _ = connection.connectReceived(MQTTConnectPacket(version: .v5, clientID: "c"), makeClientID: { "" })
        _ = connection.connAck(sessionPresent: false, maximumPacketSize: 1 << 20)
        var state = MQTTSessionState(maxQueued: 10)
        let packet = MQTTSubscribePacket(
            packetID: 1, subscriptions: [MQTTSubscription(filter: "$share/g/t", maxQoS: .atMostOnce, noLocal: true)])
        let actions = connection.subscribeReceived(packet, verdicts: [.permitted], session: &state)
        // [MQTT-3.8.3-4] → DISCONNECT 0x82.
        guard case .sendDisconnect(let disconnect) = actions.last, actions.count == 1 else {
            Issue.record("no DISCONNECT: \(actions)"); return
        }
        #expect(disconnect.reasonCode == .protocolError && connection.isClosed)
    }

    @Test func subscribeBeforeConnAckIsAProtocolError() {
        var connection = MQTTConnectionStateMachine(settings: MQTTServerSettings())
        var state = MQTTSessionState(maxQueued: 10)
        let packet = MQTTSubscribePacket(
            packetID: 1, subscriptions: [MQTTSubscription(filter: "t", maxQoS: .atMostOnce)])
        #expect(connection.subscribeReceived(packet, verdicts: [.permitted], session: &state) == [.close])
        #expect(state.subscriptions.isEmpty)
    }
}
